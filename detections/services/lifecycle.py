"""Lifecycle of a strategy: draft -> review -> production -> retired, along Strategy.TRANSITIONS only."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from detections.models import Strategy


def transition_strategy(*, strategy: Strategy, to: str, user=None, reason: str = "") -> Strategy:
    """Move a strategy to another lifecycle status; refuses moves the lifecycle does not allow."""
    if user is not None and not user.has_perm("detections.change_strategy"):
        raise PermissionDenied("Changing a strategy's status needs the detections.change_strategy permission.")
    if to not in Strategy.Status.values:
        raise ValidationError(f"Unknown status {to!r}.")
    current = Strategy.Status(strategy.status)
    if to == current:
        return strategy
    allowed = Strategy.TRANSITIONS[current]
    if to not in allowed:
        names = ", ".join(sorted(Strategy.Status(s).label for s in allowed))
        raise ValidationError(f"A {current.label.lower()} strategy can move to: {names}; not to {to}.")
    with transaction.atomic():
        strategy.status = to
        strategy._change_reason = reason or f"status {current} -> {to}"
        strategy.save(update_fields=["status", "updated_at"])
    return strategy
