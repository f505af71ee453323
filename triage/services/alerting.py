"""Turning rule matches into alerts: suppressions first, then grouping by rule, entity and window.

Every match is accounted for exactly once, as a SuppressionHit or as AlertEvidence
(both one-to-one on the match), so `raise_alerts` can run any number of times over
the same matches (task redelivery, the sweep, a re-run) and leave the same result.

Grouping (decided here, documented in docs/alerting.md):
- group = rule + entity (container > pod > workload > host > source address, see
  detections.services.detection.entity_of). A match joins the open (not closed)
  alert of its group whose [first_seen, last_seen] lies within the rule's window
  (`parameters.alert_window_seconds`, default 3600 s) of the match time, extending
  it; otherwise it opens a new alert. `group_key` is rule + entity + the window
  bucket of the new alert's first match, unique in the database.
- One alert per group, not per strategy: `strategy` is the rule's first linked
  strategy (its primary one, by link order).
- severity = the higher of the rule's level and the strategy's priority (a strategy
  judged critical raises its rules' alerts; it never lowers them).
Two workers cannot split a group: alert raising for a rule holds that rule's row lock.

Sigma `generate: false`: the matches of a base rule that only correlations without
`generate: true` reference (detections.services.correlation.base_rule_ids_without_output)
feed those correlations and raise nothing of their own. They are left as they are, no
evidence and no suppression hit, and the sweep excludes them by rule id, so they are
never picked up again; if a generating correlation later references the rule, the sweep
takes its matches from then on.

Not for: recording matches (detections.services.detection), the alert lifecycle
(acknowledge, close: the triage queue's own services).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from detections.models import DetectionRule, DetectionRun, RuleMatch, Strategy
from detections.services.correlation import base_rule_ids_without_output
from triage.live import announce_alerts_changed
from triage.models import SEVERITY_ORDER, Alert, AlertEvidence, Severity, Suppression, SuppressionHit
from triage.services.suppressions import active_suppressions, suppression_for

DEFAULT_ALERT_WINDOW_SECONDS = 3600
# Matches handled per transaction by the sweep, so one huge backlog never holds one huge lock.
SWEEP_CHUNK = 2000


@dataclass
class AlertOutcome:
    created: int = 0
    updated: int = 0
    suppressed: int = 0

    def __iadd__(self, other: AlertOutcome) -> AlertOutcome:
        self.created += other.created
        self.updated += other.updated
        self.suppressed += other.suppressed
        return self


# --------------------------------------------------------------------------- alerts


def severity_for(rule: DetectionRule, strategy: Strategy | None) -> str:
    level = rule.level if rule.level in SEVERITY_ORDER else Severity.MEDIUM
    priority = strategy.priority if strategy is not None and strategy.priority in SEVERITY_ORDER else None
    if priority is None:
        return level
    return max(level, priority, key=SEVERITY_ORDER.index)


def primary_strategy(rule: DetectionRule) -> Strategy | None:
    link = (
        DetectionRule.strategies.through.objects.filter(detectionrule_id=rule.pk)
        .select_related("strategy")
        .order_by("id")
        .first()
    )
    return link.strategy if link is not None else None


def window_seconds(rule: DetectionRule) -> int:
    try:
        value = int((rule.parameters or {}).get("alert_window_seconds", DEFAULT_ALERT_WINDOW_SECONDS))
    except (TypeError, ValueError):
        value = DEFAULT_ALERT_WINDOW_SECONDS
    return max(value, 1)


def _group_key(rule: DetectionRule, entity_type: str, entity: str, bucket: int) -> str:
    # The entity is attacker-influenced and may be long: hash it to keep the key bounded.
    digest = hashlib.sha256(f"{entity_type}:{entity}".encode()).hexdigest()[:32]
    return f"r{rule.pk}:{digest}:{bucket}"


def unaccounted(matches: QuerySet) -> QuerySet:
    return matches.filter(alert_evidence__isnull=True, suppression_hit__isnull=True)


def raise_alerts(*, matches: Iterable[RuleMatch] | QuerySet) -> AlertOutcome:
    """Suppress or alert on every match not yet accounted for; idempotent.

    Matches of base rules without output of their own (Sigma `generate: false`) are skipped.
    """
    ids = [m.pk for m in matches] if not isinstance(matches, QuerySet) else list(matches.values_list("pk", flat=True))
    by_rule: dict[int, list[int]] = defaultdict(list)
    for rule_id, match_id in RuleMatch.objects.filter(pk__in=ids).values_list("rule_id", "pk"):
        by_rule[rule_id].append(match_id)
    if by_rule:
        for rule_id in base_rule_ids_without_output():
            by_rule.pop(rule_id, None)
    outcome = AlertOutcome()
    now = timezone.now()
    suppressions = active_suppressions(now)
    for rule_id, match_ids in sorted(by_rule.items()):
        outcome += _raise_for_rule(rule_id, match_ids, suppressions)
    return outcome


def _raise_for_rule(rule_id: int, match_ids: list[int], suppressions: list[Suppression]) -> AlertOutcome:
    outcome = AlertOutcome()
    with transaction.atomic():
        # The rule's row lock serialises alert raising per rule: two workers never open two
        # alerts for one group, and a match is never accounted twice.
        rule = DetectionRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            return outcome
        strategy = primary_strategy(rule)
        strategy_ids = set(rule.strategies.values_list("pk", flat=True))
        window = timedelta(seconds=window_seconds(rule))
        severity = severity_for(rule, strategy)
        pending = (
            unaccounted(RuleMatch.objects.filter(pk__in=match_ids))
            .select_related("event", "rule")
            .order_by("time", "id")
        )
        touched: dict[int, Alert] = {}
        created: set[int] = set()
        hits, evidence = [], []
        for match in pending:
            suppression = suppression_for(match, suppressions, strategy_ids)
            if suppression is not None:
                hits.append(SuppressionHit(suppression=suppression, match=match))
                outcome.suppressed += 1
                continue
            alert = _alert_for(rule, match, window, touched)
            if alert.pk is None:
                alert.title = f"{rule.title} on {match.entity}" if match.entity else rule.title
                alert.title = alert.title[:512]
                alert.strategy = strategy
                alert.severity = severity
                alert.group_key = _free_group_key(rule, match, window)
                alert.source_id = match.event.source_id if match.event_id else None
                alert.save()
                created.add(alert.pk)
            touched[alert.pk] = alert
            alert.count += 1
            alert.first_seen = min(alert.first_seen, match.time)
            alert.last_seen = max(alert.last_seen, match.time)
            evidence.append(AlertEvidence(alert=alert, match=match))
        SuppressionHit.objects.bulk_create(hits, ignore_conflicts=True)
        AlertEvidence.objects.bulk_create(evidence, ignore_conflicts=True)
        for alert in touched.values():
            alert.save(update_fields=["count", "first_seen", "last_seen", "updated_at"])
        announce_alerts_changed(touched, created=created)
        outcome.created += len(created)
        outcome.updated += len(set(touched) - created)
    return outcome


def _alert_for(rule: DetectionRule, match: RuleMatch, window: timedelta, touched: dict[int, Alert]) -> Alert:
    """The open alert of the match's group within the window, or a new (unsaved) one."""
    for alert in touched.values():
        if (
            alert.entity_type == match.entity_type
            and alert.entity == match.entity
            and alert.status != Alert.Status.CLOSED
            and alert.last_seen >= match.time - window
            and alert.first_seen <= match.time + window
        ):
            return alert
    found = (
        Alert.objects.filter(rule=rule, entity_type=match.entity_type, entity=match.entity[:512])
        .exclude(status=Alert.Status.CLOSED)
        .filter(last_seen__gte=match.time - window, first_seen__lte=match.time + window)
        .order_by("-last_seen")
        .first()
    )
    if found is not None:
        return touched.get(found.pk, found)
    return Alert(
        rule=rule,
        entity_type=match.entity_type,
        entity=match.entity[:512],
        first_seen=match.time,
        last_seen=match.time,
        count=0,
    )


def _free_group_key(rule: DetectionRule, match: RuleMatch, window: timedelta) -> str:
    bucket = int(match.time.timestamp() // window.total_seconds())
    key = _group_key(rule, match.entity_type, match.entity, bucket)
    # A closed alert keeps its key; a new alert in the same bucket gets the next free one.
    taken = set(Alert.objects.filter(group_key__startswith=key).values_list("group_key", flat=True))
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key}#{n}"
    return candidate


def raise_alerts_for_run(*, run_id: int) -> AlertOutcome:
    """Alerts for a detection run's matches; records on the run how many alerts its matches feed."""
    outcome = raise_alerts(matches=unaccounted(RuleMatch.objects.filter(run_id=run_id)))
    alerts = AlertEvidence.objects.filter(match__run_id=run_id).values("alert_id").distinct().count()
    DetectionRun.objects.filter(pk=run_id).update(alerts=alerts)
    return outcome


def raise_pending_alerts(*, limit: int = SWEEP_CHUNK * 10) -> AlertOutcome:
    """The sweep: every match with neither evidence nor suppression hit (oldest first).

    Matches of base rules without output (Sigma `generate: false`) stay unaccounted on
    purpose: they are excluded here by rule id, or the sweep would fetch them forever.
    """
    outcome = AlertOutcome()
    pending = unaccounted(RuleMatch.objects.exclude(rule_id__in=base_rule_ids_without_output()))
    ids = list(pending.order_by("id").values_list("id", flat=True)[:limit])
    for start in range(0, len(ids), SWEEP_CHUNK):
        outcome += raise_alerts(matches=RuleMatch.objects.filter(pk__in=ids[start : start + SWEEP_CHUNK]))
    run_ids = set(RuleMatch.objects.filter(pk__in=ids, run__isnull=False).values_list("run_id", flat=True))
    for run_id in run_ids:
        alerts = AlertEvidence.objects.filter(match__run_id=run_id).values("alert_id").distinct().count()
        DetectionRun.objects.filter(pk=run_id).update(alerts=alerts)
    return outcome
