"""Telemetry read paths: source health and silent sources, recent batches.

Not for state changes (telemetry.services). Arrival is measured from ingest
batches (`received_at`, `accepted`), not from event timestamps: a replay of last
month's logs is traffic arriving now, and a producer whose clock is off is still
alive. "Silent" means no delivery stored a new event for longer than the
source's expected cadence (a source that never delivered is silent from its
creation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from telemetry.models import IngestBatch, Source


@dataclass(frozen=True)
class SourceHealth:
    source: Source
    last_event_at: datetime | None
    last_ingest_at: datetime | None
    last_arrival_at: datetime | None  # latest delivery that stored at least one new event
    events_last_hour: int
    events_last_day: int
    silent_for_seconds: float | None  # None when the source has no expected cadence

    @property
    def events_per_minute(self) -> float:
        return round(self.events_last_hour / 60, 2)

    @property
    def is_silent(self) -> bool:
        return self.silent_for_seconds is not None


def sources_with_arrivals(now: datetime | None = None) -> QuerySet[Source]:
    """Sources annotated with last_arrival_at, events_last_hour and events_last_day (one query)."""
    now = now or timezone.now()
    last_arrival = (
        IngestBatch.objects.filter(source=OuterRef("pk"), accepted__gt=0)
        .order_by("-received_at")
        .values("received_at")[:1]
    )
    return Source.objects.annotate(
        last_arrival_at=Subquery(last_arrival),
        events_last_hour=Coalesce(
            Sum("batches__accepted", filter=Q(batches__received_at__gte=now - timedelta(hours=1))), 0
        ),
        events_last_day=Coalesce(
            Sum("batches__accepted", filter=Q(batches__received_at__gte=now - timedelta(days=1))), 0
        ),
    ).order_by("name")


def _silent_for(source: Source, last_arrival_at: datetime | None, now: datetime) -> float | None:
    if not source.expected_cadence_seconds or not source.enabled:
        return None
    quiet_since = last_arrival_at or source.created_at
    quiet_seconds = (now - quiet_since).total_seconds()
    return quiet_seconds if quiet_seconds > source.expected_cadence_seconds else None


def source_health(now: datetime | None = None) -> list[SourceHealth]:
    """Health of every source: last event, arrivals in the last hour/day, silence against its cadence."""
    now = now or timezone.now()
    return [
        SourceHealth(
            source=source,
            last_event_at=source.last_event_at,
            last_ingest_at=source.last_ingest_at,
            last_arrival_at=source.last_arrival_at,
            events_last_hour=source.events_last_hour,
            events_last_day=source.events_last_day,
            silent_for_seconds=_silent_for(source, source.last_arrival_at, now),
        )
        for source in sources_with_arrivals(now)
    ]


def silent_sources(now: datetime | None = None) -> list[tuple[Source, float]]:
    """Enabled sources with an expected cadence that stored no new event for longer than it."""
    now = now or timezone.now()
    with_cadence = (
        Source.objects.filter(enabled=True, expected_cadence_seconds__isnull=False)
        .annotate(last_arrival_at=Max("batches__received_at", filter=Q(batches__accepted__gt=0)))
        .order_by("name")
    )
    silent = []
    for source in with_cadence:
        silent_for = _silent_for(source, source.last_arrival_at, now)
        if silent_for is not None:
            silent.append((source, silent_for))
    return silent


def recent_batches(source: Source, limit: int = 20) -> QuerySet[IngestBatch]:
    return source.batches.select_related("uploaded_by").order_by("-received_at", "-id")[:limit]
