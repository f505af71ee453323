"""The analyst's pages drive the same services: actions answer with the pieces they changed, refusals say why."""

import pytest
import yaml
from django.urls import reverse

from audit.models import AuditEntry
from tests.api.conftest import make_alert
from triage.models import Alert, Case, ResponseAction, TuningRequest

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alert(rule, strategy):
    return make_alert(rule=rule, strategy=strategy, entity="default/web-1")


def test_every_workspace_page_answers_for_an_analyst(client, analyst, alert):
    client.force_login(analyst)
    case = Case.objects.create(title="c")
    for url in (
        reverse("triage:alert_list"),
        reverse("triage:alert_list") + "?group=entity",
        alert.get_absolute_url(),
        reverse("triage:case_list"),
        case.get_absolute_url(),
        reverse("triage:tuning_queue"),
        reverse("triage:audit"),
        reverse("detections:runs"),
    ):
        assert client.get(url).status_code == 200, url


def test_an_htmx_close_without_a_verdict_is_422_with_the_reason_and_changes_nothing(client, analyst, alert):
    client.force_login(analyst)
    url = reverse("triage:alert_transition", args=[alert.pk])
    refused = client.post(url, {"to": "closed"}, **HTMX)
    assert refused.status_code == 422 and "Closing needs a disposition" in refused.content.decode()
    alert.refresh_from_db()
    assert alert.status == "new"
    closed = client.post(url, {"to": "closed", "disposition": "false_positive", "reason": "a lab pod"}, **HTMX)
    html = closed.content.decode()
    assert closed.status_code == 200 and 'id="alert-header"' in html and 'hx-swap-oob="true"' in html
    assert "Closed as <strong>False positive</strong> by ana" in html


def test_a_comment_is_rendered_sanitized_on_the_timeline(client, analyst, alert):
    client.force_login(analyst)
    client.post(
        reverse("triage:alert_comment", args=[alert.pk]),
        {"body": "**seen** <script>alert(1)</script> [x](javascript:alert(2))"},
    )
    html = client.get(alert.get_absolute_url()).content.decode()
    assert "<strong>seen</strong>" in html and "<script>alert(1)" not in html and 'href="javascript:' not in html


def test_ticking_a_step_from_the_page_records_it_and_shows_progress(client, analyst, alert, strategy):
    client.force_login(analyst)
    step = strategy.response_steps.first()
    answer = client.post(
        reverse("triage:alert_playbook", args=[alert.pk]),
        {"kind": "response", "position": step.order, "done": "on", "note": "done on node-3"},
        **HTMX,
    )
    assert answer.status_code == 200 and "1 of" in answer.content.decode()
    assert AuditEntry.objects.filter(action="alert.playbook", object_id=str(alert.pk)).exists()


def test_bulk_acknowledge_and_file_into_a_new_case(client, analyst, rule, strategy):
    alerts = [make_alert(rule=rule, strategy=strategy, entity=f"default/web-{i}") for i in range(3)]
    client.force_login(analyst)
    ids = [a.pk for a in alerts]
    answer = client.post(reverse("triage:alert_bulk"), {"action": "acknowledge", "alert": ids}, **HTMX)
    assert answer.status_code == 200 and "3 alert(s) changed" in answer.content.decode()
    assert set(Alert.objects.values_list("status", flat=True)) == {"acknowledged"}
    client.post(
        reverse("triage:alert_bulk"),
        {"action": "case", "case": "new", "case_title": "web pods beaconing", "alert": ids[:2]},
    )
    case = Case.objects.get()
    assert case.title == "web pods beaconing" and case.alerts.count() == 2


def test_merging_cases_from_the_page_leads_to_the_survivor(client, analyst, rule):
    a1, a2 = make_alert(rule=rule, entity="x/a"), make_alert(rule=rule, entity="x/b")
    client.force_login(analyst)
    client.post(reverse("triage:alert_case", args=[a1.pk]), {"case": "new", "case_title": "one"})
    client.post(reverse("triage:alert_case", args=[a2.pk]), {"case": "new", "case_title": "two"})
    one, two = Case.objects.order_by("pk")
    answer = client.post(reverse("triage:case_action", args=[one.pk]), {"action": "merge", "target": two.pk})
    assert answer.status_code == 302 and answer["Location"] == two.get_absolute_url()
    assert set(two.alerts.values_list("pk", flat=True)) == {a1.pk, a2.pk}


def test_flag_for_tuning_reaches_the_engineers_queue(client, analyst, engineer, alert):
    client.force_login(analyst)
    client.post(reverse("triage:alert_flag_tuning", args=[alert.pk]), {"note": "matches the backup job"})
    request = TuningRequest.objects.get()
    client.force_login(engineer)
    assert "matches the backup job" in client.get(reverse("triage:tuning_queue")).content.decode()
    client.post(
        reverse("triage:tuning_resolve", args=[request.pk]), {"status": "done", "resolution": "filtered the backup SA"}
    )
    request.refresh_from_db()
    assert request.status == "done"


def test_isolating_a_pod_from_the_page_offers_the_manifest(client, analyst, alert):
    client.force_login(analyst)
    answer = client.post(reverse("triage:alert_isolate", args=[alert.pk]), **HTMX)
    assert answer.status_code == 200, answer.content.decode()[:300]
    action = ResponseAction.objects.get()
    assert action.result == "manifest" and "NetworkPolicy" in action.output
    assert "NetworkPolicy" in answer.content.decode()


def test_the_isolation_manifest_downloads_as_a_yaml_network_policy(client, analyst, alert, django_user_model):
    client.force_login(analyst)
    client.post(reverse("triage:alert_isolate", args=[alert.pk]), **HTMX)
    action = ResponseAction.objects.get()
    url = reverse("triage:action_manifest", args=[alert.pk, action.pk])
    assert f'href="{url}" download' in client.get(alert.get_absolute_url()).content.decode()
    answer = client.get(url)
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/yaml")
    policy = yaml.safe_load(answer.content)
    assert (policy["kind"], policy["metadata"]["namespace"]) == ("NetworkPolicy", "default")
    assert answer["Content-Disposition"] == f'attachment; filename="{policy["metadata"]["name"]}.yaml"'
    assert client.get(reverse("triage:action_manifest", args=[alert.pk + 1, action.pk])).status_code == 404
    client.force_login(django_user_model.objects.create_user("visitor", password="x-12345678"))
    assert client.get(url).status_code == 403


def test_a_user_without_a_triage_role_cannot_act(client, django_user_model, alert):
    outsider = django_user_model.objects.create_user("visitor", password="x-12345678")
    client.force_login(outsider)
    answer = client.post(reverse("triage:alert_transition", args=[alert.pk]), {"to": "acknowledged"})
    assert answer.status_code == 403
    alert.refresh_from_db()
    assert alert.status == "new"


def test_refusals_answer_422_with_only_out_of_band_pieces_for_their_hx_swap_none_forms(client, analyst, alert):
    """htmx swaps 422 (base.html's responseHandling); forms with hx-swap="none" take only out-of-band pieces."""
    client.force_login(analyst)
    refused = client.post(reverse("triage:alert_assign", args=[alert.pk]), {"assignee": "nobody-here"}, **HTMX)
    html = refused.content.decode().strip()
    assert refused.status_code == 422
    assert html.startswith('<div id="alert-errors"') and 'hx-swap-oob="true"' in html and "No user" in html
    assert 'id="alert-header"' not in html  # nothing changed, so nothing else is swapped
    bulk = client.post(reverse("triage:alert_bulk"), {"action": "close", "alert": [alert.pk]}, **HTMX)
    assert bulk.status_code == 422
    assert bulk.content.decode().startswith('<span id="bulk-result" role="status" hx-swap-oob="true" class="error">')
