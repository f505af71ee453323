"""Alert pages: filters, evidence, and hostile telemetry rendered inert."""

import io
import json

import pytest
from django.urls import reverse

from detections.services.rules import save_sigma_rule
from telemetry.models import IngestBatch
from telemetry.services import ingest_stream, register_source
from tests.triage.netcat import NETCAT_RULE
from triage.models import Alert

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>\x1b[31mred\x1b[0m'


@pytest.fixture
def hostile_alert(django_capture_on_commit_callbacks):
    save_sigma_rule(yaml_text=NETCAT_RULE)
    source = register_source(name="nodes", format="linux_process")
    record = {
        "EventID": 1,
        "UtcTime": "2026-11-20 10:00:00.000",
        "Computer": f"node-1{HOSTILE}",
        "ProcessId": 4242,
        "Image": "/usr/bin/nc",
        "CommandLine": f"nc -lvp 4444 {HOSTILE}",
        "User": HOSTILE,
        "ParentImage": "/bin/sh",
    }
    with django_capture_on_commit_callbacks(execute=True):
        ingest_stream(source=source, stream=io.BytesIO(json.dumps(record).encode()), channel=IngestBatch.Channel.API)
    return Alert.objects.get()


def test_hostile_telemetry_is_inert_in_the_queue_and_the_alert_page(client, analyst, hostile_alert):
    client.force_login(analyst)
    for url in (reverse("triage:alert_list"), hostile_alert.get_absolute_url()):
        html = client.get(url).content.decode()
        assert "<script>alert(1)" not in html
        assert "<img src=x" not in html
        assert "\x1b" not in html
    detail = client.get(hostile_alert.get_absolute_url()).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail  # shown, as text


def test_queue_filters_by_severity_and_entity(client, analyst, hostile_alert):
    client.force_login(analyst)
    url = reverse("triage:alert_list")
    assert "Netcat listener" in client.get(url, {"severity": "high"}).content.decode()
    assert "Netcat listener" not in client.get(url, {"severity": "low"}).content.decode()
    assert "Netcat listener" in client.get(url, {"entity": "node-1"}).content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"rule": "99999999999999999999999"},  # issue 13: a 500 (integer overflow in the database)
        {"rule": "-1"},
        {"rule": "web"},
    ],
)
def test_a_bad_id_filter_is_a_400_with_the_reason_on_the_queue(client, analyst, query):
    client.force_login(analyst)
    response = client.get(reverse("triage:alert_list"), query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="filter-error"' in html
    assert "rule: an id is a whole number from 1 to" in html


def test_a_bad_batch_id_on_a_source_page_is_a_400(client, analyst):
    register_source(name="nodes", format="linux_process")
    client.force_login(analyst)
    response = client.get(reverse("telemetry:source_detail", args=["nodes"]), {"batch": "99999999999999999999999"})
    assert response.status_code == 400
    assert "batch: an id is a whole number from 1 to" in response.content.decode()


# Trojan-source style spoofing: the override makes "nc -lvp 4444 #" read as something else.
BIDI_COMMAND_LINE = "nc -lvp 4444 #\u202e\u2066 gnidaol \u2069\u2066\u200b"
INVISIBLE = ("\u202e", "\u2066", "\u2069", "\u200b")


def test_bidi_overrides_in_telemetry_are_shown_as_visible_markers_on_the_alert_pages(
    client, analyst, django_capture_on_commit_callbacks
):
    save_sigma_rule(yaml_text=NETCAT_RULE)
    source = register_source(name="nodes", format="linux_process")
    record = {
        "EventID": 1,
        "UtcTime": "2026-11-20 10:00:00.000",
        "Computer": "node-\u202e1",
        "ProcessId": 4242,
        "Image": "/usr/bin/nc",
        "CommandLine": BIDI_COMMAND_LINE,
        "User": "root",
    }
    with django_capture_on_commit_callbacks(execute=True):
        ingest_stream(source=source, stream=io.BytesIO(json.dumps(record).encode()), channel=IngestBatch.Channel.API)
    alert = Alert.objects.get()
    client.force_login(analyst)
    for url in (reverse("triage:alert_list"), alert.get_absolute_url()):
        html = client.get(url).content.decode()
        assert not [c for c in INVISIBLE if c in html], url
        assert "node-\u27e8U+202E\u27e91" in html
    detail = client.get(alert.get_absolute_url()).content.decode()
    assert "#\u27e8U+202E\u27e9\u27e8U+2066\u27e9 gnidaol" in detail  # the command line, spoofing visible
