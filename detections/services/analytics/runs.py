"""Scheduled evaluation of the analytic rules (the beat task calls `run_due_analytics`)."""

from __future__ import annotations

from datetime import datetime

from detections.models import DetectionRule, DetectionRun

from .base import MatchSpec


def evaluate_analytic(rule: DetectionRule, window_start: datetime, window_end: datetime) -> list[MatchSpec]:
    """The matches of one analytic rule over a window (nothing recorded)."""
    from . import ANALYTICS

    try:
        analytic = ANALYTICS[rule.analytic_type]
    except KeyError:
        raise ValueError(f"unknown analytic type {rule.analytic_type!r}") from None
    return analytic(rule, window_start, window_end)


def run_due_analytics(now: datetime | None = None) -> DetectionRun | None:
    """Evaluate every scheduled analytic rule since its watermark; one DetectionRun (None if no rules)."""
    from detections.services.scheduled import SCHEDULED_STATUSES, run_scheduled_rules

    rules = DetectionRule.objects.filter(kind=DetectionRule.Kind.ANALYTIC, status__in=SCHEDULED_STATUSES).order_by("pk")
    return run_scheduled_rules(rules, evaluate=evaluate_analytic, now=now)


def run_analytics_window(*, start: datetime, end: datetime, source_ids) -> list[DetectionRun]:
    """Evaluate every enabled analytic over [start, end) on these sources only (validation replays)."""
    from detections.services.scheduled import SCHEDULED_STATUSES, run_scheduled_rules

    from .base import only_sources

    rules = DetectionRule.objects.filter(kind=DetectionRule.Kind.ANALYTIC, status__in=SCHEDULED_STATUSES).order_by("pk")
    with only_sources(source_ids):
        run = run_scheduled_rules(
            rules, evaluate=evaluate_analytic, now=end, window_for=lambda rule, until, now: (start, end)
        )
    return [run] if run else []
