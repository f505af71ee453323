"""ingest_stream itself: hostile values cost one record at most, and text survives storage byte for byte."""

import io
import json

import pytest

from telemetry import services
from telemetry.models import Event, IngestBatch
from telemetry.parsers import ParsedRecord

pytestmark = pytest.mark.django_db


def ingest(source, body: bytes):
    return services.ingest_stream(source=source, stream=io.BytesIO(body), channel=IngestBatch.Channel.CLI)


def test_backslashes_tabs_and_newlines_survive_storage(make_source, shared_data):
    source = make_source("workstations", "windows_process")
    path = shared_data / "windows-sysmon" / "otrf_cmd_bitsadmin_download_psh_script_2020-10-2302365189.json"
    report = ingest(source, path.read_bytes())
    assert report.accepted > 0 and report.rejected == 0
    event = Event.objects.filter(source=source, raw__EventID=4688).exclude(process_command_line="").first()
    assert "\\" in event.process_image and event.process_command_line == event.raw["CommandLine"]
    assert "\r\n\t" in event.raw["Message"]


def test_nul_characters_are_replaced_not_fatal(make_source, shared_data):
    source = make_source("cluster-audit", "k8s_audit")
    record = json.loads((shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_text())
    record["requestURI"] += "\u0000evil"
    record["objectRef"]["name"] = "pod\u0000name"
    report = ingest(source, json.dumps(record).encode())
    assert report.accepted == 1
    event = Event.objects.get()
    assert event.raw["requestURI"].endswith("\ufffdevil")
    assert event.k8s_object_name == "pod\ufffdname"
    # Redelivery still matches: the replacement is deterministic.
    assert ingest(source, json.dumps(record).encode()).duplicates == 1


class _Parser:
    """A stand-in parser: yields the given items, then fails as a buggy parser would."""

    def __init__(self, items, fail_after=True):
        self.items, self.fail_after = items, fail_after

    def parse_stream(self, stream):
        yield from self.items
        if self.fail_after:
            raise RuntimeError("parser bug")


def _event(n, **fields):
    from datetime import UTC, datetime

    return {"time": datetime(2026, 1, 1, tzinfo=UTC), "kind": "network", "raw": {"n": n}, **fields}


def test_values_a_column_cannot_hold_reject_one_record_only(make_source, monkeypatch):
    source = make_source("sensor", "zeek_conn")
    items = [
        ParsedRecord(1, _event(1, dst_port=443, host="h" * 1000)),
        ParsedRecord(2, _event(2, dst_port=10**12)),
        ParsedRecord(3, _event(3, icmp_type="eight")),
        ParsedRecord(4, _event(4, privileged="yes")),
        ParsedRecord(5, {"kind": "network", "raw": {"n": 5}}),
        ParsedRecord(6, _event(6, k8s_verb="x" * 100)),
    ]
    monkeypatch.setattr(services, "get_parser", lambda *a, **k: _Parser(items, fail_after=False))
    report = ingest(source, b"")
    assert (report.accepted, report.rejected) == (2, 4)
    assert [r["line"] for r in report.rejections] == [2, 3, 4, 5]
    assert "out of range" in report.rejections[0]["reason"]
    assert len(Event.objects.get(raw__n=1).host) == 255  # truncated to the column
    assert len(Event.objects.get(raw__n=6).k8s_verb) == 32


def test_a_parser_failure_keeps_what_was_read(make_source, monkeypatch):
    source = make_source("sensor", "zeek_conn")
    items = [ParsedRecord(i, _event(i)) for i in range(1, 8)]
    monkeypatch.setattr(services, "get_parser", lambda *a, **k: _Parser(items))
    report = ingest(source, b"")
    assert (report.accepted, report.rejected) == (7, 1)
    assert report.rejections[0]["line"] == 8 and "parser bug" in report.rejections[0]["reason"]
    assert Event.objects.count() == 7


def test_rejections_are_capped_but_all_counted(make_source, monkeypatch):
    from telemetry.parsers import RecordError

    source = make_source("sensor", "zeek_conn")
    items = [RecordError(i, "bad") for i in range(1, services.MAX_REPORTED_REJECTIONS + 51)]
    monkeypatch.setattr(services, "get_parser", lambda *a, **k: _Parser(items, fail_after=False))
    report = ingest(source, b"")
    assert report.rejected == services.MAX_REPORTED_REJECTIONS + 50
    assert len(report.rejections) == services.MAX_REPORTED_REJECTIONS
    assert report.as_dict()["rejections_truncated"] is True


def test_large_deliveries_are_stored_in_chunks_with_duplicates_across_chunks(make_source, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)
    source = make_source("sensor", "zeek_conn")
    rows = [
        {
            "ts": 1700000000 + i,
            "uid": f"C{i}",
            "id.orig_h": "10.0.0.1",
            "id.orig_p": 1000 + i,
            "id.resp_h": "10.0.0.2",
            "id.resp_p": 53,
            "proto": "udp",
        }
        for i in range(35)
    ]
    body = "\n".join(json.dumps(r) for r in rows + rows[:12]).encode()
    report = services.ingest_stream(source=source, stream=io.BytesIO(body), channel="cli")
    assert (report.accepted, report.duplicates) == (35, 12)
    source.refresh_from_db()
    assert source.last_event_at.timestamp() == 1700000034
