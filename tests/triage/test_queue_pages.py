"""Queue pages follow a keyset: every alert appears once walking forward or back, ties broken by id, counts capped."""

from datetime import timedelta

import pytest

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
