"""The admin changes an alert through the same services as the pages: the lifecycle holds, every change is audited.

Before, the admin saved status, disposition and assignee as typed: a New alert could jump to
In progress, close with no verdict, or be handed to a user with no triage role, and no audit
entry said who did it.
"""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from tests.api.conftest import make_alert
from triage.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(rule, strategy):
    return make_alert(rule=rule, strategy=strategy, entity="default/web-1")


def change(client, alert, **values):
    form = {"status": alert.status, "disposition": "", "close_reason": "", "assignee": "", "_save": "Save"}
    form.update(values)
    return client.post(reverse("admin:triage_alert_change", args=[alert.pk]), form)


def test_closing_in_the_admin_goes_through_the_workflow_and_is_audited(client, admin_user, alert):
    client.force_login(admin_user)
    answer = change(client, alert, status="closed", disposition="false_positive", close_reason="lab pod")
    assert answer.status_code == 302, answer.content.decode()[:2000]
    alert.refresh_from_db()
    assert (alert.status, alert.disposition, alert.close_reason) == ("closed", "false_positive", "lab pod")
    assert alert.closed_by == admin_user and alert.closed_at is not None
    assert alert.acknowledged_at is not None  # set by transition_alert, as from the page
    entry = AuditEntry.objects.get(action="alert.close", object_id=str(alert.pk))
    assert entry.actor == admin_user and entry.changes["status"] == ["new", "closed"]


def test_closing_without_a_verdict_is_a_form_error_and_changes_nothing(client, admin_user, alert):
    client.force_login(admin_user)
    answer = change(client, alert, status="closed")
    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors
    assert "Closing needs a disposition" in " ".join(errors["disposition"])
    assert "Closing needs a reason" in " ".join(errors["close_reason"])
    alert.refresh_from_db()
    assert alert.status == "new" and not AuditEntry.objects.exists()


def test_a_step_the_lifecycle_does_not_allow_is_refused(client, admin_user, alert):
    client.force_login(admin_user)
    answer = change(client, alert, status="in_progress")  # New must be acknowledged first
    assert answer.status_code == 200
    assert "status" in answer.context["adminform"].form.errors
    alert.refresh_from_db()
    assert alert.status == "new"


def test_a_verdict_without_closing_is_refused(client, admin_user, alert):
    client.force_login(admin_user)
    answer = change(client, alert, status="acknowledged", disposition="true_positive")
    assert answer.status_code == 200
    assert "set the status to Closed" in " ".join(answer.context["adminform"].form.errors["disposition"])
    alert.refresh_from_db()
    assert (alert.status, alert.disposition) == ("new", "")


def test_assigning_in_the_admin_is_audited_and_only_to_triage_users(
    client, admin_user, analyst, django_user_model, alert
):
    outsider = django_user_model.objects.create_user("visitor", password="x-12345678")
    client.force_login(admin_user)
    refused = change(client, alert, assignee=outsider.pk)
    assert refused.status_code == 200 and "assignee" in refused.context["adminform"].form.errors
    assert change(client, alert, assignee=analyst.pk).status_code == 302
    alert.refresh_from_db()
    assert alert.assignee == analyst
    assert AuditEntry.objects.get(action="alert.assign").changes == {"assignee": [None, "ana"]}


def test_a_closed_alert_shows_its_verdict_closer_and_time_read_only_and_can_be_reopened(
    client, admin_user, analyst, alert
):
    from triage.services import transition_alert

    transition_alert(alert=alert, to="closed", user=analyst, disposition="benign_true_positive", reason="backup job")
    client.force_login(admin_user)
    page = client.get(reverse("admin:triage_alert_change", args=[alert.pk]))
    form = page.context["adminform"].form
    assert "disposition" not in form.fields and "close_reason" not in form.fields
    html = page.content.decode()
    assert "Benign true positive" in html and "backup job" in html and "ana" in html
    assert [value for value, _ in form.fields["status"].choices] == ["in_progress", "closed"]
    # Posting a verdict anyway does not change it: the fields are not part of the form.
    answer = change(client, alert, status="in_progress", disposition="true_positive", close_reason="edited")
    assert answer.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.disposition, alert.close_reason, alert.closed_by) == ("in_progress", "", "", None)
    assert AuditEntry.objects.filter(action="alert.reopen", actor=admin_user).exists()


def test_alerts_cannot_be_added_in_the_admin(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:triage_alert_add")).status_code == 403
    assert Alert.objects.count() == 0
