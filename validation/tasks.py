"""Celery jobs of the validation app (take ids, idempotent)."""

from celery import shared_task

from validation.models import ValidationRun
from validation.services import execute_validation


@shared_task(name="validation.tasks.run_validation", acks_late=True, max_retries=2)
def run_validation(run_id: int) -> str:
    run = ValidationRun.objects.select_related("strategy").filter(pk=run_id).first()
    if run is None:
        return "missing"
    return execute_validation(run=run).status
