"""Deliveries shaped to hide, bury or poison telemetry (issue 13): each is refused or reported, never silent.

Every test here reproduces a probe that once succeeded against the portal: an event
hidden as a "duplicate", a compressed body that tied up ingestion, a nested record
that lost the events after it, a timestamp that poisoned source health, and errors
that said nothing (or told an attacker which sources exist). Inputs are built in the
test and kept small; the bomb-shaped ones assert a wall-clock bound.
"""

from __future__ import annotations

import gzip
import io
import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from telemetry.models import Event, IngestBatch, Source
from telemetry.parsers import ParsedRecord, RecordError, get_parser
from telemetry.services import DeliveryTooLarge, ingest_stream

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


def ingest(source, body: bytes, **kwargs):
    return ingest_stream(source=source, stream=io.BytesIO(body), channel=IngestBatch.Channel.API, **kwargs)


def post(source_name: str, body: bytes, *, token: str | None, content_type="application/x-ndjson", **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    url = reverse("telemetry-ingest", args=[source_name])
    return APIClient().post(url, data=body, content_type=content_type, **headers)


def falco_line(when: str | int | float = "", **extra_literals: str) -> bytes:
    """One Falco alert; `extra_literals` are spliced in as raw JSON text (1e400 is no Python value)."""
    record = {
        "time": when or NOW.isoformat(),
        "rule": "Terminal shell in container",
        "output": "A shell was spawned",
        "hostname": "node-1",
    }
    text = json.dumps(record)[:-1]
    for key, literal in extra_literals.items():
        text += f', "{key}": {literal}'
    return (text + "}\n").encode()


@pytest.fixture(autouse=True)
def bounded_in_time():
    """No probe may hang the suite: a delivery that is never cut off fails here instead."""

    def give_up(signum, frame):
        raise TimeoutError("the delivery was not cut off within 30 s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def falco(make_source):
    return make_source("falco-alerts", "falco")


# --------------------------------------------------------------------------- numbers out of range (item 3)


def test_numbers_past_what_json_can_hold_are_stored_as_their_text_not_dropped_as_duplicates(falco):
    huge = "1" * 400
    report = ingest(falco, falco_line(big="1e400", huge=huge))
    assert (report.accepted, report.duplicates, report.rejected) == (1, 0, 0), report.as_dict()
    event = Event.objects.get()
    assert event.raw["big"] == "1e400"  # kept as the producer wrote it, not null, not Infinity
    assert event.raw["huge"] == int(huge)


def test_records_that_differ_only_in_an_out_of_range_number_are_not_duplicates(falco):
    first = ingest(falco, falco_line(big="1e400"))
    second = ingest(falco, falco_line(big="-1e400"))
    assert (first.accepted, second.accepted, second.duplicates) == (1, 1, 0)
    assert sorted(e.raw["big"] for e in Event.objects.all()) == ["-1e400", "1e400"]
    # A duplicate is an equal record already stored, and only that.
    again = ingest(falco, falco_line(big="1e400"))
    assert (again.accepted, again.duplicates) == (0, 1)


def test_the_api_answers_an_out_of_range_number_with_a_stored_event(falco):
    response = post(falco.name, falco_line(big="1e400", huge="9" * 400), token=falco.ingest_token)
    assert response.status_code == 201, response.json()
    assert (response.json()["accepted"], response.json()["duplicates"]) == (1, 0)
    assert Event.objects.get().raw["big"] == "1e400"


def test_a_raw_record_json_cannot_represent_is_rejected_with_its_line_not_counted_as_a_duplicate(make_source):
    # Zeek's TSV has no JSON behind it: an interval of 1e400 reaches the raw record as a float.
    source = make_source("sensor-conn", "zeek_conn")
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tduration\torig_bytes\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tinterval\tcount\n"
    )
    ts = NOW.timestamp()
    rows = f"{ts}\tC1\t10.0.0.1\t5000\t10.0.0.2\t443\ttcp\t1e400\t{'7' * 400}\n{ts}\tC2\t10.0.0.1\t5001\t10.0.0.2\t443\ttcp\t1.5\t10\n"
    report = ingest(source, (header + rows).encode())
    assert report.duplicates == 0, report.as_dict()
    stored = {e.raw["uid"]: e.raw for e in Event.objects.all()}
    assert "C2" in stored
    if "C1" in stored:  # kept: then as the text the sensor wrote
        assert stored["C1"]["duration"] == "1e400"
    else:
        assert report.rejected == 1 and report.rejections[0]["line"] == 8


# --------------------------------------------------------------------------- work per delivery (item 4)


def test_a_gzip_bomb_of_blank_lines_is_cut_off_early_with_413(falco, settings):
    settings.INGEST_MAX_BLANK_LINES = 1000
    bomb = gzip.compress(b"\n" * (2 * 1024 * 1024) + falco_line())  # 2 MiB of newlines in ~2 KiB
    assert len(bomb) < 16 * 1024
    started = time.monotonic()
    response = post(falco.name, bomb, token=falco.ingest_token, content_type="application/gzip")
    assert time.monotonic() - started < 2
    assert response.status_code == 413, response.json()
    assert "blank lines" in response.json()["detail"]
    assert not Event.objects.exists() and not IngestBatch.objects.exists()


def test_a_delivery_past_the_decompressed_bound_is_413_before_it_is_all_read(falco, settings):
    settings.INGEST_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    bomb = gzip.compress(falco_line() * 30000)  # ~6 MiB decompressed
    started = time.monotonic()
    response = post(falco.name, bomb, token=falco.ingest_token, content_type="application/gzip")
    assert time.monotonic() - started < 5
    assert response.status_code == 413
    assert "decompressed" in response.json()["detail"]


def test_a_delivery_with_more_lines_than_the_bound_is_413(falco, settings):
    settings.INGEST_MAX_LINES = 100
    body = b"".join(falco_line(big=str(i)) for i in range(150))
    response = post(falco.name, body, token=falco.ingest_token)
    assert response.status_code == 413, response.json()
    assert "more than 100 lines" in response.json()["detail"]
    assert not Event.objects.exists()


class SlowBody(io.RawIOBase):
    """A producer trickling records (a slow-loris delivery): one line per read, `delay` apart, forever."""

    def __init__(self, line: bytes, delay: float):
        self.line, self.delay, self.bytes_read = line, delay, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        time.sleep(self.delay)
        size = min(len(buffer), len(self.line))
        buffer[:size] = self.line[:size]
        self.bytes_read += size
        return size


def test_a_delivery_that_takes_longer_than_the_wall_time_bound_is_cut_off(falco, settings):
    settings.INGEST_MAX_SECONDS = 0.5
    body = SlowBody(falco_line(), delay=0.02)
    started = time.monotonic()
    with pytest.raises(DeliveryTooLarge, match="longer than 0.5 seconds"):
        ingest_stream(source=falco, stream=body, channel=IngestBatch.Channel.API)
    assert time.monotonic() - started < 3
    assert not Event.objects.exists()


class EndlessBody(io.RawIOBase):
    """A chunked body with no Content-Length that never ends; counts what was read from it."""

    def __init__(self):
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        size = min(len(buffer), 64 * 1024)
        buffer[:size] = b"\n" * size
        self.bytes_read += size
        return size


def test_a_body_without_content_length_is_cut_off_once_it_passes_the_body_bound(falco, settings):
    settings.INGEST_MAX_BLANK_LINES = 10**9  # only the body bound may stop it
    body = EndlessBody()
    with pytest.raises(DeliveryTooLarge, match="larger than 1048576 bytes"):
        ingest_stream(source=falco, stream=body, channel=IngestBatch.Channel.API, max_body_bytes=1024 * 1024)
    assert body.bytes_read <= 1024 * 1024 + 64 * 1024


# --------------------------------------------------------------------------- nesting (item 6)


def nested_sysmon_event(depth: int) -> str:
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Sysmon"/><EventID>1</EventID>'
        f'<TimeCreated SystemTime="{NOW.isoformat()}"/><Computer>ws-1</Computer></System>'
        f"<EventData>{'<x>' * depth}{'</x>' * depth}</EventData></Event>"
    )


def valid_sysmon_event(image: str) -> str:
    return (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="Microsoft-Windows-Sysmon"/><EventID>1</EventID>'
        f'<TimeCreated SystemTime="{NOW.isoformat()}"/><Computer>ws-1</Computer></System>'
        f'<EventData><Data Name="Image">{image}</Data><Data Name="CommandLine">{image} /c whoami</Data>'
        "</EventData></Event>"
    )


@pytest.mark.parametrize("format_name", ["windows_process", "linux_process"])
def test_xml_nested_10000_deep_is_rejected_alone_and_the_next_event_is_read(format_name):
    body = f"{valid_sysmon_event('first.exe')}\n{nested_sysmon_event(10_000)}\n{valid_sysmon_event('after.exe')}\n"
    items = list(get_parser(format_name).parse_stream(io.BytesIO(body.encode())))
    errors = [item for item in items if isinstance(item, RecordError)]
    images = [item.event.get("process_image") for item in items if isinstance(item, ParsedRecord)]
    assert images == ["first.exe", "after.exe"]
    assert [(e.line, e.reason) for e in errors] == [(2, "XML nested deeper than 64 levels")]


def test_xml_nested_deep_across_lines_is_rejected_and_the_next_event_is_stored(make_source):
    source = make_source("workstations", "windows_process")
    deep = nested_sysmon_event(5000).replace("<x>", "<x>\n")
    body = f"{deep}\n{valid_sysmon_event('after.exe')}\n".encode()
    report = ingest(source, body)
    assert (report.accepted, report.rejected) == (1, 1), report.as_dict()
    assert report.rejections[0] == {"line": 1, "reason": "XML nested deeper than 64 levels"}
    assert Event.objects.get().process_image == "after.exe"


# --------------------------------------------------------------------------- implausible times (item 7)


@pytest.mark.parametrize(
    ("when", "shown"),
    [
        ("9999-12-31T23:59:59Z", "9999-12-31"),
        ("1900-01-01T00:00:00Z", "1900-01-01"),
        ("0001-01-01T00:00:00Z", "0001-01-01"),
        (-86400, "1969-12-31"),
        (1e30, "out of range"),
        ("9999-12-31 23:59:59.999999999+0000", "9999-12-31"),  # nanoseconds, Falco's spelling
    ],
)
def test_implausible_timestamps_are_rejected_by_line_and_leave_source_health_alone(falco, when, shown):
    good = ingest(falco, falco_line())
    falco.refresh_from_db()
    last_event_before = falco.last_event_at
    report = ingest(falco, falco_line(when=when, seq="2"))
    assert (report.accepted, report.duplicates, report.rejected) == (0, 0, 1), report.as_dict()
    (rejection,) = report.rejections
    assert rejection["line"] == 1
    assert shown in rejection["reason"] and "OverflowError" not in rejection["reason"]
    assert "Python int" not in rejection["reason"]
    falco.refresh_from_db()
    assert good.accepted == 1 and falco.last_event_at == last_event_before


def test_old_logs_and_a_little_clock_skew_are_still_accepted(falco):
    report = ingest(
        falco,
        falco_line(when="2017-03-04T05:06:07Z")
        + falco_line(when=(NOW + timedelta(minutes=30)).isoformat())
        + falco_line(when=1262304000),  # 2010, epoch seconds
    )
    assert (report.accepted, report.rejected) == (3, 0), report.as_dict()


def test_the_accepted_window_is_configurable(falco, settings):
    settings.INGEST_EARLIEST_EVENT_TIME = "2020-01-01T00:00:00Z"
    settings.INGEST_MAX_FUTURE_SECONDS = 0
    report = ingest(
        falco, falco_line(when="2019-06-01T00:00:00Z") + falco_line(when=(NOW + timedelta(hours=1)).isoformat())
    )
    assert report.rejected == 2
    assert "before 2020-01-01" in report.rejections[0]["reason"]
    assert "in the future" in report.rejections[1]["reason"]


# --------------------------------------------------------------------------- errors that say something (item 9)


def test_multipart_form_data_is_415_naming_the_accepted_types(falco):
    client = APIClient()
    upload = io.BytesIO(falco_line())
    upload.name = "alerts.json"
    response = client.post(
        reverse("telemetry-ingest", args=[falco.name]),
        {"file": upload},
        format="multipart",
        HTTP_AUTHORIZATION=f"Bearer {falco.ingest_token}",
    )
    assert response.status_code == 415, response.content
    detail = response.json()["detail"]
    assert "multipart/form-data" in detail and "application/x-ndjson" in detail
    assert not IngestBatch.objects.exists()


def test_each_malformed_ndjson_line_is_its_own_rejection_with_its_line_number(falco):
    bad_lines = [b'{"time": "x", "rule": ', b"{not json", b'["unclosed', b"garbage"] * 50
    body = b"\n".join(bad_lines[:200]) + b"\n" + falco_line()
    report = ingest(falco, body)
    assert report.accepted == 1
    assert report.rejected == 200, report.as_dict()
    assert [r["line"] for r in report.rejections] == list(range(1, 201))


def test_rejections_listed_are_bounded_but_all_are_counted(falco, monkeypatch):
    from telemetry import services

    monkeypatch.setattr(services, "MAX_REPORTED_REJECTIONS", 10)
    report = ingest(falco, b"{bad\n" * 25)
    assert report.rejected == 25 and len(report.rejections) == 10 and report.rejections_truncated


def test_a_pretty_printed_document_is_still_read_as_one_record(falco):
    record = json.loads(falco_line())
    report = ingest(falco, json.dumps(record, indent=2).encode() + b"\n" + falco_line(seq="2"))
    assert (report.accepted, report.rejected) == (2, 0), report.as_dict()


def test_invalid_utf8_is_stored_replaced_and_noted_with_its_first_line(falco):
    body = falco_line(seq="1") + falco_line(seq="2").replace(b"node-1", b"node-\xff\xfe") + falco_line(seq="3")
    report = ingest(falco, body.replace(b"node-1", b"node-\xc3"))
    assert report.accepted == 3
    assert report.warnings == [{"line": 1, "warning": "invalid UTF-8 on 3 lines (first at line 1), stored as U+FFFD"}]
    assert Event.objects.filter(host__contains="\ufffd").count() == 3
    response = post(falco.name, b"\xff" + falco_line(seq="4"), token=falco.ingest_token)
    assert response.json()["warnings"][0]["line"] == 1


def test_unknown_sources_and_bad_tokens_get_the_same_answer(falco, make_source):
    other = make_source("other-source", "falco")
    answers = [
        post("no-such-source", b"{}", token=None),
        post("no-such-source", b"{}", token=falco.ingest_token),
        post(falco.name, b"{}", token=None),
        post(falco.name, b"{}", token="not-the-token"),
        post(falco.name, b"{}", token=other.ingest_token),  # a valid token, for another source
    ]
    assert {response.status_code for response in answers} == {401}
    assert len({response.content for response in answers}) == 1
    assert len({response["WWW-Authenticate"] for response in answers}) == 1
    assert "no-such-source" not in answers[1].json()["detail"]
    assert not IngestBatch.objects.exists()


def test_a_disabled_source_is_told_only_to_its_token_holder(falco):
    Source.objects.filter(pk=falco.pk).update(enabled=False)
    assert post(falco.name, b"{}", token=None).status_code == 401
    response = post(falco.name, b"{}", token=falco.ingest_token)
    assert response.status_code == 403 and "disabled" in response.json()["detail"]


class SpooledBody(io.BytesIO):
    """What Django's ASGI handler hands a view: the whole body, already spooled; counts reads."""

    bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readinto(self, buffer):
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


def test_a_chunked_body_over_the_bound_under_asgi_is_413_without_being_parsed(falco, settings):
    from django.core.handlers.asgi import ASGIRequest

    from telemetry.api.views import IngestView

    settings.INGEST_MAX_BODY_BYTES = 64 * 1024
    body = SpooledBody(falco_line() * 1000)  # ~150 KiB, sent chunked: no Content-Length header
    scope = {
        "type": "http",
        "method": "POST",
        "path": reverse("telemetry-ingest", args=[falco.name]),
        "query_string": b"",
        "headers": [
            (b"authorization", f"Bearer {falco.ingest_token}".encode()),
            (b"content-type", b"application/x-ndjson"),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    request = ASGIRequest(scope, body)
    assert "CONTENT_LENGTH" not in request.META
    response = IngestView.as_view()(request, source=falco.name)
    response.render()
    assert response.status_code == 413
    assert "larger than 65536 bytes" in json.loads(response.content)["detail"]
    assert body.bytes_read == 0
    assert not IngestBatch.objects.exists()
