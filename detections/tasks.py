"""Detection jobs: stream batches, the sweep that makes the batch queue durable, retro-hunts, schedules.

Tasks take ids, load fresh state and call detections.services; each is idempotent
(running it twice leaves the same matches), acknowledged late so a worker killed
mid-task gets its message redelivered, and retried a bounded number of times when
the database is unavailable.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import shared_task
from django.db import OperationalError

from detections.services.detection import fill_retro_hunt, pending_batches, run_retro_hunt, run_stream_detection

logger = logging.getLogger(__name__)

_RETRYING = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 5,
}


@shared_task(name="detections.tasks.detect_batch", **_RETRYING)
def detect_batch(batch_id: int) -> int | None:
    """Run the enabled Sigma rules over one ingest batch (once; a redelivery returns the same run)."""
    run = run_stream_detection(batch_id=batch_id)
    return run.pk if run is not None else None


@shared_task(name="detections.tasks.detect_pending_events", **_RETRYING)
def detect_pending_events() -> list[int]:
    """Beat sweep: detect every batch that no task has acknowledged (lost message, crashed worker)."""
    done = []
    for batch_id in pending_batches():
        run = run_stream_detection(batch_id=batch_id)
        if run is not None:
            done.append(batch_id)
    if done:
        logger.info("detection sweep picked up %d batch(es): %s", len(done), done)
    return done


@shared_task(name="detections.tasks.retro_hunt", **_RETRYING)
def retro_hunt(
    rule_id: int | None = None, start_iso: str | None = None, end_iso: str | None = None, *, run_id: int | None = None
) -> int | None:
    """Fill the retro-hunt run `run_id` (created by start_retro_hunt), once.

    Messages queued before runs were created up front carry (rule_id, start_iso, end_iso)
    instead: they run one rule over the events stored between two ISO 8601 instants in a new run.
    """
    if run_id is not None:
        run = fill_retro_hunt(run_id=run_id)
        return run.pk if run is not None else None
    run = run_retro_hunt(rule_id=rule_id, start=_aware(start_iso), end=_aware(end_iso))
    return run.pk


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    # An instant without an offset is read as UTC (the portal's time zone), never as server local time.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@shared_task(name="detections.tasks.run_scheduled_analytics", **_RETRYING)
def run_scheduled_analytics() -> dict:
    """Run the correlations and analytics that are due (their modules land separately)."""
    ran = {}
    try:
        from detections.services import analytics
    except ImportError:
        logger.info("detections.services.analytics is not installed yet; no analytics run")
    else:
        ran["analytics"] = _summary(analytics.run_due_analytics())
    try:
        from detections.services import correlation
    except ImportError:
        logger.info("detections.services.correlation is not installed yet; no correlations run")
    else:
        ran["correlations"] = _summary(correlation.run_due_correlations())
    return ran


def _summary(result) -> object:
    # Celery results are JSON: keep ids and numbers, describe anything else.
    if result is None or isinstance(result, int | str | float | bool):
        return result
    if isinstance(result, list | tuple):
        return [getattr(item, "pk", None) or str(item) for item in result]
    return getattr(result, "pk", None) or str(result)
