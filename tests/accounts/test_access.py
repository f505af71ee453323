"""Every page needs a login; roles carry the permissions the pages and the admin enforce."""

import pytest
from django.urls import reverse

PAGES = [
    "detections:strategy_list",
    "detections:coverage",
    "detections:rule_list",
    "triage:alert_list",
    "telemetry:source_list",
]


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_pages_redirect_anonymous_users_to_login(client, page):
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_pages_render_for_an_analyst(client, analyst, page):
    client.force_login(analyst)
    assert client.get(reverse(page)).status_code == 200


def test_analyst_may_view_but_not_change_strategies(analyst):
    assert analyst.has_perm("detections.view_strategy")
    assert not analyst.has_perm("detections.change_strategy")
    assert not analyst.has_perm("detections.add_detectionrule")
    assert analyst.has_perm("triage.change_alert")


def test_engineer_may_change_strategies_and_rules(engineer):
    assert engineer.has_perm("detections.change_strategy")
    assert engineer.has_perm("detections.add_detectionrule")
    assert engineer.has_perm("triage.add_suppression")


@pytest.mark.django_db
def test_healthz_needs_no_login(client):
    assert client.get("/healthz").json() == {"status": "ok"}


# --------------------------------------------------------------------------- evidence in the admin
# Matches, runs and batch acknowledgements are the record of what detection saw: nobody deletes
# them in the admin, and a rule that has matches is retired (disabled), not deleted with them.


@pytest.fixture
def evidence(db):
    from detections.models import BatchDetection, DetectionRun
    from telemetry.models import IngestBatch
    from tests.detections.pipeline_factories import EXEC_INTO_POD, k8s_source, load_rule, make_match

    rule = load_rule(EXEC_INTO_POD)
    run = DetectionRun.objects.create(kind=DetectionRun.Kind.STREAM)
    match = make_match(rule=rule)
    match.run = run
    match.save()
    batch = IngestBatch.objects.create(source=k8s_source(), channel="cli", accepted=1)
    return {
        "rulematch": match,
        "detectionrun": run,
        "batchdetection": BatchDetection.objects.create(batch=batch, run=run),
    }


def _evidence_counts():
    from detections.models import BatchDetection, DetectionRule, DetectionRun, RuleMatch

    return [m.objects.count() for m in (DetectionRule, RuleMatch, DetectionRun, BatchDetection)]


@pytest.mark.parametrize("who", ["engineer", "admin_user"])
@pytest.mark.parametrize("model", ["rulematch", "detectionrun", "batchdetection"])
def test_nobody_deletes_evidence_in_the_admin(request, client, evidence, who, model):
    client.force_login(request.getfixturevalue(who))
    obj = evidence[model]
    before = _evidence_counts()
    change = client.get(reverse(f"admin:detections_{model}_change", args=[obj.pk]))
    assert change.status_code == 200
    assert reverse(f"admin:detections_{model}_delete", args=[obj.pk]) not in change.content.decode()
    assert client.get(reverse(f"admin:detections_{model}_delete", args=[obj.pk])).status_code == 403
    assert client.post(reverse(f"admin:detections_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    changelist = reverse(f"admin:detections_{model}_changelist")
    assert "delete_selected" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert _evidence_counts() == before


@pytest.mark.parametrize("who", ["engineer", "admin_user"])
def test_a_rule_with_matches_is_not_deleted_in_the_admin(request, client, evidence, who):
    """Deleting a rule would cascade to its matches and alerts: the admin says to disable it instead."""
    client.force_login(request.getfixturevalue(who))
    rule = evidence["rulematch"].rule
    before = _evidence_counts()
    url = reverse("admin:detections_detectionrule_delete", args=[rule.pk])
    response = client.post(url, {"post": "yes"}, follow=True)
    assert "has 1 match" in response.content.decode()
    assert "disable" in response.content.decode()
    changelist = reverse("admin:detections_detectionrule_changelist")
    response = client.post(changelist, {"action": "delete_selected", "_selected_action": [rule.pk], "post": "yes"})
    assert _evidence_counts() == before


def test_a_rule_without_matches_can_still_be_deleted_in_the_admin(client, engineer):
    from detections.models import DetectionRule
    from tests.detections.pipeline_factories import EXEC_INTO_POD, load_rule

    rule = load_rule(EXEC_INTO_POD)
    client.force_login(engineer)
    response = client.post(reverse("admin:detections_detectionrule_delete", args=[rule.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not DetectionRule.objects.exists()


def test_the_admin_holds_suppressions_to_the_same_policy(client, engineer):
    from triage.models import Suppression

    client.force_login(engineer)
    body = {"name": "noise", "conditions": '{"container_id": "*"}', "reason": "too many", "enabled": "on"}
    response = client.post(reverse("admin:triage_suppression_add"), body)
    assert response.status_code == 200  # the form again, with the reason
    assert "would blind detection" in response.content.decode()
    assert not Suppression.objects.exists()
    body["conditions"] = '{"container_id": "48dc4021807d"}'
    assert client.post(reverse("admin:triage_suppression_add"), body).status_code == 302
    assert (Suppression.objects.get().owner, Suppression.objects.get().updated_by) == (engineer, engineer)
