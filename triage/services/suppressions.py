"""Suppressions: which matches are counted instead of alerted, and who may say so.

A suppression hides future matches whose fields equal all its conditions (glob * allowed),
scoped to a rule, a strategy, or (engineers only) everything. The policy below keeps an
analyst from blinding detection: concrete conditions, a scope, a bounded expiry, and an impact
limit on past matches above which an engineer must decide. Every path (API, admin, the alert
page's "suppress similar") goes through these functions.

Every creation, change and deletion is recorded in the audit trail in the same transaction;
a suppression made from an alert ("suppress similar") is also recorded on the alert, so its
timeline says what was silenced after it.

Not for: applying suppressions while raising alerts (triage.services.alerting calls
`active_suppressions` and `suppression_for`).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record_change
from detections.models import DetectionRule, RuleMatch, Strategy
from detections.pipelines import raw_value
from telemetry.schema import CANONICAL_FIELDS
from triage.models import Alert, Suppression

# Past matches looked at when judging what a suppression would have hidden (newest first).
PREVIEW_SCAN_LIMIT = 50_000


def active_suppressions(now: datetime) -> list[Suppression]:
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


def suppression_for(match: RuleMatch, suppressions: list[Suppression], strategy_ids: set[int]) -> Suppression | None:
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
    past_matches: int | None = None,
) -> None:
    """Refuse a suppression (as it would be after a create or change) that `user` may not have.

    Everyone: at least one condition, none matching (nearly) anything. Analysts (anyone who is
    not a detection engineer or admin; `user=None` is the system, e.g. the shipped library):
    scoped to a rule or strategy, expiring within SUPPRESSION_ANALYST_MAX_DAYS, and hiding at
    most SUPPRESSION_ANALYST_MAX_PAST_MATCHES past matches (`past_matches` when the caller has
    just counted them, e.g. a preview; counted here otherwise). ValidationError (400) for the
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
    hidden = past_matches
    if hidden is None:
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
    with transaction.atomic():
        suppression.save()
        _record_suppression_change(
            user,
            "suppression.create",
            suppression,
            {name: (None, _audited(getattr(suppression, name))) for name in _AUDITED},
            note=suppression.reason,
        )
    return suppression


# What an audit entry of a suppression shows: what it hides, where, until when, and whose it is.
_AUDITED = ("conditions", "rule", "strategy", "expires_at", "enabled", "owner")


def _record_suppression_change(user, action: str, suppression: Suppression, changes: dict, note: str = "") -> None:
    record_change(
        actor=user,
        action=action,
        object_type="suppression",
        object_id=suppression.pk,
        object_repr=suppression.name,
        changes=changes,
        note=note,
    )


def _audited(value: Any) -> Any:
    # Models by their name in the trail (a rule's id says little to whoever reads it later).
    return str(value) if isinstance(value, DetectionRule | Strategy) or hasattr(value, "get_username") else value


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
    before = {name: _audited(getattr(suppression, name)) for name in _EDITABLE}
    for name, value in changes.items():
        setattr(suppression, name, value)
    suppression.updated_by = user
    suppression.full_clean()
    with transaction.atomic():
        suppression.save()
        _record_suppression_change(
            user,
            "suppression.change",
            suppression,
            {name: (before[name], _audited(getattr(suppression, name))) for name in _EDITABLE},
        )
    return suppression


def disable_suppression(*, suppression: Suppression, user) -> Suppression:
    """Stop a suppression (its owner or an engineer): its matches alert again from now on."""
    return update_suppression(suppression=suppression, user=user, changes={"enabled": False})


def delete_suppression(*, suppression: Suppression, user) -> None:
    """Delete a suppression: a detection engineer's decision (analysts disable theirs instead)."""
    from accounts.roles import is_detection_engineer

    if user is not None and not (user.has_perm("triage.delete_suppression") and is_detection_engineer(user)):
        raise PermissionDenied("Deleting a suppression needs a detection engineer; disable it instead.")
    with transaction.atomic():
        _record_suppression_change(
            user, "suppression.delete", suppression, {"conditions": (suppression.conditions, None)}
        )
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
    return suppression_impact(conditions=conditions, rule=rule, strategy=strategy, limit=limit).matches


@dataclass
class SuppressionImpact:
    """What a suppression would have hidden in the past: matches, and the alerts they are evidence of."""

    matches: int = 0
    scanned: int = 0
    limit: int = PREVIEW_SCAN_LIMIT
    # Alert id -> how many of its matches the conditions cover, most recent alert first.
    alert_matches: dict[int, int] = field(default_factory=dict)

    @property
    def alerts(self) -> int:
        return len(self.alert_matches)

    @property
    def matches_without_alert(self) -> int:
        """Matches already suppressed (by another suppression) or not raised yet."""
        return self.matches - sum(self.alert_matches.values())

    @property
    def scan_was_capped(self) -> bool:
        return self.scanned >= self.limit


def suppression_impact(
    *,
    conditions: dict[str, Any],
    rule: DetectionRule | None = None,
    strategy: Strategy | None = None,
    limit: int = PREVIEW_SCAN_LIMIT,
) -> SuppressionImpact:
    """The `limit` newest past matches in scope that these conditions would have suppressed, and their alerts."""
    matches = RuleMatch.objects.select_related("event", "rule", "alert_evidence").order_by("-id")
    if rule is not None:
        matches = matches.filter(rule=rule)
    if strategy is not None:
        matches = matches.filter(rule__strategies=strategy)
    impact = SuppressionImpact(limit=limit)
    per_alert: Counter[int] = Counter()
    for match in matches[:limit].iterator(chunk_size=1000):
        impact.scanned += 1
        if not conditions_hold(conditions, match):
            continue
        impact.matches += 1
        evidence = getattr(match, "alert_evidence", None)
        if evidence is not None:
            per_alert[evidence.alert_id] += 1
    impact.alert_matches = dict(per_alert)  # insertion order: newest match first, so newest alert first
    return impact


# --------------------------------------------------------------------------- from an alert


SCOPES = ("rule", "strategy", "everything")


def literal_pattern(value: Any) -> str:
    """A condition value that matches `value` exactly: the glob characters it contains, bracketed."""
    text = str(value)
    # fnmatch has no backslash escape; a one-character class is the literal ("[[]" is "[").
    return text.replace("[", "[[]").replace("*", "[*]").replace("?", "[?]")


def is_concrete(value: Any) -> bool:
    """Whether a value is concrete enough for the policy (numbers are; text needs the minimum of literals)."""
    return _literal_characters(value) >= settings.SUPPRESSION_MIN_LITERAL_CHARACTERS


def suppress_similar(
    *,
    alert: Alert,
    conditions: dict[str, Any],
    reason: str,
    user,
    expires_at: datetime | None,
    scope: str = "rule",
    name: str = "",
) -> Suppression:
    """A suppression of matches like `alert`'s, scoped to its rule (or strategy, or everything), owned by `user`.

    Held to the same policy as any suppression (create_suppression); recorded on the alert's
    timeline as well as in the suppression's own trail.
    """
    from triage.services.workflow import require_permission

    require_permission(user, "triage.add_suppression", "Suppressing matches")
    if scope not in SCOPES:
        raise ValidationError(
            {"scope": f"Suppress within the alert's rule, its strategy, or everything; not {scope!r}."}
        )
    if scope == "strategy" and alert.strategy_id is None:
        raise ValidationError({"scope": "This alert has no strategy: suppress within its rule."})
    rule = alert.rule if scope == "rule" else None
    strategy = alert.strategy if scope == "strategy" else None
    name = (name or "").strip() or f"Similar to alert #{alert.pk}: {alert.title}"
    with transaction.atomic():
        suppression = create_suppression(
            name=name[:255],
            conditions=conditions,
            reason=reason,
            user=user,
            expires_at=expires_at,
            rule=rule,
            strategy=strategy,
        )
        until = f" until {timezone.localtime(expires_at):%Y-%m-%d %H:%M %Z}" if expires_at else ", never expiring"
        record_change(
            actor=user,
            action="alert.suppress_similar",
            object_type="alert",
            object_id=alert.pk,
            object_repr=alert.title,
            changes={"suppression": (None, f"#{suppression.pk} {suppression.name}")},
            note=f"{_describe(conditions)} in {scope if scope != 'rule' else 'this rule'}{until}: {suppression.reason}",
        )
    return suppression


def _describe(conditions: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} = {' or '.join(map(str, value)) if isinstance(value, list) else value}"
        for name, value in conditions.items()
    )
