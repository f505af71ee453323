"""Replay a strategy's emulation scenarios through the whole pipeline and judge the outcome.

Each scenario is replayed into an isolated store: a database transaction (savepoint) that
is rolled back once the outcome is read, so emulated telemetry, matches and alerts never
mix with real ones. Inside it the pipeline is the production one: parse -> store ->
detect (Sigma, correlations, analytics) -> suppress -> alert.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from detections.models import RuleMatch, Strategy
from telemetry.models import Event, IngestBatch, Source
from triage.models import Alert, SuppressionHit
from validation.models import ScenarioResult, ValidationRun
from validation.scenarios import Scenario, scenarios_for

logger = logging.getLogger(__name__)


@dataclass
class ObservedAlert:
    rule: str
    rule_title: str
    entity: str
    count: int


@dataclass
class ScenarioOutcome:
    scenario: Scenario
    passed: bool
    reason: str
    alerts: list[ObservedAlert] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    rejected_records: int = 0


class _Rollback(Exception):
    def __init__(self, outcome):
        super().__init__("rollback of the isolated replay")
        self.outcome = outcome


def request_validation(*, strategy: Strategy, user=None) -> ValidationRun:
    """Queue a validation run as a Celery job (runs inline in the embedded, eager mode)."""
    from validation.tasks import run_validation

    run = ValidationRun.objects.create(strategy=strategy, triggered_by=user, status=ValidationRun.Status.QUEUED)
    transaction.on_commit(lambda: run_validation.delay(run.pk))
    return run


def execute_validation(*, run: ValidationRun) -> ValidationRun:
    """Replay every scenario of the run's strategy and store one result per scenario (idempotent)."""
    if run.status in (ValidationRun.Status.PASSED, ValidationRun.Status.FAILED, ValidationRun.Status.ERROR):
        return run
    run.status = ValidationRun.Status.RUNNING
    run.save(update_fields=["status"])
    scenarios = scenarios_for(run.strategy.slug)
    outcomes = []
    try:
        if not scenarios:
            raise LookupError(f"No emulation scenarios are shipped for {run.strategy.slug}.")
        outcomes = [replay_scenario(scenario) for scenario in scenarios]
    except Exception as error:  # a broken scenario file must show on the page, not vanish in a log
        logger.exception("validation of %s failed", run.strategy.slug)
        run.status = ValidationRun.Status.ERROR
        run.error = str(error)
    else:
        run.status = ValidationRun.Status.PASSED if all(o.passed for o in outcomes) else ValidationRun.Status.FAILED
    with transaction.atomic():
        run.results.all().delete()
        ScenarioResult.objects.bulk_create(
            ScenarioResult(
                run=run,
                scenario_key=o.scenario.key,
                name=o.scenario.name,
                kind=o.scenario.kind,
                passed=o.passed,
                reason=o.reason,
                expected=[{"rule": e.rule, "entity": e.entity} for e in o.scenario.expected_alerts],
                actual=[{"rule": a.rule, "entity": a.entity, "count": a.count} for a in o.alerts],
                validation_scenario=o.scenario.validation_scenario or o.scenario.false_positive,
                lab_commands=o.scenario.lab_commands,
            )
            for o in outcomes
        )
        run.finished_at = timezone.now()
        run.save()
    return run


def replay_scenario(scenario: Scenario) -> ScenarioOutcome:
    try:
        with transaction.atomic():
            outcome = _replay(scenario)
            raise _Rollback(outcome)
    except _Rollback as rollback:
        return rollback.outcome


def _replay(scenario: Scenario) -> ScenarioOutcome:
    from detections.services.analytics.base import isolated_match_keys

    # Isolated from what is stored: new sources (so new events and "e:<event id>" keys) and,
    # for windowed findings, keys of this replay's own, so stored findings of the same groups
    # and windows (the same capture ingested for real, the demo) cannot stand in for them.
    with isolated_match_keys(f"replay-{uuid.uuid4().hex[:12]}"):
        return _replay_isolated(scenario)


def _replay_isolated(scenario: Scenario) -> ScenarioOutcome:
    from detections.services.detection import run_stream_detection
    from telemetry.services import ingest_stream
    from triage.services import raise_alerts

    run_ids, source_ids, rejected = [], [], 0
    for telemetry in scenario.telemetry:
        source = Source.objects.create(
            name=f"validation-{uuid.uuid4().hex[:12]}", format=telemetry.source_format, description=scenario.name
        )
        source_ids.append(source.pk)
        with telemetry.path.open("rb") as stream:
            report = ingest_stream(
                source=source,
                stream=stream,
                channel=IngestBatch.Channel.REPLAY,
                filename=telemetry.path.name,
                hand_off=False,  # detection runs right below, inside the isolated store
            )
        rejected += report.rejected
        run_ids.append(run_stream_detection(batch_id=report.batch_id).pk)
    run_ids += [run.pk for run in run_windowed_detections(source_ids)]
    matches = RuleMatch.objects.filter(run_id__in=run_ids).select_related("rule", "event")
    raise_alerts(matches=list(matches))
    alerts = Alert.objects.filter(evidence__match__run_id__in=run_ids).select_related("rule").distinct().order_by("pk")
    observed = [ObservedAlert(a.rule.rule_uid, a.rule.title, a.entity, a.count) for a in alerts]
    suppressed = [
        f"{hit.match.rule.title} on {hit.match.entity} (suppressed by {hit.suppression.name})"
        for hit in SuppressionHit.objects.filter(match__run_id__in=run_ids).select_related("match__rule", "suppression")
    ]
    return _judge(scenario, observed, suppressed, rejected)


def run_windowed_detections(source_ids: list[int]) -> list:
    """Correlations and analytics over these sources' events, on their own time range (replays, the demo).

    The beat schedule only looks at recent windows; replayed telemetry carries its own, older times.
    """
    from detections.services.analytics import run_analytics_window
    from detections.services.correlation import run_correlations_window

    span = Event.objects.filter(source_id__in=source_ids).aggregate(first=Min("time"), last=Max("time"))
    if span["first"] is None:
        return []
    start, end = span["first"] - timedelta(minutes=1), span["last"] + timedelta(minutes=1)
    return run_correlations_window(start=start, end=end, source_ids=source_ids) + run_analytics_window(
        start=start, end=end, source_ids=source_ids
    )


def _entity_matches(expected: str, actual: str) -> bool:
    """The expected entity exactly, or a glob of it (`payments/implant-*`); empty means any entity."""
    return not expected or fnmatchcase(actual, expected)


def _judge(scenario: Scenario, observed: list[ObservedAlert], suppressed: list[str], rejected: int) -> ScenarioOutcome:
    problems = []
    if rejected:
        problems.append(f"{rejected} telemetry record(s) were rejected by the parsers")
    if scenario.kind == "attack":
        for expected in scenario.expected_alerts:
            if not any(a.rule == expected.rule and _entity_matches(expected.entity, a.entity) for a in observed):
                seen = ", ".join(f"{a.rule_title} on {a.entity}" for a in observed) or "no alert"
                problems.append(
                    f"expected an alert of rule {expected.rule} on {expected.entity or 'any entity'}; saw {seen}"
                )
        if not scenario.expected_alerts:
            problems.append("the scenario names no expected alert")
    else:
        for alert in observed:
            problems.append(f"unexpected alert: {alert.rule_title} on {alert.entity} ({alert.count} match(es))")
    if problems:
        reason = "; ".join(problems)
    elif scenario.kind == "attack":
        reason = "raised " + ", ".join(f"{a.rule_title} on {a.entity}" for a in observed)
        extra = [
            a
            for a in observed
            if not any(a.rule == e.rule and _entity_matches(e.entity, a.entity) for e in scenario.expected_alerts)
        ]
        if extra:  # reported, not failed: an attack may rightly trip more rules than the scenario names
            reason += f" ({len(extra)} beyond the expected ones)"
    else:
        reason = "no alert" + (f"; suppressed as documented: {', '.join(suppressed)}" if suppressed else "")
    return ScenarioOutcome(scenario, not problems, reason, observed, suppressed, rejected)
