"""Dates read the same on every page: "2026-11-20 19:39:00 UTC", never Django's "Nov. 20, 2026, 7:39 p.m."."""

import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.urls import reverse

from detections.models import DetectionRun
from telemetry.models import IngestBatch, Source
from tests.api.conftest import make_alert, rule, strategy  # noqa: F401

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, 19, 39, 0, tzinfo=UTC)
DJANGO_ENGLISH_DATE = re.compile(
    r"\b(Jan|Feb|March|April|May|June|July|Aug|Sept|Oct|Nov|Dec)\.? \d{1,2}, \d{4}|\b[ap]\.m\."
)


def test_a_date_printed_without_a_filter_uses_the_portal_format():
    assert Template("{{ at }}").render(Context({"at": AT})) == "2026-11-20 19:39:00 UTC"


def test_the_when_filter_prints_the_same_format_with_the_age_on_hover():
    html = Template("{{ at|when }}").render(Context({"at": AT}))
    assert ">2026-11-20 19:39:00 UTC</time>" in html and 'datetime="2026-11-20T19:39:00+00:00"' in html


@pytest.fixture
def dated_things(rule):  # noqa: F811
    source = Source.objects.create(name="cluster-audit", format="k8s_audit", last_event_at=AT, last_ingest_at=AT)
    batch = IngestBatch.objects.create(source=source)
    IngestBatch.objects.filter(pk=batch.pk).update(received_at=AT)
    DetectionRun.objects.create(kind=DetectionRun.Kind.STREAM, batch=batch, window_start=AT, window_end=AT)
    alert = make_alert(rule=rule, at=AT)
    return source, alert


@pytest.mark.parametrize(
    "page",
    [
        "telemetry:source_list",
        "telemetry:source_detail",
        "detections:runs",
        "detections:rule_detail",
        "triage:alert_list",
        "triage:alert_detail",
    ],
)
def test_no_page_shows_a_date_in_another_format(client, analyst, dated_things, rule, page):  # noqa: F811
    source, alert = dated_things
    args = {
        "telemetry:source_detail": [source.name],
        "detections:rule_detail": [rule.pk],
        "triage:alert_detail": [alert.pk],
    }
    client.force_login(analyst)
    html = client.get(reverse(page, args=args.get(page, []))).content.decode()
    assert "2026-11-20 19:39:00 UTC" in html
    assert not DJANGO_ENGLISH_DATE.search(html), DJANGO_ENGLISH_DATE.search(html).group(0)
