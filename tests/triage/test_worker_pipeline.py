"""End to end with a real Celery worker and Redis broker: ingest -> detect -> alert, by task messages."""

import time

import pytest
from celery import current_app
from celery.contrib.testing.worker import start_worker

from detections.models import BatchDetection, DetectionRun, RuleMatch
from tests.detections.pipeline_factories import (
    EXEC_INTO_POD,
    T0,
    audit_line,
    ingest_lines,
    k8s_source,
    load_rule,
    minutes,
)
from triage.models import Alert


def wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.redis
@pytest.mark.postgres
def test_ingested_batch_is_detected_and_alerted_by_a_real_worker(transactional_db):
    assert not current_app.conf.task_always_eager
    rule = load_rule(EXEC_INTO_POD)
    source = k8s_source()
    current_app.control.purge()  # messages left in the test broker by earlier runs
    with start_worker(current_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        report = ingest_lines(
            source,
            [
                audit_line(verb="create", resource="pods", subresource="exec", at=T0),
                audit_line(verb="create", resource="pods", subresource="exec", at=T0 + minutes(3)),
                audit_line(verb="get", resource="pods", at=T0 + minutes(4)),
            ],
        )  # commits, then sends detections.tasks.detect_batch to Redis
        assert wait_for(lambda: Alert.objects.filter(rule=rule).exists()), "no alert raised by the worker"
        assert wait_for(lambda: DetectionRun.objects.filter(batch_id=report.batch_id, alerts=1).exists())
    run = DetectionRun.objects.get(batch_id=report.batch_id)
    assert (run.status, run.events_scanned, run.matches) == (DetectionRun.Status.SUCCEEDED, 3, 2)
    assert BatchDetection.objects.get(batch_id=report.batch_id).run == run
    assert RuleMatch.objects.filter(rule=rule).count() == 2
    alert = Alert.objects.get(rule=rule)
    assert (alert.count, alert.entity) == (2, "default/web-1")
