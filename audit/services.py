"""Recording into the audit trail; every state-changing service calls `record_change` inside its transaction.

Recording in the same transaction as the change means a rolled-back change leaves no entry and
a committed change always has one.
"""

from __future__ import annotations

from typing import Any

from audit.models import AuditEntry

SYSTEM_ACTOR = "system"


def _plain(value: Any) -> Any:
    """A JSON-storable form of a field value (dates as ISO text, models as their id)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return str(value)


def record_change(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: Any,
    object_repr: str = "",
    changes: dict[str, tuple[Any, Any]] | None = None,
    note: str = "",
) -> AuditEntry:
    """Store one audit entry; `changes` maps a field to (before, after) and only real changes are kept."""
    kept = {
        name: [_plain(before), _plain(after)] for name, (before, after) in (changes or {}).items() if before != after
    }
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=(getattr(actor, "get_username", lambda: "")() or SYSTEM_ACTOR)[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=str(object_repr)[:255],
        changes=kept,
        note=note or "",
    )
