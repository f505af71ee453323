"""Read paths of triage that need care: the filtered alert queue and an alert's evidence.

The queue is ordered (-last_seen, -id), which the (status|rule|strategy, -last_seen) indexes
serve and which keyset pagination can follow. Evidence loads events in one query, capped:
an alert may group thousands of matches. Not for: changing alerts (triage.services).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from telemetry.models import Event
from telemetry.schema import CANONICAL_FIELDS
from triage.models import Alert, AlertEvidence

# Matches shown with an alert; the rest are counted (a grouped alert can hold thousands).
EVIDENCE_LIMIT = 50
# Events shown per match (a correlation's match names every event of its group).
EVENTS_PER_MATCH = 20


def filter_alerts(
    *,
    status: list[str] | None = None,
    severity: list[str] | None = None,
    strategy: str = "",
    rule: int | None = None,
    entity: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    oldest_first: bool = False,
) -> QuerySet[Alert]:
    """Alerts by status(es), severity(ies), strategy slug, rule id, entity, and last_seen in [since, until)."""
    alerts = Alert.objects.select_related("rule", "strategy", "assignee")
    if status:
        alerts = alerts.filter(status__in=status)
    if severity:
        alerts = alerts.filter(severity__in=severity)
    if strategy:
        alerts = alerts.filter(strategy__slug=strategy)
    if rule is not None:
        alerts = alerts.filter(rule_id=rule)
    if entity:
        alerts = alerts.filter(entity=entity)
    if since is not None:
        alerts = alerts.filter(last_seen__gte=since)
    if until is not None:
        alerts = alerts.filter(last_seen__lt=until)
    return alerts.order_by("last_seen", "id") if oldest_first else alerts.order_by("-last_seen", "-id")


@dataclass
class AlertEvidenceView:
    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0

    @property
    def truncated(self) -> bool:
        return self.total > len(self.items)


def _event_dict(event: Event) -> dict[str, Any]:
    values = {}
    for name in CANONICAL_FIELDS:
        if name == "time":
            continue
        value = getattr(event, name, None)
        if value not in (None, ""):
            values[name] = value
    return {"id": event.pk, "source": event.source.name, "time": event.time, "fields": values, "raw": event.raw}


def alert_evidence(alert: Alert, *, limit: int = EVIDENCE_LIMIT) -> AlertEvidenceView:
    """The alert's first matches (oldest first), each with its events' canonical fields and raw record."""
    rows = (
        AlertEvidence.objects.filter(alert=alert).select_related("match").order_by("match__time", "match__id")[:limit]
    )
    matches = [row.match for row in rows]
    event_ids: dict[int, list[int]] = {}
    for match in matches:
        ids = list(match.evidence_event_ids or ([match.event_id] if match.event_id else []))
        event_ids[match.pk] = [i for i in ids if isinstance(i, int)][:EVENTS_PER_MATCH]
    wanted = {i for ids in event_ids.values() for i in ids}
    events = Event.objects.select_related("source").in_bulk(wanted) if wanted else {}
    items = [
        {
            "match": match.pk,
            "rule": match.rule_id,
            "time": match.time,
            "entity_type": match.entity_type,
            "entity": match.entity,
            "matched_fields": match.fields or {},
            "events": [_event_dict(events[i]) for i in event_ids[match.pk] if i in events],
        }
        for match in matches
    ]
    total = len(items) if len(items) < limit else AlertEvidence.objects.filter(alert=alert).count()
    return AlertEvidenceView(items=items, total=total)
