"""Read paths of triage that need care: the filtered alert queue and an alert's evidence.

The queue is ordered (-last_seen, -id), which the (status|rule|strategy, -last_seen) indexes
serve and which keyset pagination can follow. Evidence loads events in one query, capped:
an alert may group thousands of matches. Not for: changing alerts (triage.services).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils.dateparse import parse_datetime

from detections.models import DetectionRule, Strategy
from telemetry.models import Event
from telemetry.schema import CANONICAL_FIELDS
from triage.models import SEVERITY_ORDER, Alert, AlertEvidence

# Matches shown with an alert; the rest are counted (a grouped alert can hold thousands).
EVIDENCE_LIMIT = 50
# Events shown per match (a correlation's match names every event of its group).
EVENTS_PER_MATCH = 20


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


# --------------------------------------------------------------------------- the queue page

QUEUE_PAGE_SIZE = 50
# Counting a million rows costs more than the page itself: counts stop here and show "1,000+".
COUNT_CAP = 1000
# Sorts the queue offers, each a keyset the indexes serve: (field, direction) pairs, id last.
QUEUE_SORTS: dict[str, tuple[str, ...]] = {
    "-last_seen": ("-last_seen", "-id"),
    "last_seen": ("last_seen", "id"),
    "-first_seen": ("-first_seen", "-id"),
    "-count": ("-count", "-id"),
}
GROUPINGS = {"rule": "rule__title", "entity": "entity", "strategy": "strategy__title"}
GROUP_LIMIT = 100
# Groups are counted over the latest alerts matching the filters, not all of them: aggregating a
# million rows on every page load costs seconds, and the queue is about what is happening now.
GROUP_WINDOW = 10_000


@dataclass
class QueuePage:
    alerts: list[Alert]
    sort: str
    next_cursor: str = ""
    previous_cursor: str = ""
    count: int = 0
    count_capped: bool = False


def _cursor_values(alert: Alert, keys: tuple[str, ...]) -> list[str]:
    values = []
    for key in keys:
        value = getattr(alert, key.lstrip("-"))
        values.append(value.isoformat() if isinstance(value, datetime) else str(value))
    return values


def encode_cursor(values: list[str], *, backwards: bool = False) -> str:
    payload = json.dumps({"v": values, "b": backwards}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, keys: tuple[str, ...]) -> tuple[list, bool]:
    """The values a cursor holds, parsed for `keys`; ValueError for anything that is not one of ours."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        raw, backwards = payload["v"], bool(payload.get("b"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not a page cursor of this queue") from exc
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise ValueError("not a page cursor of this sort")
    parsed = []
    for key, value in zip(keys, raw, strict=True):
        name = key.lstrip("-")
        if name in ("last_seen", "first_seen"):
            moment = parse_datetime(str(value))
            if moment is None:
                raise ValueError("not a page cursor of this queue")
            parsed.append(moment)
        else:
            number = int(value)
            if not 0 <= number < 2**63:
                raise ValueError("not a page cursor of this queue")
            parsed.append(number)
    return parsed, backwards


def _after(keys: tuple[str, ...], values: list, *, backwards: bool):
    """Rows strictly after `values` in the order of `keys` (before them when paging backwards)."""
    condition = Q()
    for position in range(len(keys) - 1, -1, -1):
        key = keys[position]
        name = key.lstrip("-")
        descending = key.startswith("-") != backwards
        step = Q(**{f"{name}__{'lt' if descending else 'gt'}": values[position]})
        if position == len(keys) - 1:
            condition = step
        else:
            condition = step | (Q(**{name: values[position]}) & condition)
    # The same rows bounded on the leading key alone (implied by the condition above): PostgreSQL
    # reads it as a range of the sort's index. Without it the OR is only a filter, and a cursor
    # 80 days back walked every newer entry of the index before finding its page.
    lead = keys[0].lstrip("-")
    descending = keys[0].startswith("-") != backwards
    return Q(**{f"{lead}__{'lte' if descending else 'gte'}": values[0]}) & condition


def capped_count(alerts: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many alerts match, counted only up to `cap` (the answer says when it stopped there)."""
    seen = alerts.order_by().values("pk")[: cap + 1].count()
    return min(seen, cap), seen > cap


def alert_queue_page(
    alerts: QuerySet[Alert], *, sort: str = "-last_seen", cursor: str = "", size: int = QUEUE_PAGE_SIZE
) -> QueuePage:
    """One keyset page of the filtered queue: no OFFSET, so page 1 and page 20,000 cost the same."""
    keys = QUEUE_SORTS.get(sort) or QUEUE_SORTS["-last_seen"]
    backwards = False
    if cursor:
        values, backwards = decode_cursor(cursor, keys)
        alerts = alerts.filter(_after(keys, values, backwards=backwards))
    order = [k.lstrip("-") if k.startswith("-") else f"-{k}" for k in keys] if backwards else list(keys)
    rows = list(alerts.select_related("rule", "strategy", "assignee").order_by(*order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    page = QueuePage(alerts=rows, sort=sort if sort in QUEUE_SORTS else "-last_seen")
    if rows:
        # Forward: more rows follow if we fetched one extra; rows precede if we came by a cursor.
        # Backward: the other way round.
        has_next = backwards or more
        has_previous = more if backwards else bool(cursor)
        if has_next:
            page.next_cursor = encode_cursor(_cursor_values(rows[-1], keys))
        if has_previous:
            page.previous_cursor = encode_cursor(_cursor_values(rows[0], keys), backwards=True)
    return page


@dataclass
class AlertGroup:
    key: str
    label: str
    count: int
    matches: int
    latest: datetime | None
    top_severity: str


def alert_groups(
    alerts: QuerySet[Alert], *, by: str, limit: int = GROUP_LIMIT, window: int = GROUP_WINDOW
) -> list[AlertGroup]:
    """The latest `window` alerts of the filtered queue collapsed by rule, entity or strategy: busiest first.

    One aggregate over the window (its rows read through the queue's own index and order), the
    highest severity included as the maximum of its rank; labels are read for the groups shown.
    """
    field_name = {"rule": "rule_id", "entity": "entity", "strategy": "strategy_id"}[by]
    rank = Case(
        *(When(severity=severity, then=Value(position)) for position, severity in enumerate(SEVERITY_ORDER)),
        default=Value(-1),
        output_field=IntegerField(),
    )
    latest = (
        alerts.order_by("-last_seen", "-id")
        .annotate(severity_rank=rank)
        .values(field_name, "count", "last_seen", "severity_rank")[:window]
    )
    # Aggregated straight over the window's rows (Django cannot group a sliced queryset): joining
    # the window back to the table by id cost as much again as reading it.
    inner, params = latest.query.sql_with_params()
    quote = connection.ops.quote_name
    key = quote(field_name)
    # Only quoted column names and the ORM's own compiled SQL (its values stay parameters) go in.
    totals = f"COUNT(*), SUM({quote('count')}), MAX({quote('last_seen')}), MAX({quote('severity_rank')})"
    sql = f"SELECT {key}, {totals} FROM ({inner}) AS latest GROUP BY {key} ORDER BY 2 DESC, 1 LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        found = cursor.fetchall()
    rows = [
        {field_name: value, "n": n, "matches": matches, "latest": _as_datetime(moment), "top": top}
        for value, n, matches, moment, top in found
    ]
    labels: dict = {}
    if by == "rule":
        labels = dict(DetectionRule.objects.filter(pk__in=[r["rule_id"] for r in rows]).values_list("pk", "title"))
    elif by == "strategy":
        labels = dict(
            Strategy.objects.filter(pk__in=[r["strategy_id"] for r in rows if r["strategy_id"]]).values_list(
                "pk", "title"
            )
        )
    return [
        AlertGroup(
            key="" if r[field_name] is None else str(r[field_name]),
            label=labels.get(r[field_name], r[field_name]) if by != "entity" else (r[field_name] or "—"),
            count=r["n"],
            matches=r["matches"] or 0,
            latest=r["latest"],
            top_severity=SEVERITY_ORDER[r["top"]] if r["top"] is not None and r["top"] >= 0 else "informational",
        )
        for r in rows
    ]


def _as_datetime(value) -> datetime | None:
    """A raw cursor gives SQLite's datetimes as text; the ORM would have converted them."""
    if value is None or isinstance(value, datetime):
        return value
    moment = parse_datetime(str(value))
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


RELATED_LIMIT = 10


def related_alerts(alert: Alert, *, limit: int = RELATED_LIMIT) -> dict[str, list[Alert]]:
    """Other alerts on the same entity (any rule) and of the same rule (other entities), newest first."""
    base = (
        Alert.objects.exclude(pk=alert.pk).select_related("rule", "strategy", "assignee").order_by("-last_seen", "-id")
    )
    same_entity = list(base.filter(entity=alert.entity)[:limit]) if alert.entity else []
    same_rule = list(base.filter(rule_id=alert.rule_id).exclude(entity=alert.entity)[:limit])
    return {"entity": same_entity, "rule": same_rule}
