"""Two workers raising alerts for the same matches at once: one alert per group, every match once (PostgreSQL)."""

import threading

import pytest
from django.db import connection

from tests.detections.pipeline_factories import EXEC_INTO_POD, T0, load_rule, make_match, minutes
from triage.models import Alert, AlertEvidence
from triage.services import raise_alerts


@pytest.mark.postgres
def test_concurrent_workers_open_one_alert_per_group(transactional_db):
    rule = load_rule(EXEC_INTO_POD)
    matches = [make_match(rule=rule, time=T0 + minutes(m)) for m in range(20)]
    barrier = threading.Barrier(2)
    errors = []

    def worker(subset):
        try:
            barrier.wait()
            raise_alerts(matches=subset)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(matches,)),
        threading.Thread(target=worker, args=(list(reversed(matches)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    alert = Alert.objects.get()
    assert alert.count == 20
    assert AlertEvidence.objects.count() == 20
    assert (alert.first_seen, alert.last_seen) == (T0, T0 + minutes(19))
