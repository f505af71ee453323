"""Sigma correlation rules, evaluated over the stored matches of their base rules.

A correlation (event_count, value_count, temporal, temporal_ordered) is parsed with
pySigma: the SigmaCorrelationRule goes into a SigmaCollection with the base rules
it references (by id or name, read from their DetectionRule rows), which resolves
the references. It is then evaluated over the RuleMatch rows of those base rules,
not over a batch in memory: the state is the database, so it holds across ingest
batches, worker restarts and several workers.

Windows:
- gt/gte conditions (and temporal ones) slide: per group, the first moment the
  matches of the last `timespan` satisfy the condition fires, with those matches
  as evidence; the group then starts afresh after that window's end (read back
  from the correlation's own stored matches, so re-evaluation fires nothing twice).
- lt/lte/eq/neq conditions need a whole window to be judged, so they use tumbling
  windows aligned on `timespan`, judged once closed (as the SIEM backends' `bin`).

Group-by fields (and value_count's `field`) are Sigma field names, read from the
matched events' canonical columns through the base rule's logsource field mapping
(detections.pipelines), else from the match's fields or the raw record.

Each finding is one RuleMatch with dedup_key "c:<group values>:<window start bucket>",
evidence_event_ids the base events, entity the group-by values. Not for single-event
matching (detections.engine, detections.services.detection).
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from sigma.collection import SigmaCollection
from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)
from sigma.exceptions import SigmaError

from detections import pipelines
from detections.models import DetectionRule, DetectionRun, RuleMatch
from detections.rule_yaml import load_rule_documents
from detections.services.analytics.base import bucket_start, key_namespace, match_key, note_scanned, source_scope
from detections.services.detection import MatchSpec, record_matches

SUPPORTED_TYPES = {
    SigmaCorrelationType.EVENT_COUNT,
    SigmaCorrelationType.VALUE_COUNT,
    SigmaCorrelationType.TEMPORAL,
    SigmaCorrelationType.TEMPORAL_ORDERED,
}
_OPERATORS = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
# Conditions that can only become true as a window fills up: they may fire mid-window.
_GROWING = {"gt", "gte"}
MAX_EVIDENCE = 100
_ENTITY_TYPES = {
    "src_ip": "ip",
    "dst_ip": "ip",
    "container_name": "container",
    "container_id": "container",
    "pod": "pod",
    "host": "host",
    "k8s_user": "user",
    "process_user": "user",
}


class CorrelationError(ValueError):
    """A correlation rule that cannot be evaluated (bad YAML, missing base rule, unsupported type)."""


# --------------------------------------------------------------------------- parsing


@dataclass
class BaseRule:
    rule_id: int
    reference: str  # as written in the correlation's `rules:`
    columns: dict[str, str | None]  # Sigma field (group-by / value field) -> canonical column, None: raw


@dataclass
class Correlation:
    """A parsed correlation rule, resolved against the DetectionRule rows of its base rules."""

    rule: DetectionRule
    type: SigmaCorrelationType
    timespan_seconds: int
    group_by: list[str]
    base_rules: list[BaseRule]  # in the order of `rules:` (temporal_ordered's order)
    op: str = "gte"
    count: float = 1
    value_field: str | None = None
    extended: Any = None  # parsed extended condition (temporal only)
    generate: bool = False
    reference_by_rule: dict[int, str] = field(default_factory=dict)

    @property
    def is_growing(self) -> bool:
        return self.extended is not None or self.op in _GROWING


def parse_correlation(rule: DetectionRule) -> Correlation:
    """The correlation rule of `rule.sigma_yaml`, its references resolved with pySigma."""
    try:
        documents = SigmaCollection.from_dicts(load_rule_documents(rule.sigma_yaml), resolve_references=False)
    except (SigmaError, ValueError) as exc:
        raise CorrelationError(f"invalid Sigma correlation YAML: {exc}") from None
    correlations = [r for r in documents.rules if isinstance(r, SigmaCorrelationRule)]
    correlation = next((r for r in correlations if str(r.id) == rule.rule_uid), None) or (
        correlations[0] if correlations else None
    )
    if correlation is None:
        raise CorrelationError("the rule's YAML holds no Sigma correlation rule")
    if correlation.type not in SUPPORTED_TYPES:
        raise CorrelationError(f"correlation type {correlation.type.name.lower()} is not supported")

    references = [ref.reference for ref in (correlation.rules or [])]
    if correlation.rules is None and isinstance(correlation.condition, SigmaExtendedCorrelationCondition):
        references = correlation.condition.get_referenced_rules()
    stored = list(DetectionRule.objects.filter(Q(rule_uid__in=references) | Q(name__in=references)).exclude(pk=rule.pk))
    base_sigma = []
    inline = {str(r.id) for r in documents.rules if r.id} | {r.name for r in documents.rules if r.name}
    for base in stored:
        if base.rule_uid in inline or (base.name and base.name in inline):
            continue  # also written inline in the correlation's own file
        try:
            base_sigma.extend(
                SigmaCollection.from_dicts(load_rule_documents(base.sigma_yaml), resolve_references=False).rules
            )
        except (SigmaError, ValueError) as exc:
            raise CorrelationError(f"base rule {base.title!r} does not parse: {exc}") from None
    try:
        SigmaCollection([*documents.rules, *base_sigma])  # resolves correlation.referenced_rules
    except SigmaError as exc:
        raise CorrelationError(f"cannot resolve the rules the correlation references: {exc}") from None

    by_uid = {b.rule_uid: b for b in stored}
    by_name = {b.name: b for b in stored if b.name}
    value_field = None
    if isinstance(correlation.condition, SigmaCorrelationCondition) and correlation.condition.fieldref:
        fieldref = correlation.condition.fieldref
        value_field = fieldref[0] if isinstance(fieldref, list) else fieldref
    group_by = list(correlation.group_by or [])

    base_rules = []
    for reference in correlation.referenced_rules:
        sigma_rule = reference.rule
        stored_rule = by_uid.get(str(sigma_rule.id)) or by_name.get(sigma_rule.name or "")
        if stored_rule is None:
            raise CorrelationError(f"base rule {reference.reference!r} is not stored as a detection rule")
        mapping = _field_mapping(stored_rule, sigma_rule)
        columns = {}
        for name in [*group_by, *([value_field] if value_field else [])]:
            sigma_field = _aliased(correlation, name, reference)
            columns[name] = pipelines.canonical_column(sigma_field, mapping) or _ecs_column(sigma_field)
        base_rules.append(BaseRule(rule_id=stored_rule.pk, reference=reference.reference, columns=columns))

    parsed = Correlation(
        rule=rule,
        type=correlation.type,
        timespan_seconds=correlation.timespan.seconds,
        group_by=group_by,
        base_rules=base_rules,
        value_field=value_field,
        generate=correlation.generate,
        reference_by_rule={b.rule_id: b.reference for b in base_rules},
    )
    if isinstance(correlation.condition, SigmaExtendedCorrelationCondition):
        parsed.extended = correlation.condition.parsed
    else:
        parsed.op = correlation.condition.op.name.lower()
        parsed.count = correlation.condition.count
    return parsed


def _field_mapping(stored: DetectionRule, sigma_rule) -> dict[str, str]:
    logsource = getattr(sigma_rule, "logsource", None)
    product = stored.logsource_product or getattr(logsource, "product", None) or ""
    category = stored.logsource_category or getattr(logsource, "category", None) or ""
    service = stored.logsource_service or getattr(logsource, "service", None) or ""
    return pipelines.field_mapping_for_logsource(product, category, service)


def _ecs_column(sigma_field: str) -> str | None:
    """ECS dotted names (process.command_line) are canonical columns with underscores; else None (raw)."""
    underscored = sigma_field.replace(".", "_")
    return underscored if underscored in pipelines.CANONICAL_COLUMNS else None


def _aliased(correlation: SigmaCorrelationRule, name: str, reference: SigmaRuleReference) -> str:
    """The field a group-by alias stands for in one base rule's events (Sigma `aliases`)."""
    alias = correlation.aliases.aliases.get(name)
    if alias is None:
        return name
    for ref, field_name in alias.mapping.items():
        if ref.reference == reference.reference:
            return field_name
    return name


_silent_base_rules: dict[tuple, frozenset[int]] = {}


def base_rule_ids_without_output() -> frozenset[int]:
    """Base rules referenced only by correlations with `generate: false`: their matches feed
    correlations but should raise no alert of their own (Sigma's `generate`).

    Triage asks on every run it alerts on; parsing every correlation each time costs tens of
    milliseconds, so the answer is kept until a rule is added, removed or saved.
    """
    version = tuple(DetectionRule.objects.aggregate(n=Count("id"), changed=Max("updated_at")).values())
    if version not in _silent_base_rules:
        _silent_base_rules.clear()
        _silent_base_rules[version] = frozenset(_base_rule_ids_without_output())
    return _silent_base_rules[version]


def _base_rule_ids_without_output() -> set[int]:
    silent, loud = set(), set()
    for rule in DetectionRule.objects.filter(kind=DetectionRule.Kind.SIGMA_CORRELATION).exclude(
        status=DetectionRule.Status.DISABLED
    ):
        try:
            parsed = parse_correlation(rule)
        except CorrelationError:
            continue
        (loud if parsed.generate else silent).update(b.rule_id for b in parsed.base_rules)
    return silent - loud


# --------------------------------------------------------------------------- loading


@dataclass
class _Hit:
    match_id: int
    rule_id: int
    time: datetime
    event_id: int | None
    group: tuple[str, ...]
    value: str | None


def _load_hits(correlation: Correlation, start: datetime, end: datetime) -> list[_Hit]:
    columns = sorted({c for b in correlation.base_rules for c in b.columns.values() if c})
    needs_raw = any(c is None for b in correlation.base_rules for c in b.columns.values())
    paths = ["id", "rule_id", "time", "event_id", "fields", *(f"event__{c}" for c in columns)]
    if needs_raw:
        paths.append("event__raw")
    matches = RuleMatch.objects.filter(
        rule_id__in=[b.rule_id for b in correlation.base_rules], time__gte=start, time__lt=end
    )
    if source_scope() is not None:
        matches = matches.filter(event__source_id__in=source_scope())
    rows = matches.order_by("time", "id").values_list(*paths)
    by_rule = {b.rule_id: b for b in correlation.base_rules}
    hits = []
    rows = list(rows)
    note_scanned(len(rows))
    for row in rows:  # base matches are few next to events; one pass to shape them
        record = dict(zip(paths, row, strict=True))
        base = by_rule[record["rule_id"]]

        def read(name: str, base=base, record=record) -> str:
            column = base.columns[name]
            value = record.get(f"event__{column}") if column else None
            if value in (None, ""):
                value = (record["fields"] or {}).get(name)
            if value in (None, "") and column:
                value = (record["fields"] or {}).get(column)
            if value in (None, "") and needs_raw and record.get("event__raw") is not None:
                value = pipelines.raw_value(record["event__raw"], name)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            return "" if value is None else str(value)

        hits.append(
            _Hit(
                match_id=record["id"],
                rule_id=record["rule_id"],
                time=record["time"],
                event_id=record["event_id"],
                group=tuple(read(name) for name in correlation.group_by),
                value=read(correlation.value_field) if correlation.value_field else None,
            )
        )
    return hits


# --------------------------------------------------------------------------- evaluation


class _Window:
    """The matches of one group inside the current window, with running tallies (O(1) per match)."""

    def __init__(self, correlation: Correlation):
        self.correlation = correlation
        self.timespan = timedelta(seconds=correlation.timespan_seconds)
        self.order = [b.rule_id for b in correlation.base_rules]
        self.hits: list[_Hit] = []
        self.lo = 0
        self.events: Counter = Counter()
        self.values: Counter = Counter()
        self.rules: Counter = Counter()
        # temporal_ordered: chains[k] = the matches of rules order[0..k] in order, the one
        # starting latest (a later start can only fit the timespan better later on).
        self.chains: list[list[_Hit] | None] = [None] * len(self.order)

    def add(self, hit: _Hit) -> None:
        self.hits.append(hit)
        self.events[hit.event_id or -hit.match_id] += 1
        if hit.value:
            self.values[hit.value] += 1
        self.rules[hit.rule_id] += 1
        if self.correlation.type == SigmaCorrelationType.TEMPORAL_ORDERED:
            # Descending, so one match never fills two positions of a rule listed twice.
            for k in range(len(self.order) - 1, -1, -1):
                if self.order[k] != hit.rule_id:
                    continue
                if k == 0:
                    self.chains[0] = [hit]
                elif self.chains[k - 1] is not None:
                    candidate = [*self.chains[k - 1], hit]
                    if self.chains[k] is None or candidate[0].time > self.chains[k][0].time:
                        self.chains[k] = candidate

    def drop_first(self) -> None:
        hit = self.hits[self.lo]
        self.lo += 1
        for tally, key in (
            (self.events, hit.event_id or -hit.match_id),
            (self.values, hit.value),
            (self.rules, hit.rule_id),
        ):
            if key in tally:
                tally[key] -= 1
                if tally[key] <= 0:
                    del tally[key]

    def _ordered(self) -> tuple[int, list[_Hit]]:
        """How many of the rules matched in their listed order within the timespan, and those matches."""
        latest = self.hits[-1].time
        for k in range(len(self.order) - 1, -1, -1):
            chain = self.chains[k]
            if (
                chain is not None
                and latest - chain[0].time <= self.timespan
                and chain[0].time >= self.hits[self.lo].time
            ):
                return k + 1, chain
        return 0, []

    def satisfied(self) -> tuple[bool, float]:
        """Whether the condition holds now, and the value it compared."""
        correlation = self.correlation
        if correlation.extended is not None:
            present = {correlation.reference_by_rule[r] for r in self.rules}
            return _evaluate_extended(correlation.extended, present), len(self.rules)
        kind = correlation.type
        if kind == SigmaCorrelationType.EVENT_COUNT:
            value = len(self.events)
        elif kind == SigmaCorrelationType.VALUE_COUNT:
            value = len(self.values)
        elif kind == SigmaCorrelationType.TEMPORAL:
            value = len(self.rules)
        else:
            value = self._ordered()[0]
        return _OPERATORS[correlation.op](value, correlation.count), value

    def evidence(self) -> list[_Hit]:
        """The matches that make the finding (the ordered chain for temporal_ordered)."""
        if self.correlation.type == SigmaCorrelationType.TEMPORAL_ORDERED and self.correlation.extended is None:
            chain = self._ordered()[1]
            if chain:
                return chain
        return self.hits[self.lo :]


def _evaluate_extended(node, present: set[str]) -> bool:
    if isinstance(node, SigmaRuleReference):
        return node.reference in present
    if isinstance(node, CorrelationConditionAND):
        return all(_evaluate_extended(arg, present) for arg in node.args)
    if isinstance(node, CorrelationConditionOR):
        return any(_evaluate_extended(arg, present) for arg in node.args)
    if isinstance(node, CorrelationConditionNOT):
        return not _evaluate_extended(node.args[0], present)
    raise CorrelationError(f"unsupported extended condition element {node!r}")


def correlation_matches(correlation: Correlation, start: datetime, end: datetime) -> list[MatchSpec]:
    """The findings of a correlation over base matches with start <= time < end (nothing recorded)."""
    timespan = timedelta(seconds=correlation.timespan_seconds)
    hits = _load_hits(correlation, start, end)
    groups: dict[tuple[str, ...], list[_Hit]] = defaultdict(list)
    for hit in hits:
        groups[hit.group].append(hit)
    if correlation.is_growing:
        fired_until = _fired_until(correlation, start - timespan)
        return [
            spec
            for group, group_hits in sorted(groups.items())
            for spec in _sliding(correlation, group, group_hits, fired_until.get(group))
        ]
    return [
        spec
        for group, group_hits in sorted(groups.items())
        for spec in _tumbling(correlation, group, group_hits, start, end)
    ]


def _fired_until(correlation: Correlation, since: datetime) -> dict[tuple[str, ...], datetime]:
    """Per group, the end of the latest window this correlation already fired for."""
    fired: dict[tuple[str, ...], datetime] = {}
    findings = RuleMatch.objects.filter(rule=correlation.rule, time__gte=since)
    if key_namespace():  # an isolated replay: only its own findings count, not stored ones of the same groups
        findings = findings.filter(dedup_key__startswith=f"{key_namespace()}/")
    elif source_scope() is not None:
        findings = findings.filter(event__source_id__in=source_scope())
    for fields in findings.values_list("fields", flat=True):
        try:
            group = tuple(fields["group"])
            window_end = datetime.fromisoformat(fields["window_end"])
        except (KeyError, TypeError, ValueError):
            continue
        if group not in fired or window_end > fired[group]:
            fired[group] = window_end
    return fired


def _sliding(correlation: Correlation, group, hits: list[_Hit], fired_until: datetime | None) -> list[MatchSpec]:
    timespan = timedelta(seconds=correlation.timespan_seconds)
    window = _Window(correlation)
    specs = []
    for hit in hits:
        if fired_until is not None and hit.time <= fired_until:
            continue  # already part of a window that fired
        window.add(hit)
        while hit.time - window.hits[window.lo].time > timespan:
            window.drop_first()
        ok, value = window.satisfied()
        if ok:
            evidence = window.evidence()
            specs.append(_spec(correlation, group, value, evidence, evidence[0].time, hit.time))
            window = _Window(correlation)  # start afresh after the window that fired
    return specs


def _tumbling(correlation: Correlation, group, hits: list[_Hit], start: datetime, end: datetime) -> list[MatchSpec]:
    seconds = correlation.timespan_seconds
    by_bucket: dict[int, list[_Hit]] = defaultdict(list)
    for hit in hits:
        by_bucket[bucket_start(hit.time, seconds)].append(hit)
    specs = []
    for bucket, bucket_hits in sorted(by_bucket.items()):
        bucket_from = datetime.fromtimestamp(bucket, tz=UTC)
        if bucket_from < start or bucket_from + timedelta(seconds=seconds) > end:
            continue  # only whole, closed windows can be judged against lt/lte/eq/neq
        window = _Window(correlation)
        for hit in bucket_hits:
            window.add(hit)
        ok, value = window.satisfied()
        if ok:
            specs.append(_spec(correlation, group, value, window.evidence(), bucket_from, bucket_hits[-1].time))
    return specs


def _spec(correlation: Correlation, group, value, evidence: list[_Hit], window_start: datetime, at: datetime):
    event_ids = list(dict.fromkeys(h.event_id for h in evidence if h.event_id is not None))
    group_fields = dict(zip(correlation.group_by, group, strict=True))
    if len(correlation.group_by) == 1:
        entity = group[0]
        column = correlation.base_rules[0].columns.get(correlation.group_by[0]) if correlation.base_rules else None
        entity_type = _ENTITY_TYPES.get(column or "", "group")
    else:
        entity = ", ".join(f"{k}={v}" for k, v in group_fields.items())
        entity_type = "group" if group else ""
    bucket = bucket_start(window_start, correlation.timespan_seconds)
    return MatchSpec(
        dedup_key=match_key("c", "|".join(group), bucket),
        time=at,
        event_id=evidence[-1].event_id if evidence else None,
        evidence_event_ids=event_ids[:MAX_EVIDENCE],
        entity_type=entity_type,
        entity=entity[:512],
        fields={
            **group_fields,
            "group": list(group),
            "correlation_type": correlation.type.name.lower(),
            "value": value,
            "condition": {correlation.op: correlation.count} if correlation.extended is None else "extended",
            "rules": sorted({correlation.reference_by_rule[h.rule_id] for h in evidence}),
            "window_start": window_start.isoformat(),
            "window_end": at.isoformat(),
            "base_matches": len(evidence),
        },
    )


# --------------------------------------------------------------------------- services


def default_lookback(correlation: Correlation) -> timedelta:
    return max(timedelta(seconds=2 * correlation.timespan_seconds), timedelta(hours=1))


def evaluate_correlation(
    *,
    rule: DetectionRule,
    now: datetime | None = None,
    lookback: timedelta | None = None,
    run: DetectionRun | None = None,
) -> int:
    """Evaluate one correlation rule over base matches of [now - lookback, now]; returns new matches recorded."""
    now = now or timezone.now()
    correlation = parse_correlation(rule)
    start = now - (lookback or default_lookback(correlation))
    return record_matches(rule=rule, matches=correlation_matches(correlation, start, now), run=run)


def _scheduled_window(rule: DetectionRule, evaluated_until: datetime | None, now: datetime):
    from detections.services.scheduled import MAX_CATCH_UP

    correlation = parse_correlation(rule)
    timespan = timedelta(seconds=correlation.timespan_seconds)
    start = (evaluated_until or now - default_lookback(correlation)) - timespan
    # Base matches recorded since the last evaluation may be about old events (a late batch).
    late = RuleMatch.objects.filter(rule_id__in=[b.rule_id for b in correlation.base_rules])
    if evaluated_until is not None:
        late = late.filter(created_at__gt=evaluated_until - timedelta(minutes=1))
    earliest = late.filter(time__lt=start).aggregate(earliest=Min("time"))["earliest"]
    if earliest is not None:
        start = earliest
    return max(start, now - MAX_CATCH_UP), now


def _scheduled_evaluate(rule: DetectionRule, start: datetime, end: datetime) -> list[MatchSpec]:
    return correlation_matches(parse_correlation(rule), start, end)


def run_correlations_window(*, start: datetime, end: datetime, source_ids) -> list[DetectionRun]:
    """Evaluate every enabled correlation over [start, end) on these sources only (validation replays)."""
    from detections.services.analytics.base import only_sources
    from detections.services.scheduled import SCHEDULED_STATUSES, run_scheduled_rules

    rules = DetectionRule.objects.filter(
        kind=DetectionRule.Kind.SIGMA_CORRELATION, status__in=SCHEDULED_STATUSES
    ).order_by("pk")
    with only_sources(source_ids):
        run = run_scheduled_rules(
            rules, evaluate=_scheduled_evaluate, now=end, window_for=lambda rule, until, now: (start, end)
        )
    return [run] if run else []


def run_due_correlations(now: datetime | None = None) -> DetectionRun | None:
    """Evaluate every scheduled correlation rule since its watermark; one DetectionRun (None if no rules)."""
    from detections.services.scheduled import SCHEDULED_STATUSES, run_scheduled_rules

    rules = DetectionRule.objects.filter(
        kind=DetectionRule.Kind.SIGMA_CORRELATION, status__in=SCHEDULED_STATUSES
    ).order_by("pk")
    return run_scheduled_rules(rules, evaluate=_scheduled_evaluate, now=now, window_for=_scheduled_window)
