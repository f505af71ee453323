"""Queue pages follow a keyset: every alert appears once walking forward or back, ties broken by id, counts capped."""

from datetime import timedelta

import pytest
from django.urls import reverse

from telemetry.models import Source
from tests.api.conftest import make_alert
from tests.detections.pipeline_factories import T0
from triage.models import Alert
from triage.selectors import alert_groups, alert_queue_page, capped_count, decode_cursor

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts(rule):
    # Pairs share a last_seen, so only the id orders them.
    return [make_alert(rule=rule, entity=f"ns/pod-{i}", at=T0 + timedelta(minutes=i // 2), matches=0) for i in range(7)]


@pytest.mark.parametrize("sort", ["-last_seen", "last_seen", "-first_seen", "-count"])
def test_walking_forward_then_back_visits_every_alert_once_in_order(alerts, sort):
    expected = list(
        Alert.objects.order_by(
            *{
                "-last_seen": ["-last_seen", "-id"],
                "last_seen": ["last_seen", "id"],
                "-first_seen": ["-first_seen", "-id"],
                "-count": ["-count", "-id"],
            }[sort]
        ).values_list("pk", flat=True)
    )
    pages, cursor = [], ""
    while True:
        page = alert_queue_page(Alert.objects.all(), sort=sort, cursor=cursor, size=3)
        pages.append([a.pk for a in page.alerts])
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [pk for p in pages for pk in p] == expected and len(pages) == 3

    back = []
    cursor = page.previous_cursor
    while cursor:
        page = alert_queue_page(Alert.objects.all(), sort=sort, cursor=cursor, size=3)
        back.insert(0, [a.pk for a in page.alerts])
        cursor = page.previous_cursor
    assert back == pages[:-1]


def test_a_forged_cursor_is_refused_not_a_server_error():
    for forged in ("not-base64!", "eyJ2IjpbXX0", "eyJ2IjpbIngiLCI5OTk5OTk5OTk5OTk5OTk5OTk5OTk5Il19"):
        with pytest.raises(ValueError):
            decode_cursor(forged, ("-last_seen", "-id"))


def test_counts_stop_at_the_cap_and_say_so(alerts):
    assert capped_count(Alert.objects.all(), cap=5) == (5, True)
    assert capped_count(Alert.objects.all(), cap=50) == (7, False)


def test_grouping_by_entity_collapses_alerts_with_their_counts(rule):
    for i in range(3):
        make_alert(rule=rule, entity="ns/noisy", at=T0 + timedelta(hours=i), matches=2)
    make_alert(rule=rule, entity="ns/quiet", severity="critical")
    groups = alert_groups(Alert.objects.all(), by="entity")
    assert [(g.label, g.count, g.matches) for g in groups] == [("ns/noisy", 3, 6), ("ns/quiet", 1, 1)]
    assert groups[1].top_severity == "critical"
    assert [(g.label, g.count) for g in alert_groups(Alert.objects.all(), by="rule")] == [(rule.title, 4)]


def test_groups_count_only_the_latest_window_of_alerts(rule):
    for i in range(3):
        make_alert(rule=rule, entity="ns/old", at=T0 + timedelta(minutes=i), matches=1)
    for i in range(2):
        make_alert(rule=rule, entity="ns/new", at=T0 + timedelta(hours=1, minutes=i), matches=1, severity="high")
    groups = alert_groups(Alert.objects.all(), by="entity", window=3)
    # The three latest alerts: both of ns/new and the newest of ns/old.
    assert [(g.label, g.count, g.top_severity) for g in groups] == [("ns/new", 2, "high"), ("ns/old", 1, "medium")]
    assert groups[0].latest == T0 + timedelta(hours=1, minutes=1)


def test_the_grouped_page_says_when_groups_cover_only_the_latest_alerts(client, analyst, rule, monkeypatch):
    monkeypatch.setattr("triage.views.GROUP_WINDOW", 2)
    for i in range(3):
        make_alert(rule=rule, entity=f"ns/pod-{i}", at=T0 + timedelta(minutes=i))
    client.force_login(analyst)
    html = client.get(reverse("triage:alert_list") + "?group=entity").content.decode()
    assert "Grouped from the latest 2 matching alerts; more match" in html
    assert "ns/pod-2" in html and "ns/pod-1" in html and "ns/pod-0" not in html


def test_the_source_filter_reads_the_source_by_name_and_an_unknown_name_matches_nothing(client, analyst, rule):
    falco = Source.objects.create(name="falco", format=Source.Format.FALCO)
    audit = Source.objects.create(name="audit", format=Source.Format.K8S_AUDIT)
    make_alert(rule=rule, entity="ns/from-falco", source=falco)
    make_alert(rule=rule, entity="ns/from-audit", source=audit)
    client.force_login(analyst)
    shown = client.get(reverse("triage:alert_list") + "?source=falco").content.decode()
    assert "ns/from-falco" in shown and "ns/from-audit" not in shown
    unknown = client.get(reverse("triage:alert_list") + "?source=nowhere")
    assert unknown.status_code == 200 and "No alert matches these filters." in unknown.content.decode()
