"""Matches become alerts: grouping by rule + entity within a window, suppressions first, idempotence."""

from datetime import timedelta

import pytest
from django.utils import timezone

from detections.models import DetectionRun, Strategy
from detections.services.rules import save_sigma_rule
from tests.detections.pipeline_factories import DEPLOYMENT_DELETED, EXEC_INTO_POD, T0, load_rule, make_match, minutes
from triage.models import Alert, AlertEvidence, SuppressionHit
from triage.services import (
    create_suppression,
    raise_alerts,
    raise_alerts_for_run,
    raise_pending_alerts,
    suppression_preview,
)
from triage.tasks import raise_pending_alerts as raise_pending_alerts_task


@pytest.fixture
def rule(db):
    return load_rule(EXEC_INTO_POD)  # level medium


def test_matches_on_one_entity_within_the_window_group_into_one_alert(rule):
    matches = [make_match(rule=rule, time=T0 + minutes(m)) for m in (0, 20, 50)]
    outcome = raise_alerts(matches=matches)
    assert (outcome.created, outcome.updated, outcome.suppressed) == (1, 0, 0)
    alert = Alert.objects.get()
    assert (alert.count, alert.first_seen, alert.last_seen) == (3, T0, T0 + minutes(50))
    assert (alert.entity_type, alert.entity) == ("pod", "default/web-1")
    assert alert.evidence.count() == 3


def test_a_match_after_the_window_opens_a_new_alert(rule):
    raise_alerts(matches=[make_match(rule=rule, time=T0)])
    outcome = raise_alerts(matches=[make_match(rule=rule, time=T0 + minutes(30))])
    assert (outcome.created, outcome.updated) == (0, 1)  # within the hour: extends
    outcome = raise_alerts(matches=[make_match(rule=rule, time=T0 + minutes(30) + timedelta(seconds=3601))])
    assert (outcome.created, outcome.updated) == (1, 0)
    assert list(Alert.objects.order_by("first_seen").values_list("count", flat=True)) == [2, 1]
    keys = set(Alert.objects.values_list("group_key", flat=True))
    assert len(keys) == 2


def test_the_window_comes_from_the_rule_parameters(rule):
    rule.parameters = {"alert_window_seconds": 300}
    rule.save()
    raise_alerts(matches=[make_match(rule=rule, time=T0), make_match(rule=rule, time=T0 + minutes(10))])
    assert Alert.objects.count() == 2


def test_different_entities_get_their_own_alerts(rule):
    raise_alerts(
        matches=[
            make_match(rule=rule, time=T0, entity="default/web-1"),
            make_match(rule=rule, time=T0, entity="default/web-2"),
            make_match(rule=rule, time=T0 + minutes(1), entity="default/web-1"),
        ]
    )
    assert dict(Alert.objects.values_list("entity", "count")) == {"default/web-1": 2, "default/web-2": 1}


def test_a_closed_alert_is_not_extended(rule):
    raise_alerts(matches=[make_match(rule=rule, time=T0)])
    Alert.objects.update(status=Alert.Status.CLOSED)
    outcome = raise_alerts(matches=[make_match(rule=rule, time=T0 + minutes(5))])
    assert outcome.created == 1
    assert Alert.objects.count() == 2
    assert Alert.objects.filter(status=Alert.Status.NEW).get().count == 1


def test_raising_twice_changes_nothing(rule):
    matches = [make_match(rule=rule, time=T0 + minutes(m)) for m in (0, 1)]
    raise_alerts(matches=matches)
    outcome = raise_alerts(matches=matches)
    assert (outcome.created, outcome.updated, outcome.suppressed) == (0, 0, 0)
    assert Alert.objects.get().count == 2
    assert AlertEvidence.objects.count() == 2


def test_severity_is_the_higher_of_rule_level_and_strategy_priority(rule):
    critical = Strategy.objects.create(title="Container escape", slug="container-escape", priority="critical")
    rule.strategies.add(critical)
    raise_alerts(matches=[make_match(rule=rule)])
    alert = Alert.objects.get()
    assert (alert.severity, alert.strategy) == ("critical", critical)


def test_low_priority_strategy_does_not_lower_the_rule_level(rule):
    rule.strategies.add(Strategy.objects.create(title="Noise", slug="noise", priority="low"))
    raise_alerts(matches=[make_match(rule=rule)])
    assert Alert.objects.get().severity == "medium"


def test_suppressed_matches_are_counted_not_alerted(rule, engineer):
    suppression = create_suppression(
        name="CI runner execs",
        conditions={"k8s_user": "system:serviceaccount:ci:*", "namespace": ["ci", "build"]},
        reason="CI jobs exec into their own pods",
        owner=engineer,
        expires_at=timezone.now() + timedelta(days=30),
        rule=rule,
    )
    ci = [make_match(rule=rule, time=T0 + minutes(m), entity=f"ci/job-{m}") for m in (0, 1)]
    for match in ci:
        match.event.k8s_user = "system:serviceaccount:ci:runner"
        match.event.namespace = "ci"
        match.event.save()
    other = make_match(rule=rule, time=T0 + minutes(2), entity="default/web-1")
    outcome = raise_alerts(matches=[*ci, other])
    assert (outcome.created, outcome.suppressed) == (1, 2)
    assert suppression.hits.count() == 2
    assert Alert.objects.get().entity == "default/web-1"
    assert suppression_preview(conditions=suppression.conditions, rule=rule) == 2


def test_expired_or_disabled_suppressions_do_not_apply(rule):
    create_suppression(
        name="old",
        conditions={"entity": "default/*"},
        reason="was benign",
        owner=None,
        expires_at=timezone.now() - timedelta(days=1),
    )
    disabled = create_suppression(
        name="off", conditions={"entity": "default/*"}, reason="r", owner=None, expires_at=None
    )
    disabled.enabled = False
    disabled.save()
    outcome = raise_alerts(matches=[make_match(rule=rule)])
    assert (outcome.created, outcome.suppressed) == (1, 0)


def test_strategy_scoped_suppression_applies_only_to_its_strategys_rules(rule):
    strategy = Strategy.objects.create(title="Pod exec", slug="pod-exec")
    create_suppression(
        name="web pods",
        conditions={"verb": "create"},
        reason="debug sessions",
        owner=None,
        expires_at=None,
        strategy=strategy,
    )
    first = make_match(rule=rule, fields={"verb": "create"})
    assert raise_alerts(matches=[first]).suppressed == 0
    rule.strategies.add(strategy)
    assert (
        raise_alerts(matches=[make_match(rule=rule, time=T0 + minutes(1), fields={"verb": "create"})]).suppressed == 1
    )


def test_suppression_needs_at_least_one_condition(rule):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        create_suppression(name="all", conditions={}, reason="r", owner=None, expires_at=None)


def test_sweep_accounts_for_every_match_left_behind(rule):
    run = DetectionRun.objects.create(kind=DetectionRun.Kind.SCHEDULED)
    orphan = make_match(rule=rule)
    orphan.run = run
    orphan.save()
    make_match(rule=rule, time=T0 + minutes(1), entity="default/other")
    result = raise_pending_alerts_task.apply().get()
    assert result == {"created": 2, "updated": 0, "suppressed": 0}
    assert DetectionRun.objects.get(pk=run.pk).alerts == 1
    assert raise_pending_alerts().created == 0
    assert not SuppressionHit.objects.exists()


def test_raise_alerts_for_run_counts_the_runs_alerts(rule):
    run = DetectionRun.objects.create(kind=DetectionRun.Kind.STREAM)
    for m in (0, 1):
        match = make_match(rule=rule, time=T0 + minutes(m))
        match.run = run
        match.save()
    raise_alerts_for_run(run_id=run.pk)
    assert DetectionRun.objects.get(pk=run.pk).alerts == 1


def exec_correlation(uid_suffix: str, *, generate: bool) -> None:
    """A correlation over the exec rule (a1b0ca4e-...): three execs into one namespace in ten minutes."""
    save_sigma_rule(
        yaml_text=f"""
title: Repeated execs ({uid_suffix})
id: 0d3c9a51-5a7e-4c1f-9b2d-0000000000{uid_suffix}
status: test
correlation:
  type: event_count
  rules: [a1b0ca4e-7835-413e-8471-3ff2b8a66be6]
  group-by: [objectRef.namespace]
  timespan: 10m
  condition: {{gte: 3}}
  generate: {str(generate).lower()}
level: high
"""
    )


def test_matches_of_a_base_rule_only_feeding_generate_false_correlations_raise_no_alert(rule):
    exec_correlation("01", generate=False)
    matches = [make_match(rule=rule, time=T0 + minutes(m)) for m in (0, 1)]

    outcome = raise_alerts(matches=matches)

    assert (outcome.created, outcome.updated, outcome.suppressed) == (0, 0, 0)
    assert not Alert.objects.exists() and not SuppressionHit.objects.exists()
    # The matches stay recorded for the correlation, and the sweep leaves them alone for good.
    assert rule.matches.count() == 2
    assert raise_pending_alerts().created == 0
    assert raise_pending_alerts_task.apply().get() == {"created": 0, "updated": 0, "suppressed": 0}


def test_a_base_rule_also_feeding_a_generating_correlation_still_raises_its_own_alerts(rule):
    exec_correlation("01", generate=False)
    exec_correlation("02", generate=True)

    outcome = raise_alerts(matches=[make_match(rule=rule)])

    assert outcome.created == 1 and Alert.objects.get().rule == rule


def test_the_sweep_skips_silent_base_rules_but_still_takes_every_other_match(rule):
    exec_correlation("01", generate=False)
    other = load_rule(DEPLOYMENT_DELETED)
    make_match(rule=rule)
    left_behind = make_match(rule=other, time=T0 + minutes(1))

    outcome = raise_pending_alerts()

    assert outcome.created == 1 and Alert.objects.get().rule == other
    assert AlertEvidence.objects.get().match == left_behind
