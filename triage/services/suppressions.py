"""Suppressions: which matches are counted instead of alerted, and who may say so.

A suppression hides future matches whose fields equal all its conditions (glob * allowed),
scoped to a rule, a strategy, or (engineers only) everything. The policy below keeps an
analyst from blinding detection: concrete conditions, a scope, a bounded expiry, and an impact
limit on past matches above which an engineer must decide. Every path (API, admin, the alert
page's "suppress similar") goes through these functions.

Not for: applying suppressions while raising alerts (triage.services.alerting calls
`active_suppressions` and `suppression_for`).
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone

from detections.models import DetectionRule, RuleMatch, Strategy
from detections.pipelines import raw_value
from telemetry.schema import CANONICAL_FIELDS
from triage.models import Suppression

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
