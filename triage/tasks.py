"""Triage jobs: raise alerts for a detection run's matches, and the sweep for any match left behind.

Both are idempotent (a match is accounted for once, as evidence or as a suppression
hit), acknowledged late, and retried a bounded number of times when the database is
unavailable.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from triage import services

_RETRYING = {
    "acks_late": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 5,
}


@shared_task(name="triage.tasks.raise_alerts_for_run", **_RETRYING)
def raise_alerts_for_run(run_id: int) -> dict:
    outcome = services.raise_alerts_for_run(run_id=run_id)
    return {"created": outcome.created, "updated": outcome.updated, "suppressed": outcome.suppressed}


@shared_task(name="triage.tasks.raise_pending_alerts", **_RETRYING)
def raise_pending_alerts() -> dict:
    outcome = services.raise_pending_alerts()
    return {"created": outcome.created, "updated": outcome.updated, "suppressed": outcome.suppressed}
