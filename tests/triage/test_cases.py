"""Cases group alerts: open with alerts, move an alert between cases, merge without duplicates, close with a verdict."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from tests.api.conftest import make_alert
from triage.models import Alert, AlertEvidence, Case, PlaybookCheck
from triage.services import (
    add_alerts_to_case,
    check_playbook_step,
    merge_cases,
    open_case,
    transition_case,
)

pytestmark = pytest.mark.django_db


def test_a_case_opens_with_alerts_owned_by_its_creator_at_their_highest_severity(rule, analyst):
    low = make_alert(rule=rule, severity="low")
    high = make_alert(rule=rule, entity="default/web-2", severity="high")
    case = open_case(title="C2 from web pods", user=analyst, alerts=[low, high])
    assert (case.owner, case.severity, case.status) == (analyst, "high", "open")
    assert set(case.alerts.values_list("pk", flat=True)) == {low.pk, high.pk}
    assert AuditEntry.objects.filter(object_type="case", object_id=str(case.pk), action="case.open").exists()


def test_adding_an_alert_from_another_case_moves_it_and_both_trails_say_so(rule, analyst):
    alert = make_alert(rule=rule)
    first = open_case(title="first", user=analyst, alerts=[alert])
    second = open_case(title="second", user=analyst)
    assert add_alerts_to_case(case=second, alerts=[alert], user=analyst) == [alert.pk]
    alert.refresh_from_db()
    assert alert.case == second
    assert AuditEntry.objects.filter(object_id=str(first.pk), object_type="case", action="case.remove_alert").exists()
    moves = AuditEntry.objects.filter(object_type="alert", object_id=str(alert.pk), action="alert.case")
    assert [m.changes["case"] for m in moves.order_by("id")] == [
        [None, first.reference],
        [first.reference, second.reference],
    ]


def test_merging_moves_alerts_and_playbook_work_once_and_closes_the_absorbed_case(rule, strategy, analyst):
    a1 = make_alert(rule=rule, strategy=strategy, matches=2)
    a2 = make_alert(rule=rule, strategy=strategy, entity="default/web-2", matches=3)
    source = open_case(title="source", user=analyst, alerts=[a1])
    target = open_case(title="target", user=analyst, alerts=[a2])
    steps = list(strategy.response_steps.all()[:2])
    check_playbook_step(subject=source, kind="response", position=steps[0].order, done=True, user=analyst)
    check_playbook_step(subject=source, kind="response", position=steps[1].order, done=True, user=analyst)
    check_playbook_step(subject=target, kind="response", position=steps[1].order, done=True, user=analyst)
    evidence_before = AlertEvidence.objects.count()

    merge_cases(source=source, target=target, user=analyst)

    source.refresh_from_db()
    assert (source.status, source.merged_into) == ("closed", target)
    assert set(target.alerts.values_list("pk", flat=True)) == {a1.pk, a2.pk}
    assert AlertEvidence.objects.count() == evidence_before == 5
    assert sorted(PlaybookCheck.objects.filter(case=target).values_list("position", flat=True)) == sorted(
        s.order for s in steps
    )
    with pytest.raises(ValidationError, match="already merged"):
        merge_cases(source=source, target=target, user=analyst)


def test_closing_a_case_needs_a_verdict_and_closes_its_open_alerts_with_it(rule, analyst):
    a1 = make_alert(rule=rule)
    a2 = make_alert(rule=rule, entity="default/web-2")
    case = open_case(title="incident", user=analyst, alerts=[a1, a2])
    with pytest.raises(ValidationError):
        transition_case(case=case, to="closed", user=analyst)
    transition_case(case=case, to="closed", user=analyst, disposition="true_positive", reason="contained")
    statuses = set(Alert.objects.filter(case=case).values_list("status", "disposition"))
    assert statuses == {("closed", "true_positive")}
    with pytest.raises(ValidationError, match="closed"):
        add_alerts_to_case(case=Case.objects.get(pk=case.pk), alerts=[make_alert(rule=rule, entity="x")], user=analyst)
