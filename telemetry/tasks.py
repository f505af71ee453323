"""Periodic telemetry upkeep (Celery beat): event retention and source health.

Both are idempotent: running one twice leaves the same result. The silent-source
*alert* is made by detections (a built-in analytic reading
telemetry.selectors.silent_sources); this task only computes and logs, so an
operator sees silence in the worker log even without detections running.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from telemetry.selectors import silent_sources
from telemetry.services import purge_events

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=True)
def purge_old_events(retention_days: int | None = None) -> int:
    days = retention_days if retention_days is not None else settings.EVENT_RETENTION_DAYS
    deleted = purge_events(older_than=timezone.now() - timedelta(days=days))
    if deleted:
        logger.info("purged %d events older than %d days", deleted, days)
    return deleted


@shared_task(acks_late=True)
def check_source_health() -> list[dict]:
    silent = [
        {"source": source.name, "source_id": source.pk, "silent_for_seconds": int(seconds)}
        for source, seconds in silent_sources()
    ]
    for entry in silent:
        logger.warning("source %s silent for %ss", entry["source"], entry["silent_for_seconds"])
    return silent
