"""Hostile telemetry and hostile analysts' text stay inert on every triage page, form and live push.

Telemetry is attacker-controlled: a pod name, a command line or a user field may carry markup,
`javascript:` links, terminal escapes or bidi overrides (Trojan-source spoofing). Every place
the workspace shows them (queue, alert page with evidence, raw record, timeline and comments,
case page, tuning queue, audit trail, the suppress-similar form, the live queue's websocket)
must show them as text: no element, attribute or link they bring can run, and the bidi override
is shown as the visible marker ⟨U+202E⟩ (ads_portal.middleware).
"""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from detections.services.rules import save_sigma_rule
from telemetry.models import IngestBatch
from telemetry.services import ingest_stream, register_source
from tests.api.conftest import make_alert
from tests.triage.netcat import NETCAT_RULE
from triage.consumers import AlertQueueConsumer
from triage.models import Alert
from triage.services import add_comment, flag_rule_for_tuning, open_case, transition_alert

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
JS_LINK = "javascript:alert(1)"
ESCAPE = "\x1b[31m"
BIDI = "\u202e"
BIDI_MARKER = "\u27e8U+202E\u27e9"
HOSTILE = f"{SCRIPT}{BREAKOUT}{ESCAPE}red{BIDI}{JS_LINK}"
HOSTILE_MARKDOWN = (
    f"**seen** {SCRIPT} [click]({JS_LINK}) <img src=x onerror=alert(1)> {BIDI}spoof <a href='{JS_LINK}'>x</a>"
)


class _ExecutableMarkup(HTMLParser):
    """Collects what a browser would run: event-handler attributes, javascript: URLs, inline scripts."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "hx-get", "hx-post"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in self.URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            sources = [value for name, value in attrs if name == "src"]
            if not sources or not sources[0].startswith("/static/"):
                self.found.append(f"<script {attrs!r}>")
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"inline script {data[:40]!r}")


def assert_inert(html: str, where: str, *, shows_bidi: bool = True) -> None:
    assert "<script>alert" not in html.lower(), where
    assert not re.search(r'href\s*=\s*"\s*javascript:', html, re.IGNORECASE), where
    assert ESCAPE not in html and "\x1b" not in html, where
    assert BIDI not in html, where
    # The parser reads the page as a browser would: text that merely mentions markup is fine, a tag is not.
    parser = _ExecutableMarkup()
    parser.feed(html)
    assert parser.found == [], f"{where}: {parser.found}"
    if shows_bidi:
        assert BIDI_MARKER in html, f"{where}: the bidi override is not shown as a marker"


@pytest.fixture
def hostile_alert(db, django_capture_on_commit_callbacks, analyst):
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
        HOSTILE: HOSTILE,  # a hostile key in the raw record, too
    }
    with django_capture_on_commit_callbacks(execute=True):
        ingest_stream(source=source, stream=io.BytesIO(json.dumps(record).encode()), channel=IngestBatch.Channel.API)
    alert = Alert.objects.get()
    Alert.objects.filter(pk=alert.pk).update(title=f"Netcat listener on {HOSTILE}")
    alert.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        add_comment(subject=alert, body=HOSTILE_MARKDOWN, user=analyst)
        flag_rule_for_tuning(alert=alert, note=f"noisy on {HOSTILE}", user=analyst)
        case = open_case(title=f"Case {HOSTILE}", user=analyst, alerts=[alert])
        add_comment(subject=case, body=HOSTILE_MARKDOWN, user=analyst)
    alert.refresh_from_db()
    return alert


@pytest.mark.django_db
def test_every_triage_page_shows_hostile_text_inert(client, analyst, engineer, hostile_alert):
    client.force_login(analyst)
    case = hostile_alert.case
    pages = {
        "queue": reverse("triage:alert_list"),
        "queue grouped by entity": reverse("triage:alert_list") + "?group=entity",
        "alert page": hostile_alert.get_absolute_url(),
        "case page": case.get_absolute_url(),
        "audit trail": reverse("triage:audit"),
    }
    for where, url in pages.items():
        answer = client.get(url)
        assert answer.status_code == 200, where
        assert_inert(answer.content.decode(), where)
    client.force_login(engineer)
    assert_inert(client.get(reverse("triage:tuning_queue")).content.decode(), "tuning queue")
    client.force_login(analyst)
    detail = client.get(hostile_alert.get_absolute_url()).content.decode()
    # Shown, as text: in the header, the evidence, the raw record (marked as matched) and the comment.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "<mark>" in detail and "<strong>seen</strong>" in detail


@pytest.mark.django_db
def test_the_suppress_form_keeps_hostile_values_inside_its_inputs(client, analyst, hostile_alert):
    client.force_login(analyst)
    page = client.get(hostile_alert.get_absolute_url()).content.decode()
    values = re.findall(r'name="cond_value" value="([^"]*)"', page)
    assert any("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in v for v in values), values
    posted = {
        "cond_field": ["entity", "CommandLine", HOSTILE[:60].replace(" ", "")],
        "cond_value": [f"node-1{HOSTILE}", f"nc -lvp 4444 {HOSTILE}", HOSTILE],
        "cond_origin": ["entity", "matched", ""],
        "cond_use": ["0", "1"],
        "scope": "rule",
        "expires_in_days": "7",
        "reason": HOSTILE_MARKDOWN,
        "name": f"Similar {HOSTILE}",
        "step": "preview",
    }
    preview = client.post(reverse("triage:alert_suppress", args=[hostile_alert.pk]), posted, HTTP_HX_REQUEST="true")
    assert preview.status_code == 200, preview.content.decode()[:2000]
    assert_inert(preview.content.decode(), "suppress preview")
    token = re.search(r'name="previewed" value="([0-9a-f]+)"', preview.content.decode()).group(1)
    saved = client.post(
        reverse("triage:alert_suppress", args=[hostile_alert.pk]),
        {**posted, "step": "save", "previewed": token},
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200, saved.content.decode()[:2000]
    assert_inert(saved.content.decode(), "suppress saved")
    refused = client.post(
        reverse("triage:alert_suppress", args=[hostile_alert.pk]),
        {**posted, "cond_use": ["2"], "cond_field": ["entity", "CommandLine", HOSTILE]},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422
    assert_inert(refused.content.decode(), "suppress refusal")
    after = client.get(hostile_alert.get_absolute_url()).content.decode()
    assert_inert(after, "alert page with the suppression on its timeline")


@pytest.mark.django_db(transaction=True)
def test_the_live_queue_push_shows_hostile_text_inert(rule, analyst):
    alert = make_alert(rule=rule, entity=f"default/web-{HOSTILE}")
    Alert.objects.filter(pk=alert.pk).update(title=f"Exec into {HOSTILE}")

    async def scenario():
        queue = WebsocketCommunicator(AlertQueueConsumer.as_asgi(), "/ws/triage/queue/")
        queue.scope["user"] = analyst
        connected, _ = await queue.connect()
        assert connected
        await sync_to_async(lambda: transition_alert(alert=alert, to="acknowledged", user=analyst))()
        html = await queue.receive_from(timeout=3)
        assert f'id="alert-row-{alert.pk}"' in html
        assert_inert(html, "websocket push")
        await queue.disconnect()

    async_to_sync(scenario)()
