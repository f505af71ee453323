"""Single-event detection: run Sigma rules over stored events and record their matches.

    run_stream_detection(batch_id=...)     one ingest batch, once (the durable queue's consumer)
    start_retro_hunt(rule=..., start=..., end=...)    create a hunt's run, queue its task
    fill_retro_hunt(run_id=...)                       the task: hunt that run's rule, once
    run_retro_hunt(rule_id=..., start=..., end=...)   one rule over past events, here
    detect_events(events=..., rules=..., run=...)      the shared core: events -> matches
    record_matches(rule=..., matches=[MatchSpec], run=...)   idempotent RuleMatch rows

Events are read column by column (values_list) into a polars DataFrame, per source
format, because each format has its own Sigma field mapping (detections.pipelines).
Compiled rulesets are cached in-process per (format, rule ids and their updated_at).

A broken rule is reported on the run (errors: [{rule_id, rule_title, error}]) and never
stops the others. Matches are unique per (rule, dedup_key) so a redelivered batch or a
re-run window records nothing twice; new matches go to triage by task *name*
("triage.tasks.raise_alerts_for_run") once committed: detections never imports triage.

Not for: correlations and analytics (detections.services.correlation / .analytics,
which record through `record_matches` too), alerting (triage.services).
"""

from __future__ import annotations

import logging
import time as time_module
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from django.db import DatabaseError, transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from ads_portal.celery import send_downstream
from detections.models import BatchDetection, DetectionRule, DetectionRun, RuleMatch
from detections.pipelines import (
    canonical_column,
    field_mapping_for_format,
    formats_for_logsource,
    raw_value,
    referenced_fields,
    rule_applies_to_format,
)
from detections.rule_yaml import load_rule_mapping
from telemetry.models import Event, IngestBatch, Source
from telemetry.schema import BOOL_FIELDS, CANONICAL_FIELDS, FLOAT_FIELDS, INT_FIELDS

logger = logging.getLogger(__name__)

RAISE_ALERTS_TASK = "triage.tasks.raise_alerts_for_run"
# Rows per DataFrame: bounds memory on a large retro-hunt while keeping polars efficient.
FRAME_ROWS = 50_000
# Matched field values are copied onto the match for triage; telemetry is attacker-controlled.
MAX_FIELD_VALUE_CHARS = 1024
RULESET_CACHE_SIZE = 64
# Batches younger than this are left to their own task message by the sweep.
SWEEP_GRACE_SECONDS = 15

EVENT_COLUMNS = tuple(name for name in CANONICAL_FIELDS if name not in ("time",))


@dataclass(frozen=True)
class MatchSpec:
    """One match to record. Single events: dedup_key "e:<event id>" and event_id set."""

    dedup_key: str
    time: datetime
    event_id: int | None = None
    evidence_event_ids: list[int] = field(default_factory=list)
    entity_type: str = ""
    entity: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectionOutcome:
    events_scanned: int = 0
    matches: int = 0  # new RuleMatch rows
    matches_seen: int = 0  # including those already recorded by an earlier run
    rules_run: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None


# --------------------------------------------------------------------------- matches


# Kubernetes resources whose pods are created from a template: an audit event about one is about
# the workload (`payments/deployments/implant`), not about the address the API call came from.
WORKLOAD_RESOURCES = frozenset(
    {"deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "replicationcontrollers"}
)


def workload_of(event: dict[str, Any]) -> str | None:
    """`namespace/resource/name` for an audit event about a named workload, else None."""
    resource = event.get("k8s_resource")
    name = event.get("k8s_object_name")
    if resource not in WORKLOAD_RESOURCES or not name:
        return None
    namespace = event.get("namespace")
    return f"{namespace}/{resource}/{name}" if namespace else f"{resource}/{name}"


def entity_of(event: dict[str, Any]) -> tuple[str, str]:
    """Who a match is about (alerts group on it): container > pod > workload > host > source address.

    Runtime events name their container; Kubernetes audit events about a pod (or its exec/attach
    subresource) name `namespace/pod`, about a Deployment, DaemonSet, ... `namespace/resource/name`;
    the caller's address is left for API objects that are neither.
    """
    container = event.get("container_id") or event.get("container_name")
    if container:
        return "container", str(container)
    if event.get("pod"):
        namespace = event.get("namespace") or ""
        return "pod", f"{namespace}/{event['pod']}" if namespace else str(event["pod"])
    workload = workload_of(event)
    if workload:
        return "workload", workload
    if event.get("host"):
        return "host", str(event["host"])
    if event.get("src_ip"):
        return "ip", str(event["src_ip"])
    return "", ""


def record_matches(
    *, rule: DetectionRule, matches: Sequence[MatchSpec], run: DetectionRun | None, hand_off: bool = True
) -> int:
    """Insert RuleMatch rows, skipping (rule, dedup_key) pairs already recorded; returns how many are new.

    Safe under redelivery and concurrent workers: the unique constraint decides, and
    `ignore_conflicts` turns a second insert into a no-op. Once committed, the run's
    new matches are handed to triage by task name (`hand_off=False` when the caller
    hands the whole run over once itself); matches without a run wait for triage's sweep.
    """
    if not matches:
        return 0
    by_key = {m.dedup_key[:255]: m for m in matches}
    existing = set(RuleMatch.objects.filter(rule=rule, dedup_key__in=list(by_key)).values_list("dedup_key", flat=True))
    rows = [
        RuleMatch(
            rule=rule,
            run=run,
            dedup_key=key,
            event_id=m.event_id,
            evidence_event_ids=list(m.evidence_event_ids or ([m.event_id] if m.event_id else [])),
            time=m.time,
            entity_type=m.entity_type[:32],
            entity=m.entity[:512],
            fields=m.fields,
        )
        for key, m in by_key.items()
        if key not in existing
    ]
    if not rows:
        return 0
    RuleMatch.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    if run is not None and hand_off:
        hand_run_to_triage_on_commit(run.pk)
    return len(rows)


def hand_run_to_triage_on_commit(run_id: int) -> None:
    transaction.on_commit(lambda: hand_run_to_triage(run_id), robust=True)


def hand_run_to_triage(run_id: int) -> None:
    """Send the run's matches to triage by task name (detections does not import triage)."""
    send_downstream(RAISE_ALERTS_TASK, args=[run_id], waiting_for="the triage sweep")


# --------------------------------------------------------------------------- compiled rulesets


@dataclass
class CompiledRules:
    """A ruleset compiled for one source format, and what reading its fields needs."""

    source_format: str
    ruleset: Any
    mapping: dict[str, str]
    by_uid: dict[str, DetectionRule]
    rule_fields: dict[str, list[str]]  # rule uid -> Sigma fields it references
    raw_fields: list[str]  # Sigma fields with no canonical column: read from raw

    def run_errors(self) -> list[dict[str, Any]]:
        """The ruleset's errors (compile time, and rules that failed at match time) for a run."""
        errors = []
        for error in self.ruleset.errors:
            rule = self.by_uid.get(str(error.rule_id)) or next(
                (r for r in self.by_uid.values() if r.title == error.title), None
            )
            message = f"line {error.line}: {error.message}" if getattr(error, "line", None) else str(error.message)
            if rule is not None:
                errors.append(_error(rule, message))
            else:
                errors.append({"rule_id": None, "rule_title": error.title, "error": message[:2000]})
        return errors


_CACHE: OrderedDict[tuple, CompiledRules] = OrderedDict()


def _engine():
    try:
        from detections.engine import compile_rules
    except ImportError as exc:  # the engine lands separately; say so on every run rather than silently
        raise RuntimeError(f"the Sigma engine (detections.engine) is not available: {exc}")
    return compile_rules


def _fields_of(rule: DetectionRule) -> list[str]:
    from sigma.rule import SigmaRule

    try:
        sigma = SigmaRule.from_dict(load_rule_mapping(rule.sigma_yaml))
    except Exception:  # the engine reports the rule's error; no fields to read then
        return []
    fields: set[str] = set()
    for detection in sigma.detection.detections.values():
        fields |= referenced_fields(detection.detection_items)
    return sorted(fields)


def _error(rule: DetectionRule, message: str) -> dict[str, Any]:
    return {"rule_id": rule.pk, "rule_uid": rule.rule_uid, "rule_title": rule.title, "error": str(message)[:2000]}


def compiled_rules(rules: Sequence[DetectionRule], source_format: str) -> CompiledRules:
    """Compile (or take from the cache) the rules for one source format."""
    key = (source_format, tuple(sorted((r.pk, r.updated_at) for r in rules)))
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    compile_rules = _engine()
    mapping = field_mapping_for_format(source_format)
    by_uid = {r.rule_uid: r for r in rules}
    ruleset = compile_rules([r.sigma_yaml for r in rules], field_mapping=mapping)
    compiled_uids = {str(r.rule_id) for r in ruleset.rules}
    rule_fields = {r.rule_uid: _fields_of(r) for r in rules if r.rule_uid in compiled_uids}
    raw_fields = sorted({f for fields in rule_fields.values() for f in fields if canonical_column(f, mapping) is None})
    result = CompiledRules(source_format, ruleset, mapping, by_uid, rule_fields, raw_fields)
    _CACHE[key] = result
    while len(_CACHE) > RULESET_CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


# --------------------------------------------------------------------------- frames


def _polars_type(name: str):
    if name in INT_FIELDS:
        return pl.Int64
    if name in FLOAT_FIELDS:
        return pl.Float64
    if name in BOOL_FIELDS:
        return pl.Boolean
    return pl.Utf8


def _raw_column(values: list[Any]) -> pl.Series | list:
    """One raw-path column: scalars keep their type when they agree; otherwise text (Sigma compares text)."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pl.Series(values, dtype=pl.Utf8)
    if kinds == {bool}:
        return pl.Series(values, dtype=pl.Boolean)
    if kinds <= {int} or kinds <= {int, float}:
        try:
            return pl.Series(values, dtype=pl.Float64 if float in kinds else pl.Int64)
        except (OverflowError, TypeError, ValueError):  # an integer beyond 64 bits: compare it as text
            return pl.Series([None if v is None else str(v) for v in values], dtype=pl.Utf8)
    if list in kinds:
        return pl.Series(
            [None if v is None else [_text(x) for x in (v if isinstance(v, list) else [v])] for v in values],
            dtype=pl.List(pl.Utf8),
        )
    return pl.Series([None if v is None else _text(v) for v in values], dtype=pl.Utf8)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, sort_keys=True)[:MAX_FIELD_VALUE_CHARS]
    return str(value)


def build_frame(rows: list[tuple], *, raw_fields: Sequence[str], source_format: str) -> pl.DataFrame:
    """A DataFrame of canonical columns (+ raw-path columns) from `values_list` rows.

    Row layout: id, time, *EVENT_COLUMNS, [raw]. Empty strings become nulls: a
    canonical column holds "" when the producer had no value, which Sigma treats
    as a missing field.
    """
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(2 + len(EVENT_COLUMNS) + 1)]
    data: dict[str, Any] = {
        "_event_id": pl.Series(columns[0], dtype=pl.Int64),
        "_time": pl.Series(columns[1], dtype=pl.Datetime("us", "UTC")),
    }
    for index, name in enumerate(EVENT_COLUMNS, start=2):
        values = columns[index]
        dtype = _polars_type(name)
        if dtype == pl.Utf8:
            values = [v or None for v in values]
        data[name] = pl.Series(values, dtype=dtype)
    if raw_fields:
        raws = columns[2 + len(EVENT_COLUMNS)] if rows else []
        for path in raw_fields:
            if path in data:
                continue
            data[path] = _raw_column([raw_value(raw, path, source_format=source_format) for raw in raws])
    return pl.DataFrame(data)


def _frames(events: QuerySet, *, raw_fields: Sequence[str], source_format: str) -> Iterable[pl.DataFrame]:
    names = ["id", "time", *EVENT_COLUMNS] + (["raw"] if raw_fields else [])
    last_id = 0
    while True:
        rows = list(events.filter(id__gt=last_id).order_by("id").values_list(*names)[:FRAME_ROWS])
        if not rows:
            return
        last_id = rows[-1][0]
        yield build_frame(rows, raw_fields=raw_fields, source_format=source_format)
        if len(rows) < FRAME_ROWS:
            return


# --------------------------------------------------------------------------- detection


def _run_ruleset(compiled: CompiledRules, frame: pl.DataFrame, outcome: DetectionOutcome) -> list[tuple[str, int]]:
    """Matches of all compiled rules; when the ruleset as a whole fails, rule by rule to isolate the culprit."""
    try:
        return [(str(rule_id), int(row)) for rule_id, row in compiled.ruleset.match(frame)]
    except Exception as exc:
        logger.warning("ruleset for %s failed as a whole (%s); running rule by rule", compiled.source_format, exc)
    compile_rules = _engine()
    hits: list[tuple[str, int]] = []
    for uid in compiled.rule_fields:
        rule = compiled.by_uid[uid]
        try:
            single = compile_rules([rule.sigma_yaml], field_mapping=compiled.mapping)
            hits.extend((str(rule_id), int(row)) for rule_id, row in single.match(frame))
        except Exception as exc:
            if not any(e.get("rule_id") == rule.pk for e in outcome.errors):
                outcome.errors.append(_error(rule, f"{type(exc).__name__}: {exc}"))
    return hits


def _match_fields(row: dict[str, Any], sigma_fields: Iterable[str], mapping: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for sigma_field in sigma_fields:
        column = canonical_column(sigma_field, mapping) or sigma_field
        value = row.get(column)
        if value is None:
            continue
        if isinstance(value, str):
            value = value[:MAX_FIELD_VALUE_CHARS]
        elif isinstance(value, list):
            value = [_text(v)[:MAX_FIELD_VALUE_CHARS] for v in value[:50]]
        elif isinstance(value, datetime):
            value = value.isoformat()
        values[sigma_field] = value
    return values


def detect_events(
    *, events_queryset_or_batch: QuerySet | IngestBatch, rules: Sequence[DetectionRule], run: DetectionRun | None
) -> DetectionOutcome:
    """Run Sigma rules over events (routed by each event's source format) and record their matches."""
    if isinstance(events_queryset_or_batch, IngestBatch):
        events = Event.objects.filter(batch=events_queryset_or_batch)
    else:
        events = events_queryset_or_batch
    outcome = DetectionOutcome()
    bounds = events.aggregate(start=Min("time"), end=Max("time"))
    outcome.window_start, outcome.window_end = bounds["start"], bounds["end"]
    sigma_rules = [r for r in rules if r.kind == DetectionRule.Kind.SIGMA]
    formats = sorted(set(events.order_by().values_list("source__format", flat=True).distinct()))
    used: set[int] = set()
    for source_format in formats:
        format_events = events.filter(source__format=source_format)
        routed = [
            r
            for r in sigma_rules
            if rule_applies_to_format(
                product=r.logsource_product,
                category=r.logsource_category,
                service=r.logsource_service,
                source_format=source_format,
            )
        ]
        if not routed:
            outcome.events_scanned += format_events.count()
            continue
        used.update(r.pk for r in routed)
        compiled = compiled_rules(routed, source_format)
        if not compiled.rule_fields:
            outcome.events_scanned += format_events.count()
            _add_errors(outcome, compiled.run_errors())
            continue
        for frame in _frames(format_events, raw_fields=compiled.raw_fields, source_format=source_format):
            outcome.events_scanned += frame.height
            per_rule: dict[str, list[MatchSpec]] = {}
            for uid, row_index in _run_ruleset(compiled, frame, outcome):
                if uid not in compiled.by_uid:
                    continue
                row = frame.row(row_index, named=True)
                entity_type, entity = entity_of(row)
                per_rule.setdefault(uid, []).append(
                    MatchSpec(
                        dedup_key=f"e:{row['_event_id']}",
                        time=row["_time"],
                        event_id=row["_event_id"],
                        entity_type=entity_type,
                        entity=entity,
                        fields=_match_fields(row, compiled.rule_fields.get(uid, ()), compiled.mapping),
                    )
                )
            for uid, specs in per_rule.items():
                outcome.matches_seen += len(specs)
                outcome.matches += record_matches(rule=compiled.by_uid[uid], matches=specs, run=run, hand_off=False)
        _add_errors(outcome, compiled.run_errors())
    outcome.rules_run = sorted(used)  # rules that ran over at least one of these events' formats
    return outcome


def _add_errors(outcome: DetectionOutcome, errors: list[dict[str, Any]]) -> None:
    for error in errors:
        if error not in outcome.errors:
            outcome.errors.append(error)


def _finish_run(run: DetectionRun, outcome: DetectionOutcome, started: float, rules: Iterable[DetectionRule]) -> None:
    run.window_start, run.window_end = outcome.window_start, outcome.window_end
    run.events_scanned = outcome.events_scanned
    run.matches = outcome.matches
    run.errors = outcome.errors
    run.status = DetectionRun.Status.PARTIAL if outcome.errors else DetectionRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.duration_ms = int((time_module.monotonic() - started) * 1000)
    run.save()
    run.rules.set(list(rules))


def enabled_stream_rules(source_format: str) -> list[DetectionRule]:
    """Enabled single-event Sigma rules whose logsource routes to this source format."""
    rules = DetectionRule.objects.filter(status=DetectionRule.Status.ENABLED, kind=DetectionRule.Kind.SIGMA)
    return [
        r
        for r in rules
        if rule_applies_to_format(
            product=r.logsource_product,
            category=r.logsource_category,
            service=r.logsource_service,
            source_format=source_format,
        )
    ]


def run_stream_detection(*, batch_id: int) -> DetectionRun | None:
    """Detect over one ingest batch, exactly once: a second call returns the first call's run.

    The run, its matches and the BatchDetection acknowledgement commit together, so a
    worker killed mid-batch leaves nothing behind and the redelivered task starts over.
    A batch the engine cannot process at all is acknowledged with a failed run (with
    the error) rather than retried forever by the sweep. Returns None for a batch that
    no longer exists.
    """
    started = time_module.monotonic()
    with transaction.atomic():
        # Lock the batch row only (not its source, which every ingest of that source updates).
        batch = IngestBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None:
            return None
        done = BatchDetection.objects.select_related("run").filter(batch=batch).first()
        if done is not None:
            return done.run
        source_format = Source.objects.filter(pk=batch.source_id).values_list("format", flat=True).get()
        rules = enabled_stream_rules(source_format)
        run = DetectionRun.objects.create(kind=DetectionRun.Kind.STREAM, batch=batch)
        try:
            with transaction.atomic():
                outcome = detect_events(events_queryset_or_batch=batch, rules=rules, run=run)
        except DatabaseError:
            raise  # the database is the problem, not the batch: let the task retry
        except Exception as exc:
            logger.exception("detection failed for batch %s", batch_id)
            run.status = DetectionRun.Status.FAILED
            run.errors = [{"rule_id": None, "rule_title": "", "error": f"{type(exc).__name__}: {exc}"[:2000]}]
            run.finished_at = timezone.now()
            run.duration_ms = int((time_module.monotonic() - started) * 1000)
            run.save()
            run.rules.set(rules)
        else:
            _finish_run(run, outcome, started, rules)
            if outcome.matches:
                hand_run_to_triage_on_commit(run.pk)
        BatchDetection.objects.create(batch=batch, run=run)
    return run


def start_retro_hunt(*, rule: DetectionRule, start: datetime, end: datetime) -> DetectionRun:
    """Create the hunt's run (status running, its window and rule) and queue the task that fills it.

    The run exists before the task does, so callers can answer with its id whether the task
    runs in-process (eager) or on a worker. The message is sent once the run is committed:
    a worker must never receive the id of a run it cannot read yet.
    """
    with transaction.atomic():
        run = DetectionRun.objects.create(kind=DetectionRun.Kind.RETRO_HUNT, window_start=start, window_end=end)
        run.rules.set([rule])
        transaction.on_commit(lambda: _queue_retro_hunt(run.pk))
    return run


def retro_hunt_task_id(run_id: int) -> str:
    """The Celery task id of a run's hunt: one per run, so the message and the run name each other."""
    return f"retro-hunt-{run_id}"


def _queue_retro_hunt(run_id: int) -> None:
    from detections.tasks import retro_hunt  # tasks import this module

    try:
        retro_hunt.apply_async(kwargs={"run_id": run_id}, task_id=retro_hunt_task_id(run_id))
    except Exception as exc:
        # A broker that refuses the message must not leave a run "running" forever.
        DetectionRun.objects.filter(pk=run_id, status=DetectionRun.Status.RUNNING).update(
            status=DetectionRun.Status.FAILED,
            errors=[{"rule_id": None, "rule_title": "", "error": f"not queued: {type(exc).__name__}: {exc}"[:2000]}],
            finished_at=timezone.now(),
        )
        raise


def run_retro_hunt(*, rule_id: int, start: datetime, end: datetime) -> DetectionRun:
    """Run one rule (whatever its status) over stored events with start <= time < end, here.

    Matches already recorded (by streaming or an earlier hunt) are not recorded again,
    so only what is new goes to triage. (Task messages queued before runs were created
    up front, by start_retro_hunt, come here.)
    """
    rule = DetectionRule.objects.get(pk=rule_id)
    run = DetectionRun.objects.create(kind=DetectionRun.Kind.RETRO_HUNT, window_start=start, window_end=end)
    run.rules.set([rule])
    return fill_retro_hunt(run_id=run.pk)


def fill_retro_hunt(*, run_id: int) -> DetectionRun | None:
    """Hunt a running retro-hunt run's rule over its window; a finished run is returned as it is.

    The run row is locked for the hunt, so a redelivered message waits for the first and
    then finds the run finished. A worker killed mid-hunt rolls back the matches with the
    run's figures, and the redelivery starts over. Returns None for a run that no longer exists.
    """
    started = time_module.monotonic()
    with transaction.atomic():
        run = DetectionRun.objects.select_for_update().filter(pk=run_id, kind=DetectionRun.Kind.RETRO_HUNT).first()
        if run is None or run.status != DetectionRun.Status.RUNNING:
            return run
        rule = run.rules.first()
        if rule is None:
            run.status, run.finished_at = DetectionRun.Status.FAILED, timezone.now()
            run.errors = [{"rule_id": None, "rule_title": "", "error": "the rule was deleted before the hunt ran"}]
            run.save()
            return run
        start, end = run.window_start, run.window_end
        try:
            with transaction.atomic():
                # Only the sources the rule is meant for: scanning the rest would only inflate the count.
                formats = formats_for_logsource(rule.logsource_product, rule.logsource_category, rule.logsource_service)
                events = Event.objects.filter(time__gte=start, time__lt=end, source__format__in=formats)
                outcome = detect_events(events_queryset_or_batch=events, rules=[rule], run=run)
                outcome.window_start, outcome.window_end = start, end
                if rule.kind != DetectionRule.Kind.SIGMA:
                    outcome.errors.append(_error(rule, "only single-event Sigma rules can be retro-hunted"))
                _finish_run(run, outcome, started, [rule])
        except DatabaseError:
            raise
        except Exception as exc:
            logger.exception("retro-hunt run %s failed", run_id)
            run.status = DetectionRun.Status.FAILED
            run.errors = [_error(rule, f"{type(exc).__name__}: {exc}")]
            run.finished_at = timezone.now()
            run.duration_ms = int((time_module.monotonic() - started) * 1000)
            run.save()
        else:
            if outcome.matches:
                hand_run_to_triage_on_commit(run.pk)
    return run


def pending_batches(*, grace_seconds: int = SWEEP_GRACE_SECONDS, limit: int = 100) -> list[int]:
    """Ids of batches with events that detection has not acknowledged (oldest first).

    The durable queue: a lost task message never loses a batch, because the beat
    sweep runs these. Batches younger than `grace_seconds` are left to their message.
    """
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    return list(
        IngestBatch.objects.filter(detection__isnull=True, accepted__gt=0, received_at__lte=cutoff)
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )
