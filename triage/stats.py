"""What the analysts' dispositions tell detection engineering: per-rule, per-strategy and overall figures.

Read paths only, each one or a few aggregate queries whatever the number of alerts (Count and Avg
with filters, TruncDay), on SQLite and PostgreSQL alike. Definitions, the same everywhere:

- The window is the alerts *raised* (created_at) in the last 7, 30 or 90 days, so every figure of
  one window is about the same alerts.
- True/false-positive rate: true (false) positives / alerts closed with a disposition. Benign
  true positives are their own share: the rule was right, the activity was allowed.
- Mean time to acknowledge: acknowledged_at - created_at, over the alerts an analyst moved off New.
- Mean time to close: closed_at - created_at, over the alerts closed now (a reopened alert has no
  closed_at until it closes again).
- Open alerts (the dashboard's breakdowns) are the current state, not windowed.

Not for: the queue (triage.selectors), changing anything (triage.services).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import TruncDay
from django.utils import timezone

from ads_portal.params import BadParameter
from triage.models import Alert, Disposition, Severity

WINDOW_DAYS = (7, 30, 90)
DEFAULT_WINDOW_DAYS = 30
NOISIEST_RULES = 10
OPEN_STRATEGIES = 10  # strategies and assignees with the most open alerts; the rest are summed
OPEN_ASSIGNEES = 10


def parse_window_days(text: str | None) -> int:
    """The `days` query parameter: one of 7, 30, 90 ("" or None: 30)."""
    text = (text or "").strip()
    if not text:
        return DEFAULT_WINDOW_DAYS
    if not (text.isascii() and text.isdigit()) or int(text) not in WINDOW_DAYS:
        choices = ", ".join(str(d) for d in WINDOW_DAYS)
        raise BadParameter("days", f"the window is {choices} days, not {text[:20]!r}")
    return int(text)


def window_start(days: int, now: datetime | None = None) -> datetime:
    """Midnight (UTC, the portal's zone) `days - 1` days ago: the window is `days` whole calendar days."""
    today = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def _elapsed(start: str, end: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


@dataclass(frozen=True)
class DispositionStats:
    days: int
    raised: int
    closed: int
    true_positives: int
    benign_true_positives: int
    false_positives: int
    mean_time_to_acknowledge: timedelta | None
    mean_time_to_close: timedelta | None

    @property
    def with_disposition(self) -> int:
        return self.true_positives + self.benign_true_positives + self.false_positives

    def _rate(self, count: int) -> float | None:
        return count / self.with_disposition if self.with_disposition else None

    @property
    def true_positive_rate(self) -> float | None:
        return self._rate(self.true_positives)

    @property
    def benign_true_positive_rate(self) -> float | None:
        return self._rate(self.benign_true_positives)

    @property
    def false_positive_rate(self) -> float | None:
        return self._rate(self.false_positives)

    @property
    def alerts_per_day(self) -> float:
        return self.raised / self.days


def _as_duration(value) -> timedelta | None:
    # SQLite answers Avg of a duration in microseconds (a float); PostgreSQL with an interval.
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(microseconds=float(value))


def disposition_stats(alerts: QuerySet[Alert], *, days: int = DEFAULT_WINDOW_DAYS, now=None) -> DispositionStats:
    """Rates, volume and response times of `alerts` raised in the window, in one query."""
    figures = (
        alerts.filter(created_at__gte=window_start(days, now))
        .order_by()
        .aggregate(
            raised=Count("id"),
            closed=Count("id", filter=Q(status=Alert.Status.CLOSED)),
            true_positives=Count("id", filter=Q(disposition=Disposition.TRUE_POSITIVE)),
            benign_true_positives=Count("id", filter=Q(disposition=Disposition.BENIGN_TRUE_POSITIVE)),
            false_positives=Count("id", filter=Q(disposition=Disposition.FALSE_POSITIVE)),
            mtta=Avg(_elapsed("created_at", "acknowledged_at"), filter=Q(acknowledged_at__isnull=False)),
            mttc=Avg(_elapsed("created_at", "closed_at"), filter=Q(closed_at__isnull=False)),
        )
    )
    return DispositionStats(
        days=days,
        raised=figures["raised"],
        closed=figures["closed"],
        true_positives=figures["true_positives"],
        benign_true_positives=figures["benign_true_positives"],
        false_positives=figures["false_positives"],
        mean_time_to_acknowledge=_as_duration(figures["mtta"]),
        mean_time_to_close=_as_duration(figures["mttc"]),
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


def alerts_per_day(alerts: QuerySet[Alert], *, days: int = DEFAULT_WINDOW_DAYS, now=None) -> list[DayCount]:
    """Alerts raised on each day of the window, oldest first, days without alerts included (one query)."""
    start = window_start(days, now)
    counted = {
        (row["day"].date() if isinstance(row["day"], datetime) else row["day"]): row["n"]
        for row in alerts.filter(created_at__gte=start)
        .order_by()
        .annotate(day=TruncDay("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    }
    first = start.date()
    return [DayCount(day=d, count=counted.get(d, 0)) for d in (first + timedelta(days=i) for i in range(days))]


@dataclass(frozen=True)
class RuleNoise:
    rule_id: int
    title: str
    raised: int
    false_positives: int
    with_disposition: int

    @property
    def false_positive_rate(self) -> float | None:
        return self.false_positives / self.with_disposition if self.with_disposition else None


def rule_noise(
    alerts: QuerySet[Alert], *, days: int = DEFAULT_WINDOW_DAYS, limit: int | None = None, now=None
) -> list[RuleNoise]:
    """Rules by alerts raised in the window, most first, with their false positives (one query)."""
    rows = (
        alerts.filter(created_at__gte=window_start(days, now))
        .order_by()
        .values("rule_id", "rule__title")
        .annotate(
            raised=Count("id"),
            false_positives=Count("id", filter=Q(disposition=Disposition.FALSE_POSITIVE)),
            with_disposition=Count("id", filter=~Q(disposition="")),
        )
        .order_by("-raised", "rule__title", "rule_id")
    )
    if limit:
        rows = rows[:limit]
    return [
        RuleNoise(
            rule_id=row["rule_id"],
            title=row["rule__title"],
            raised=row["raised"],
            false_positives=row["false_positives"],
            with_disposition=row["with_disposition"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Share:
    """One bar of a breakdown: what it counts, how many, and the queue filter that lists them."""

    label: str
    count: int
    query: str  # the queue's query string for these alerts ("" when the queue cannot filter on it)
    css: str = ""


@dataclass(frozen=True)
class OpenAlerts:
    total: int
    by_severity: list[Share]
    by_status: list[Share]
    by_strategy: list[Share]
    by_assignee: list[Share]

    @property
    def largest(self) -> int:
        """The longest bar of any breakdown: bars of the four charts share one scale."""
        every = self.by_severity + self.by_status + self.by_strategy + self.by_assignee
        return max((s.count for s in every), default=0)


def _top(rows: list[Share], limit: int, rest_label: str) -> list[Share]:
    if len(rows) <= limit:
        return rows
    rest = sum(r.count for r in rows[limit:])
    return [*rows[:limit], Share(label=rest_label, count=rest, query="")]


def open_alerts() -> OpenAlerts:
    """The open work (not closed) by severity, status, strategy and assignee: four grouped queries."""
    open_ = Alert.objects.exclude(status=Alert.Status.CLOSED).order_by()
    severities = dict(open_.values_list("severity").annotate(n=Count("id")))
    statuses = dict(open_.values_list("status").annotate(n=Count("id")))
    by_severity = [
        Share(label=label, count=severities[value], query=f"severity={value}", css=f"sev-{value}")
        for value, label in reversed(Severity.choices)  # most severe first
        if severities.get(value)
    ]
    by_status = [
        Share(label=label, count=statuses[value], query=f"status={value}", css=f"st-{value}")
        for value, label in Alert.Status.choices
        if statuses.get(value)
    ]
    strategies = (
        open_.values("strategy__slug", "strategy__title").annotate(n=Count("id")).order_by("-n", "strategy__title")
    )
    by_strategy = _top(
        [
            Share(label=r["strategy__title"], count=r["n"], query=urlencode({"strategy": r["strategy__slug"]}))
            if r["strategy__slug"]
            else Share(label="No strategy", count=r["n"], query="")
            for r in strategies
        ],
        OPEN_STRATEGIES,
        "Other strategies",
    )
    assignees = open_.values("assignee__username").annotate(n=Count("id")).order_by("-n", "assignee__username")
    by_assignee = _top(
        [
            Share(label=r["assignee__username"], count=r["n"], query=urlencode({"assignee": r["assignee__username"]}))
            if r["assignee__username"]
            else Share(label="Unassigned", count=r["n"], query="assignee=none")
            for r in assignees
        ],
        OPEN_ASSIGNEES,
        "Other analysts",
    )
    return OpenAlerts(
        total=sum(statuses.values()),
        by_severity=by_severity,
        by_status=by_status,
        by_strategy=by_strategy,
        by_assignee=by_assignee,
    )
