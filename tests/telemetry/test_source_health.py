"""Source health, silent sources, retention, and the services behind register/rotate."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from telemetry.models import Event, IngestBatch, Source
from telemetry.selectors import silent_sources, source_health
from telemetry.services import ingest_stream, purge_events, rotate_ingest_token
from telemetry.tasks import check_source_health, purge_old_events

pytestmark = pytest.mark.django_db


def ndjson_conn(*timestamps: float) -> bytes:
    rows = [
        f'{{"ts": {ts}, "uid": "C{i}", "id.orig_h": "10.0.0.{i % 250}", "id.orig_p": {1000 + i}, '
        f'"id.resp_h": "10.0.1.1", "id.resp_p": 443, "proto": "tcp", "orig_bytes": 10, "resp_bytes": 20}}'
        for i, ts in enumerate(timestamps)
    ]
    return "\n".join(rows).encode()


def deliver(source, body: bytes):
    return ingest_stream(source=source, stream=io.BytesIO(body), channel=IngestBatch.Channel.CLI)


def test_a_source_quiet_longer_than_its_cadence_is_silent(make_source):
    quiet = make_source("quiet-sensor", "zeek_conn", expected_cadence_seconds=600)
    busy = make_source("busy-sensor", "zeek_conn", expected_cadence_seconds=600)
    make_source("no-cadence", "zeek_conn")
    now = timezone.now()
    deliver(quiet, ndjson_conn(now.timestamp() - 7200))
    deliver(busy, ndjson_conn(now.timestamp()))
    IngestBatch.objects.filter(source=quiet).update(received_at=now - timedelta(hours=2))

    silent = silent_sources(now=now)
    assert [(source.name, round(seconds)) for source, seconds in silent] == [("quiet-sensor", 7200)]
    # A later delivery of nothing but duplicates is not a sign of life.
    deliver(quiet, ndjson_conn(now.timestamp() - 7200))
    assert [s.name for s, _ in silent_sources(now=now)] == ["quiet-sensor"]
    assert [s.name for s, _ in silent_sources(now=now - timedelta(hours=1, minutes=55))] == []


def test_a_source_that_never_delivered_is_silent_from_its_creation(make_source):
    source = make_source("new-sensor", "zeek_conn", expected_cadence_seconds=60)
    Source.objects.filter(pk=source.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert [s.name for s, _ in silent_sources()] == ["new-sensor"]
    Source.objects.filter(pk=source.pk).update(enabled=False)
    assert silent_sources() == []


def test_source_health_counts_arrivals_and_rate(make_source):
    source = make_source("sensor", "zeek_conn", expected_cadence_seconds=60)
    now = timezone.now()
    deliver(source, ndjson_conn(*[now.timestamp() - i for i in range(120)]))
    old = deliver(source, ndjson_conn(now.timestamp() - 10_000))
    IngestBatch.objects.filter(pk=old.batch_id).update(received_at=now - timedelta(hours=3))

    (health,) = source_health(now=now)
    assert (health.events_last_hour, health.events_last_day) == (120, 121)
    assert health.events_per_minute == 2.0
    assert health.last_event_at.timestamp() == pytest.approx(now.timestamp(), abs=1)
    assert not health.is_silent
    assert check_source_health() == []


def test_purge_deletes_events_that_happened_and_were_stored_before_the_cutoff(make_source, settings):
    source = make_source("sensor", "zeek_conn")
    now = timezone.now()
    deliver(source, ndjson_conn(now.timestamp() - 40 * 86400, now.timestamp() - 31 * 86400, now.timestamp()))
    settings.EVENT_RETENTION_DAYS = 30
    # Just ingested: a replay of old logs is kept, whatever its event times say.
    assert purge_old_events() == 0
    Event.objects.update(ingested_at=now - timedelta(days=35))
    assert purge_old_events() == 2
    assert Event.objects.count() == 1
    assert purge_old_events() == 0  # idempotent
    assert purge_events(older_than=now + timedelta(seconds=1), chunk_size=1) == 1


def test_purge_keeps_events_that_are_evidence_of_a_match(make_source):
    from detections.models import DetectionRule, RuleMatch

    source = make_source("sensor", "zeek_conn")
    now = timezone.now()
    deliver(source, ndjson_conn(now.timestamp() - 40 * 86400, now.timestamp() - 39 * 86400))
    Event.objects.update(ingested_at=now - timedelta(days=35))
    evidence = Event.objects.order_by("time").first()
    rule = DetectionRule.objects.create(title="t", rule_uid="t-1", kind="analytic")
    RuleMatch.objects.create(rule=rule, dedup_key="e:1", event=evidence, time=evidence.time)
    assert purge_events(older_than=now - timedelta(days=30)) == 1
    assert list(Event.objects.all()) == [evidence]


def test_rotating_the_token_retires_the_old_one(make_source, client):
    source = make_source("sensor", "zeek_conn")
    old = source.ingest_token
    new = rotate_ingest_token(source=source)
    assert new != old and Source.objects.get(pk=source.pk).ingest_token == new
    response = client.post(
        f"/api/v1/ingest/{source.name}/",
        data=b"{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {old}",
    )
    assert response.status_code == 401


def test_register_source_validates_the_field_map_with_the_parser(make_source):
    with pytest.raises(ValidationError):
        make_source("bad-map", "generic_json", field_map={"time": ""})
    source = make_source("good-map", "generic_json", field_map={"time": "ts", "host": "h.name"})
    assert source.field_map == {"time": "ts", "host": "h.name"}


def test_a_disabled_source_refuses_ingest(make_source):
    from telemetry.services import SourceDisabled

    source = make_source("sensor", "zeek_conn")
    source.enabled = False
    with pytest.raises(SourceDisabled):
        deliver(source, ndjson_conn(1.0))
