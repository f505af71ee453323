"""The scheduled half of detection: rules evaluated over time windows, not per ingest batch.

Analytics and Sigma correlations both run here: each rule keeps a watermark
(AnalyticState.evaluated_until); every tick evaluates each due rule over the window
from its watermark to now, records its matches (idempotent on the rule's dedup
keys) and moves the watermark, all in one transaction per rule, so a crash leaves
the window to be evaluated again and a second worker skips a rule that is busy.
One DetectionRun (kind scheduled) per tick accounts for events scanned, matches,
duration and per-rule errors. Not for streamed batches (detections.services.detection).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import OperationalError, transaction
from django.utils import timezone

from detections.models import AnalyticState, DetectionRule, DetectionRun
from detections.services.analytics.base import count_scanned
from detections.services.detection import MatchSpec, record_matches

logger = logging.getLogger(__name__)

# Rules that run on the schedule: enabled ones, as for streamed detection (enabled_stream_rules).
SCHEDULED_STATUSES = (DetectionRule.Status.ENABLED,)
# A first evaluation, or one after a long outage, looks back at most this far.
DEFAULT_FIRST_LOOKBACK = timedelta(hours=1)
MAX_CATCH_UP = timedelta(days=7)

Evaluate = Callable[[DetectionRule, datetime, datetime], list[MatchSpec]]
WindowFor = Callable[[DetectionRule, datetime | None, datetime], tuple[datetime, datetime] | None]


def default_window(rule: DetectionRule, evaluated_until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    start = evaluated_until or now - DEFAULT_FIRST_LOOKBACK
    return max(start, now - MAX_CATCH_UP), now


def run_scheduled_rules(
    rules: Iterable[DetectionRule],
    *,
    evaluate: Evaluate,
    now: datetime | None = None,
    window_for: WindowFor = default_window,
) -> DetectionRun | None:
    """Evaluate each rule over its due window; one DetectionRun for the lot (None when no rule is due)."""
    now = now or timezone.now()
    rules = list(rules)
    if not rules:
        return None
    started = time.monotonic()
    run = DetectionRun.objects.create(kind=DetectionRun.Kind.SCHEDULED, window_end=now)
    count_scanned(reset=True)
    evaluated, failed, errors, window_starts = [], [], [], []
    matches = 0
    for rule in rules:
        try:
            with transaction.atomic():
                state = _lock_state(rule)
                if state is None:  # another worker is evaluating this rule right now
                    continue
                window = window_for(rule, state.evaluated_until, now)
                if window is None or window[0] >= window[1]:
                    continue
                new = record_matches(rule=rule, matches=evaluate(rule, window[0], window[1]), run=run)
                state.evaluated_until = window[1]
                state.save(update_fields=["evaluated_until", "updated_at"])
        except OperationalError:
            raise  # the database is unavailable, not the rule: the task retries the whole tick
        except Exception as exc:  # one broken rule must not stop the others; the run says which
            logger.exception("scheduled rule %s failed", rule.pk)
            errors.append({"rule_id": rule.pk, "rule_title": rule.title, "error": f"{type(exc).__name__}: {exc}"})
            failed.append(rule)
        else:
            matches += new
            evaluated.append(rule)
            window_starts.append(window[0])
    run.rules.set(evaluated + failed)
    run.window_start = min(window_starts) if window_starts else None
    run.events_scanned = count_scanned(reset=True)
    run.matches = matches
    run.errors = errors
    run.status = (
        DetectionRun.Status.FAILED
        if errors and not evaluated
        else DetectionRun.Status.PARTIAL
        if errors
        else DetectionRun.Status.SUCCEEDED
    )
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.save()
    return run


def _lock_state(rule: DetectionRule) -> AnalyticState | None:
    AnalyticState.objects.get_or_create(rule=rule)
    # skip_locked: PostgreSQL hands a busy rule's row to nobody else; SQLite has one writer anyway.
    return AnalyticState.objects.select_for_update(skip_locked=True).filter(rule=rule).first()
