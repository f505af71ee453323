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

import fnmatch
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from detections.models import DetectionRule, DetectionRun, RuleMatch, Strategy
from detections.pipelines import raw_value
from detections.services.correlation import base_rule_ids_without_output
from telemetry.schema import CANONICAL_FIELDS
from triage.models import Alert, AlertEvidence, Severity, Suppression, SuppressionHit

DEFAULT_ALERT_WINDOW_SECONDS = 3600
_SEVERITY_ORDER = [s.value for s in Severity]  # informational < low < medium < high < critical
# Matches handled per transaction by the sweep, so one huge backlog never holds one huge lock.
SWEEP_CHUNK = 2000
# Past matches looked at when judging what a suppression would have hidden (newest first).
PREVIEW_SCAN_LIMIT = 50_000


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


# --------------------------------------------------------------------------- suppressions


def _active_suppressions(now: datetime) -> list[Suppression]:
    return list(
        Suppression.objects.filter(enabled=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("id")
    )


def _applies_to(suppression: Suppression, rule: DetectionRule, strategy_ids: set[int]) -> bool:
    # Scoped to a rule and/or a strategy; with neither, global.
    rule_ok = suppression.rule_id is None or suppression.rule_id == rule.pk
    return rule_ok and (suppression.strategy_id is None or suppression.strategy_id in strategy_ids)


def match_value(match: RuleMatch, name: str) -> Any:
    """A field's value for a match: its matched fields, then the event's canonical columns, then raw."""
    if name in (match.fields or {}):
        return match.fields[name]
    if name in ("entity", "entity_type"):
        return getattr(match, name)
    event = match.event
    if event is None:
        return None
    if name in CANONICAL_FIELDS:
        return getattr(event, name, None)
    return raw_value(event.raw, name, source_format=None)


def _value_matches(actual: Any, expected: Any) -> bool:
    if actual is None or actual == "":
        return expected in (None, "")
    if isinstance(actual, list):
        return any(_value_matches(item, expected) for item in actual)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    # Sigma and analysts both expect case-insensitive comparisons; `*` and `?` are globs.
    return fnmatch.fnmatchcase(str(actual).lower(), str(expected).lower())


def conditions_hold(conditions: dict[str, Any], match: RuleMatch) -> bool:
    """All conditions hold: each field's value equals (glob) the value, or one of the values listed."""
    if not conditions:
        return False  # an empty suppression would silence everything in scope: refuse that reading
    for name, expected in conditions.items():
        options = expected if isinstance(expected, list) else [expected]
        actual = match_value(match, name)
        if not any(_value_matches(actual, option) for option in options):
            return False
    return True


def _suppression_for(match: RuleMatch, suppressions: list[Suppression], strategy_ids: set[int]) -> Suppression | None:
    for suppression in suppressions:
        if _applies_to(suppression, match.rule, strategy_ids) and conditions_hold(suppression.conditions, match):
            return suppression
    return None


# Who may silence what (issue 13: an analyst's `{"container_id": "*"}` with no rule hid a netcat
# RCE). Every path that creates or changes a suppression (API, admin, pages) goes through
# check_suppression_policy, so the bounds hold however a suppression is made.
_WILDCARDS = frozenset("*?")
_EDITABLE = ("name", "conditions", "reason", "rule", "strategy", "expires_at", "enabled", "owner_name")


def _literal_characters(value: Any) -> int:
    if isinstance(value, bool | int | float):
        return 2**31  # a number or a boolean is one exact value
    if not isinstance(value, str):
        return 0
    return sum(1 for char in value.strip() if char not in _WILDCARDS)


def _blind_conditions(conditions: Any) -> list[str]:
    """The fields whose values match (nearly) anything: only wildcards, empty, or too few literal characters."""
    minimum = settings.SUPPRESSION_MIN_LITERAL_CHARACTERS
    blind = []
    for name, value in conditions.items():
        values = value if isinstance(value, list) else [value]
        if not values or any(_literal_characters(v) < minimum for v in values):
            blind.append(str(name))
    return blind


def check_suppression_policy(
    *,
    user,
    conditions: Any,
    rule: DetectionRule | None,
    strategy: Strategy | None,
    expires_at: datetime | None,
    enabled: bool = True,
) -> None:
    """Refuse a suppression (as it would be after a create or change) that `user` may not have.

    Everyone: at least one condition, none matching (nearly) anything. Analysts (anyone who is
    not a detection engineer or admin; `user=None` is the system, e.g. the shipped library):
    scoped to a rule or strategy, expiring within SUPPRESSION_ANALYST_MAX_DAYS, and hiding at
    most SUPPRESSION_ANALYST_MAX_PAST_MATCHES past matches. ValidationError (400) for the
    shape, PermissionDenied (403) for a suppression only an engineer may decide on.
    """
    from accounts.roles import is_detection_engineer

    if not isinstance(conditions, dict) or not conditions:
        raise ValidationError({"conditions": "give at least one field: value (or list of values) condition"})
    blind = _blind_conditions(conditions)
    if blind:
        minimum = settings.SUPPRESSION_MIN_LITERAL_CHARACTERS
        raise ValidationError(
            {
                "conditions": f"{', '.join(blind)}: a value that matches (nearly) anything would blind detection; "
                f"give the exact value, or at least {minimum} characters besides * and ?"
            }
        )
    if user is None or is_detection_engineer(user) or not enabled:
        return  # a disabled suppression hides nothing; the bounds apply when it is (re-)enabled
    problems = {}
    if rule is None and strategy is None:
        problems["rule"] = "an analyst's suppression names the rule (or the strategy) whose matches it covers"
    max_days = settings.SUPPRESSION_ANALYST_MAX_DAYS
    now = timezone.now()
    if expires_at is None:
        problems["expires_at"] = f"an analyst's suppression expires, at most {max_days} days from now"
    elif expires_at <= now:
        problems["expires_at"] = "the expiry is in the past"
    elif expires_at > now + timedelta(days=max_days):
        problems["expires_at"] = f"at most {max_days} days from now for an analyst; a detection engineer may set longer"
    if problems:
        raise ValidationError(problems)
    limit = settings.SUPPRESSION_ANALYST_MAX_PAST_MATCHES
    hidden = suppression_preview(conditions=conditions, rule=rule, strategy=strategy)
    if hidden > limit:
        raise PermissionDenied(f"This suppression would hide {hidden} past matches; needs a detection engineer.")


def may_change_suppression(*, suppression: Suppression, user) -> bool:
    """Its owner or a detection engineer; a shipped (owner-less) suppression only an engineer."""
    from accounts.roles import is_detection_engineer

    if user is None:
        return True  # the system
    if not user.has_perm("triage.change_suppression"):
        return False
    return is_detection_engineer(user) or (suppression.owner_id is not None and suppression.owner_id == user.pk)


def create_suppression(
    *,
    name: str,
    conditions: dict[str, Any],
    reason: str,
    user=None,
    owner=None,
    expires_at: datetime | None = None,
    rule: DetectionRule | None = None,
    strategy: Strategy | None = None,
    enabled: bool = True,
    owner_name: str = "",
) -> Suppression:
    """A suppression of future matches, as `user` may make it (check_suppression_policy); owned by `user`."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "say why these matches are benign"})
    check_suppression_policy(
        user=user, conditions=conditions, rule=rule, strategy=strategy, expires_at=expires_at, enabled=enabled
    )
    suppression = Suppression(
        name=name,
        conditions=conditions,
        reason=reason,
        owner=owner if owner is not None else user,
        updated_by=user,
        expires_at=expires_at,
        rule=rule,
        strategy=strategy,
        enabled=enabled,
        owner_name=owner_name,
    )
    suppression.full_clean()
    suppression.save()
    return suppression


def update_suppression(*, suppression: Suppression, user, changes: dict[str, Any]) -> Suppression:
    """Change a suppression (its owner or an engineer), the result held to the same policy as a new one."""
    if not may_change_suppression(suppression=suppression, user=user):
        raise PermissionDenied("Only the suppression's owner or a detection engineer may change it.")
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "not a field a suppression change sets"))
    if "reason" in changes and not (changes["reason"] or "").strip():
        raise ValidationError({"reason": "say why these matches are benign"})
    after = {name: changes.get(name, getattr(suppression, name)) for name in _EDITABLE}
    check_suppression_policy(
        user=user,
        conditions=after["conditions"],
        rule=after["rule"],
        strategy=after["strategy"],
        expires_at=after["expires_at"],
        enabled=after["enabled"],
    )
    for name, value in changes.items():
        setattr(suppression, name, value)
    suppression.updated_by = user
    suppression.full_clean()
    suppression.save()
    return suppression


def disable_suppression(*, suppression: Suppression, user) -> Suppression:
    """Stop a suppression (its owner or an engineer): its matches alert again from now on."""
    return update_suppression(suppression=suppression, user=user, changes={"enabled": False})


def delete_suppression(*, suppression: Suppression, user) -> None:
    """Delete a suppression: a detection engineer's decision (analysts disable theirs instead)."""
    from accounts.roles import is_detection_engineer

    if user is not None and not (user.has_perm("triage.delete_suppression") and is_detection_engineer(user)):
        raise PermissionDenied("Deleting a suppression needs a detection engineer; disable it instead.")
    suppression.delete()


def suppression_preview(
    *,
    conditions: dict[str, Any],
    rule: DetectionRule | None = None,
    strategy: Strategy | None = None,
    limit: int = PREVIEW_SCAN_LIMIT,
) -> int:
    """How many of the `limit` newest past matches (of `rule`, of `strategy`'s rules, or of every rule)
    these conditions would have suppressed."""
    matches = RuleMatch.objects.select_related("event", "rule").order_by("-id")
    if rule is not None:
        matches = matches.filter(rule=rule)
    if strategy is not None:
        matches = matches.filter(rule__strategies=strategy)
    return sum(1 for match in matches[:limit].iterator(chunk_size=1000) if conditions_hold(conditions, match))


# --------------------------------------------------------------------------- alerts


def severity_for(rule: DetectionRule, strategy: Strategy | None) -> str:
    level = rule.level if rule.level in _SEVERITY_ORDER else Severity.MEDIUM
    priority = strategy.priority if strategy is not None and strategy.priority in _SEVERITY_ORDER else None
    if priority is None:
        return level
    return max(level, priority, key=_SEVERITY_ORDER.index)


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
    suppressions = _active_suppressions(now)
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
            suppression = _suppression_for(match, suppressions, strategy_ids)
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


# --------------------------------------------------------------------------- alert lifecycle
# (added with the REST API: the one way an alert changes status, from pages, the API and commands)

ALERT_TRANSITIONS: dict[str, set[str]] = {
    Alert.Status.NEW: {Alert.Status.ACKNOWLEDGED, Alert.Status.CLOSED},
    Alert.Status.ACKNOWLEDGED: {Alert.Status.IN_PROGRESS, Alert.Status.CLOSED},
    Alert.Status.IN_PROGRESS: {Alert.Status.CLOSED},
    Alert.Status.CLOSED: {Alert.Status.IN_PROGRESS},  # reopening
}


def transition_alert(*, alert: Alert, to: str, user, disposition: str = "", reason: str = "") -> Alert:
    """Move an alert along New → Acknowledged → In progress → Closed (New/Acknowledged may close directly;
    Closed reopens to In progress). Closing needs a disposition and a reason; reopening clears them.

    `user` is who moves it (None for the system). Raises PermissionDenied without triage.change_alert,
    ValidationError for a move the lifecycle does not allow. Moving to the current status changes nothing.
    """
    if user is not None and not user.has_perm("triage.change_alert"):
        raise PermissionDenied("Changing an alert's status needs the triage.change_alert permission.")
    if to not in Alert.Status.values:
        raise ValidationError({"status": f"Unknown status {to!r}."})
    closing = to == Alert.Status.CLOSED
    if closing:
        problems = {}
        if disposition not in Alert.Disposition.values or not disposition:
            choices = ", ".join(v for v in Alert.Disposition.values if v)
            problems["disposition"] = f"Closing an alert needs a disposition: one of {choices}."
        if not (reason or "").strip():
            problems["reason"] = "Closing an alert needs a reason: say what the analysis found."
        if problems:
            raise ValidationError(problems)
    with transaction.atomic():
        # The locked row decides: two analysts moving one alert at once see each other's move.
        current = Alert.Status(Alert.objects.select_for_update().values_list("status", flat=True).get(pk=alert.pk))
        if to == current:
            return alert
        allowed = ALERT_TRANSITIONS[current]
        if to not in allowed:
            names = ", ".join(sorted(Alert.Status(s).label for s in allowed))
            raise ValidationError({"status": f"A {current.label.lower()} alert can move to: {names}; not to {to}."})
        alert.status = to
        alert.disposition = disposition if closing else ""
        alert.close_reason = reason.strip() if closing else ""
        alert.save(update_fields=["status", "disposition", "close_reason", "updated_at"])
    return alert
