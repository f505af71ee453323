"""Reading the audit trail: one object's entries (an alert's timeline) and the global, filtered trail."""

from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEntry


def entries_for(*, object_type: str, object_ids) -> QuerySet[AuditEntry]:
    """Entries about the given objects of one type, newest first."""
    ids = [str(i) for i in object_ids]
    return AuditEntry.objects.filter(object_type=object_type, object_id__in=ids).select_related("actor")


def audit_trail(*, actor: str = "", object_type: str = "", action: str = "") -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("actor")
    if actor:
        entries = entries.filter(actor_name=actor)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if action:
        entries = entries.filter(action=action)
    return entries.order_by("-created_at", "-id")
