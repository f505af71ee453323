"""The analyst's workflow on an alert: lifecycle, assignment, comments, playbook, tuning — each audited."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from tests.api.conftest import make_alert
from triage.models import Alert, Comment, PlaybookCheck, TuningRequest
from triage.services import (
    add_comment,
    assign_alert,
    bulk_apply,
    check_playbook_step,
    flag_rule_for_tuning,
    playbook_for,
    resolve_tuning_request,
    transition_alert,
)

pytestmark = pytest.mark.django_db


def trail(alert):
    return list(
        AuditEntry.objects.filter(object_type="alert", object_id=str(alert.pk))
        .order_by("created_at", "id")
        .values_list("action", "actor_name", "changes")
    )


def test_an_alert_moves_new_acknowledged_in_progress_closed_and_each_move_is_audited(rule, strategy, analyst):
    alert = make_alert(rule=rule, strategy=strategy)
    transition_alert(alert=alert, to=Alert.Status.ACKNOWLEDGED, user=analyst)
    assert alert.acknowledged_at is not None
    transition_alert(alert=alert, to=Alert.Status.IN_PROGRESS, user=analyst)
    transition_alert(
        alert=alert, to="closed", user=analyst, disposition="true_positive", reason="netcat shell confirmed"
    )

    alert.refresh_from_db()
    assert (alert.status, alert.disposition, alert.close_reason) == (
        "closed",
        "true_positive",
        "netcat shell confirmed",
    )
    assert alert.closed_by == analyst and alert.closed_at is not None
    assert trail(alert) == [
        ("alert.transition", "ana", {"status": ["new", "acknowledged"]}),
        ("alert.transition", "ana", {"status": ["acknowledged", "in_progress"]}),
        (
            "alert.close",
            "ana",
            {
                "status": ["in_progress", "closed"],
                "disposition": ["", "true_positive"],
                "close_reason": ["", "netcat shell confirmed"],
            },
        ),
    ]


def test_closing_needs_a_disposition_and_a_reason_and_changes_nothing_without_them(rule, analyst):
    alert = make_alert(rule=rule)
    with pytest.raises(ValidationError) as refused:
        transition_alert(alert=alert, to="closed", user=analyst, disposition="", reason=" ")
    assert set(refused.value.message_dict) == {"disposition", "reason"}
    alert.refresh_from_db()
    assert alert.status == "new" and not AuditEntry.objects.exists()


def test_a_closed_alert_only_reopens_and_reopening_clears_the_verdict_but_keeps_first_acknowledgement(rule, analyst):
    alert = make_alert(rule=rule)
    transition_alert(alert=alert, to="closed", user=analyst, disposition="false_positive", reason="CI job")
    acknowledged = alert.acknowledged_at
    with pytest.raises(ValidationError, match="can move to: In progress"):
        transition_alert(alert=alert, to="acknowledged", user=analyst)
    transition_alert(alert=alert, to="in_progress", user=analyst)
    alert.refresh_from_db()
    assert (alert.status, alert.disposition, alert.closed_at, alert.closed_by) == ("in_progress", "", None, None)
    assert alert.acknowledged_at == acknowledged
    assert trail(alert)[-1][0] == "alert.reopen"


def test_only_users_with_a_triage_role_move_or_are_given_alerts(rule, analyst, django_user_model):
    outsider = django_user_model.objects.create_user("visitor", password="x-12345678")
    alert = make_alert(rule=rule)
    with pytest.raises(PermissionDenied):
        transition_alert(alert=alert, to="acknowledged", user=outsider)
    with pytest.raises(ValidationError, match="cannot work alerts"):
        assign_alert(alert=alert, assignee=outsider, user=analyst)


def test_assigning_records_who_had_it_before_and_after(rule, analyst, engineer):
    alert = make_alert(rule=rule)
    assign_alert(alert=alert, assignee=analyst, user=analyst)
    assign_alert(alert=alert, assignee=engineer, user=analyst)
    assign_alert(alert=alert, assignee=engineer, user=analyst)  # no change, no entry
    assign_alert(alert=alert, assignee=None, user=engineer)
    assert [c for _, _, c in trail(alert)] == [
        {"assignee": [None, "ana"]},
        {"assignee": ["ana", "eng"]},
        {"assignee": ["eng", None]},
    ]


def test_a_comment_is_stored_as_written_and_audited_and_an_empty_one_is_refused(rule, analyst):
    alert = make_alert(rule=rule)
    comment = add_comment(subject=alert, body="Checked **kubectl** history <script>x</script>", user=analyst)
    assert Comment.objects.get().body == comment.body == "Checked **kubectl** history <script>x</script>"
    assert trail(alert)[0][0] == "alert.comment"
    with pytest.raises(ValidationError):
        add_comment(subject=alert, body="   ", user=analyst)


def test_the_playbook_is_the_strategys_response_and_false_positives_and_ticks_are_kept_per_alert(
    rule, strategy, analyst
):
    alert = make_alert(rule=rule, strategy=strategy)
    other = make_alert(rule=rule, strategy=strategy, entity="default/web-2")
    playbook = playbook_for(alert)
    steps = list(strategy.response_steps.all())
    fps = list(strategy.false_positives.all())
    assert [i.text for i in playbook.response] == [s.text for s in steps] and steps
    assert [i.text for i in playbook.false_positives] == [f.text for f in fps] and fps

    check_playbook_step(
        subject=alert, kind="response", position=steps[0].order, done=True, user=analyst, note="pod isolated"
    )
    check_playbook_step(subject=alert, kind="false_positive", position=fps[0].order, done=True, user=analyst)

    playbook = playbook_for(alert)
    assert playbook.done_count == 2
    assert playbook.response[0].check.checked_by == analyst and playbook.response[0].check.note == "pod isolated"
    assert playbook.percent == round(100 * 2 / (len(steps) + len(fps)))
    assert playbook_for(other).done_count == 0

    check_playbook_step(subject=alert, kind="response", position=steps[0].order, done=False, user=analyst)
    assert playbook_for(alert).done_count == 1
    assert [c for a, _, c in trail(alert) if a == "alert.playbook"][-1] == {f"response {steps[0].order}": [True, False]}


def test_a_ticked_step_survives_a_reimport_that_replaces_the_strategys_steps(rule, strategy, analyst):
    alert = make_alert(rule=rule, strategy=strategy)
    step = strategy.response_steps.first()
    check_playbook_step(subject=alert, kind="response", position=step.order, done=True, user=analyst)
    strategy.response_steps.all().delete()
    playbook = playbook_for(alert)
    assert [(i.text, i.done) for i in playbook.response] == [(step.text, True)]


def test_a_step_the_playbook_does_not_have_is_refused(rule, strategy, analyst):
    alert = make_alert(rule=rule, strategy=strategy)
    with pytest.raises(ValidationError, match="no response step 999"):
        check_playbook_step(subject=alert, kind="response", position=999, done=True, user=analyst)
    assert not PlaybookCheck.objects.exists()


def test_flagging_for_tuning_queues_the_rule_with_the_alert_and_engineers_resolve_it(rule, analyst, engineer):
    alert = make_alert(rule=rule)
    request = flag_rule_for_tuning(alert=alert, note="matches our nightly backup job", user=analyst)
    assert (request.rule, request.alert, request.status) == (rule, alert, TuningRequest.Status.OPEN)
    with pytest.raises(PermissionDenied):
        resolve_tuning_request(request=request, status="done", resolution="filtered", user=analyst)
    resolved = resolve_tuning_request(
        request=request, status="done", resolution="filter on the backup SA", user=engineer
    )
    assert (resolved.status, resolved.resolved_by) == ("done", engineer)


def test_bulk_close_closes_what_it_can_and_names_the_alerts_it_could_not(rule, analyst):
    open_one = make_alert(rule=rule)
    closed = make_alert(rule=rule, entity="default/web-2")
    transition_alert(alert=closed, to="closed", user=analyst, disposition="false_positive", reason="x")
    outcome = bulk_apply(
        alerts=[open_one], action="close", user=analyst, disposition="false_positive", reason="test pods"
    )
    assert outcome.changed == [open_one.pk]
    outcome = bulk_apply(alerts=[open_one, closed], action="acknowledge", user=analyst)
    assert outcome.changed == [] and set(outcome.refused) == {open_one.pk, closed.pk}
    with pytest.raises(ValidationError):
        bulk_apply(alerts=[open_one], action="close", user=analyst, disposition="", reason="")
