"""POST /api/v1/ingest/<source>/: real formats in, canonical events stored, nothing lost, every error in JSON."""

import gzip
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from telemetry.models import Event, IngestBatch, Source

from .conftest import k8s_audit_files, record_count, zeek_files

pytestmark = pytest.mark.django_db


def url(source_name: str) -> str:
    return reverse("telemetry-ingest", args=[source_name])


def post(source: Source | str, body: bytes, *, content_type="application/x-ndjson", token=None, **headers):
    name = source if isinstance(source, str) else source.name
    if token is None and isinstance(source, Source):
        token = source.ingest_token
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return APIClient().post(url(name), data=body, content_type=content_type, **headers)


@pytest.fixture
def k8s(make_source):
    return make_source("cluster-audit", "k8s_audit", expected_cadence_seconds=300)


@pytest.fixture
def zeek(make_source):
    return make_source("sensor-conn", "zeek_conn")


# --------------------------------------------------------------------------- real samples


def test_every_k8s_audit_sample_is_stored_with_its_canonical_fields(k8s, shared_data):
    for path in k8s_audit_files(shared_data):
        response = post(k8s, path.read_bytes(), content_type="application/json")
        body = response.json()
        if path.name == "fal_01_003.json":  # the deliberately malformed {"kind": 0}
            assert response.status_code == 200, body
            assert (body["accepted"], body["rejected"]) == (0, 1)
            assert body["rejections"][0]["line"] == 1
            continue
        assert response.status_code == 201, (path.name, body)
        assert body["accepted"] + body["duplicates"] == record_count(path), path.name
        assert body["rejected"] == 0, (path.name, body["rejections"])

    exec_event = Event.objects.get(k8s_subresource="exec")
    assert exec_event.kind == "k8s_audit"
    assert (exec_event.k8s_verb, exec_event.k8s_resource) == ("create", "pods")
    assert exec_event.pod == exec_event.k8s_object_name == "nginx-deployment-7998647bdf-phvq7"
    assert (exec_event.namespace, exec_event.k8s_user, exec_event.src_ip) == (
        "default",
        "minikube-user",
        "192.168.99.1",
    )
    assert exec_event.time.isoformat() == "2018-10-26T13:38:34.902914+00:00"
    assert exec_event.raw["auditID"] == "ca1ed9f4-7bf4-4c85-81a8-1b11253d1ba6"

    privileged_pod = Event.objects.get(pod="nginx-deployment-5cdcc99dbf-rgw6z")  # create_nginx_pod_privileged
    assert (privileged_pod.k8s_verb, privileged_pod.k8s_resource) == ("create", "pods")
    assert (privileged_pod.privileged, privileged_pod.host_network, privileged_pod.container_image) == (
        True,
        False,
        "nginx",
    )
    host_network_pod = Event.objects.get(pod="nginx-deployment-754c877bcd-zh5qx")  # create_nginx_pod_hostnetwork
    assert (host_network_pod.privileged, host_network_pod.host_network) == (False, True)
    # A pod is privileged when any of its containers is (the 2nd-container scenarios).
    assert Event.objects.filter(k8s_verb="create", k8s_resource="pods", privileged=True).count() == 3
    assert Event.objects.filter(host_network=True).count() == 1

    k8s.refresh_from_db()
    assert k8s.last_event_at is not None and k8s.last_ingest_at is not None
    assert k8s.batches.filter(channel=IngestBatch.Channel.API).count() == len(k8s_audit_files(shared_data))


def test_every_zeek_sample_is_stored_plain_and_gzip(zeek, make_source, shared_data):
    dns = make_source("sensor-dns", "zeek_dns")
    files = zeek_files(shared_data)
    for format_name, source in (("zeek_conn", zeek), ("zeek_dns", dns)):
        for path in files[format_name]:
            content_type = "application/gzip" if path.suffix == ".gz" else "text/plain"
            response = post(source, path.read_bytes(), content_type=content_type)
            body = response.json()
            assert response.status_code in (200, 201), (path, body)
            assert body["rejected"] == 0, (path, body["rejections"][:3])
            assert body["accepted"] + body["duplicates"] == record_count(path), path
    assert Event.objects.filter(source=dns, kind="dns").exclude(dns_query="").exists()

    tsv_row = Event.objects.get(source=zeek, raw__uid="CWdTxP30ZmdMFW07T8")  # proxy_rolling, with _node_name
    assert (tsv_row.kind, tsv_row.protocol) == ("network", "udp")
    assert (tsv_row.src_ip, tsv_row.src_port, tsv_row.dst_ip, tsv_row.dst_port) == (
        "10.0.0.11",
        55317,
        "239.255.255.250",
        1900,
    )
    assert (tsv_row.bytes_out, tsv_row.bytes_in, tsv_row.packets_out, tsv_row.packets_in) == (700, 0, 4, 0)
    assert tsv_row.time.timestamp() == pytest.approx(1714420737.556099)

    # The same connection is in open_conns as TSV; the JSON writer's record has "_path".
    json_row = Event.objects.get(source=zeek, raw__uid="CxHo3m4N8uGxrMlcl2", raw__has_key="_path")
    assert (json_row.protocol, json_row.src_ip, json_row.dst_ip, json_row.dst_port) == (
        "tcp",
        "10.55.100.100",
        "205.204.101.182",
        80,
    )
    assert (json_row.bytes_out, json_row.bytes_in, json_row.direction) == (719, 336, "outbound")

    icmp_echo = Event.objects.filter(source=zeek, protocol="icmp", icmp_type=8).first()
    assert icmp_echo is not None
    assert icmp_echo.src_ip and icmp_echo.dst_ip


# --------------------------------------------------------------------------- nothing lost, nothing doubled


def test_redelivery_of_the_same_batch_stores_no_duplicates(zeek, shared_data):
    body = (shared_data / "zeek-rita" / "json_with_all_fields" / "conn.log").read_bytes()
    first = post(zeek, body).json()
    second = post(zeek, body)
    assert second.status_code == 200
    assert second.json()["accepted"] == 0
    assert second.json()["duplicates"] == first["accepted"] + first["duplicates"]
    assert Event.objects.filter(source=zeek).count() == first["accepted"]


def test_the_same_record_twice_in_one_delivery_is_one_event(k8s, shared_data):
    line = (shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes().strip()
    body = post(k8s, line + b"\n" + line + b"\n").json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)


def test_mixed_ndjson_stores_good_records_and_reports_bad_ones_by_line(k8s, shared_data):
    good = [
        (shared_data / "k8s-audit-falco" / "trace_files" / name).read_bytes().strip()
        for name in ("exec_pod.json", "attach_pod.json", "create_secret.json")
    ]
    body = b"\n".join([good[0], b'{"kind": "Event", "verb": }', good[1], b"[1, 2]", b"", good[2], b'{"kind": 0}'])
    response = post(k8s, body)
    report = response.json()
    assert response.status_code == 201
    # The array on line 4 holds two non-objects: two rejections on line 4.
    assert (report["accepted"], report["rejected"]) == (3, 4)
    assert [r["line"] for r in report["rejections"]] == [2, 4, 4, 7]
    assert Event.objects.filter(source=k8s).count() == 3
    assert IngestBatch.objects.get(pk=report["batch"]).rejections == report["rejections"]


def test_a_json_array_body_is_read_record_by_record(k8s, shared_data):
    records = [
        json.loads((shared_data / "k8s-audit-falco" / "trace_files" / name).read_text())
        for name in ("exec_pod.json", "attach_pod.json")
    ]
    response = post(k8s, json.dumps(records, indent=2).encode(), content_type="application/json")
    assert response.json()["accepted"] == 2


def test_gzip_content_encoding_is_decompressed(zeek, shared_data):
    path = shared_data / "zeek-rita" / "open_conns" / "open" / "conn.log"
    response = post(zeek, gzip.compress(path.read_bytes()), content_type="text/plain", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201
    report = response.json()
    # This sample holds one row twice: stored once, counted as a duplicate.
    assert (report["accepted"], report["duplicates"]) == (record_count(path) - 1, 1)


def test_batch_is_handed_to_detection_after_commit_without_failing_ingest(
    k8s, shared_data, django_capture_on_commit_callbacks
):
    body = (shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(k8s, body)
    assert response.status_code == 201
    assert len(callbacks) == 1


@pytest.mark.postgres
def test_postgres_stores_through_copy_and_a_stage_table(zeek, shared_data):
    body = (shared_data / "zeek-rita" / "proxy" / "conn.log").read_bytes()
    with CaptureQueriesContext(connection) as queries:
        report = post(zeek, body).json()
    assert any("telemetry_event_stage" in q["sql"] and "ON CONFLICT" in q["sql"] for q in queries.captured_queries)
    assert report["accepted"] == Event.objects.filter(source=zeek).count() > 400
    assert post(zeek, body).json()["duplicates"] == report["accepted"] + report["duplicates"]


# --------------------------------------------------------------------------- refusals


def test_unknown_source_is_401_like_a_missing_token(k8s):
    # Not 404: a different answer would tell a caller which source names exist.
    response = post("no-such-source", b"{}", token=k8s.ingest_token)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_missing_token_is_401(k8s):
    response = post(k8s.name, b"{}", token="")
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_and_another_sources_token_are_401(k8s, zeek):
    assert post(k8s, b"{}", token="not-the-token").status_code == 401
    response = post(k8s, b"{}", token=zeek.ingest_token)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert not IngestBatch.objects.exists()


def test_disabled_source_is_403_with_the_reason(k8s):
    Source.objects.filter(pk=k8s.pk).update(enabled=False)
    response = post(k8s, b"{}")
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["text/html", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]
)
def test_unaccepted_content_types_are_415(k8s, content_type):
    response = post(k8s, b"{}", content_type=content_type)
    assert response.status_code == 415
    assert "not accepted" in response.json()["detail"]


def test_unknown_content_encoding_is_415(k8s):
    assert post(k8s, b"{}", HTTP_CONTENT_ENCODING="br").status_code == 415


def test_body_over_the_limit_is_413_and_nothing_is_stored(k8s, shared_data, settings):
    body = (shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes()
    settings.INGEST_MAX_BODY_BYTES = len(body) - 1
    response = post(k8s, body)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert not Event.objects.exists()


def test_body_longer_than_its_content_length_claims_is_still_bounded(k8s, settings):
    from telemetry.services import DeliveryTooLarge, ingest_stream

    settings.INGEST_MAX_BODY_BYTES = 1000
    with pytest.raises(DeliveryTooLarge):
        ingest_stream(source=k8s, stream=io.BytesIO(b"{}\n" * 1000), channel="api", max_body_bytes=1000)
    assert not IngestBatch.objects.exists()


def test_gzip_bomb_is_413_and_nothing_is_stored(k8s, shared_data, settings):
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    line = (shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes()
    bomb = gzip.compress(line + b" " * (20 * 1024 * 1024))  # 20 MiB of padding in ~20 KiB
    assert len(bomb) < 64 * 1024
    response = post(k8s, bomb, content_type="application/gzip")
    assert response.status_code == 413
    assert "decompressed" in response.json()["detail"]
    assert not Event.objects.exists() and not IngestBatch.objects.exists()


def test_unreadable_gzip_is_400_and_nothing_is_stored(k8s):
    response = post(k8s, b"\x1f\x8b" + b"not deflate at all" * 10, content_type="application/gzip")
    assert response.status_code == 400
    assert "truncated or corrupt" in response.json()["detail"]
    assert not Event.objects.exists()


def test_truncated_gzip_keeps_the_records_before_the_break_and_reports_it(k8s):
    lines = b"".join(
        b'{"kind":"Event","verb":"get","auditID":"a-%d","stageTimestamp":"2026-11-20T10:00:00Z"}\n' % i
        for i in range(3000)
    )
    response = post(k8s, gzip.compress(lines)[:-200], content_type="application/gzip")
    body = response.json()
    assert response.status_code == 201, body
    assert 0 < body["accepted"] < 3000 and Event.objects.count() == body["accepted"]
    assert any("truncated or corrupt" in r["reason"] for r in body["rejections"])


def test_the_ingest_endpoint_is_in_the_openapi_schema(client, analyst):
    client.force_login(analyst)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/ingest/{source}/"]["post"]
    assert "application/x-ndjson" in operation["requestBody"]["content"]
    assert {"201", "401", "403", "413", "415"} <= set(operation["responses"])
