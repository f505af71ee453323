"""Dispositions feed the figures engineers tune by: exact rates and response times, a dashboard, per-rule/strategy pieces."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ads_portal.params import BadParameter
from detections.models import DetectionRule, Strategy
from tests.api.conftest import make_alert
from triage import stats
from triage.models import Alert

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _worked(rule, strategy, *, n, raised, acknowledged_after, closed_after=None, disposition="", **fields):
    """An alert raised at `raised`, picked up and (optionally) closed the given time after it."""
    closed = closed_after is not None
    return make_alert(
        rule=rule,
        strategy=strategy,
        entity=f"default/pod-{n}",
        at=raised,
        created_at=raised,
        acknowledged_at=raised + acknowledged_after if acknowledged_after else None,
        closed_at=raised + closed_after if closed else None,
        status=Alert.Status.CLOSED if closed else fields.pop("status", Alert.Status.NEW),
        disposition=disposition,
        **fields,
    )


@pytest.fixture
def known_alerts(rule, strategy):
    """3 true positives, 1 false positive, 1 benign true positive and one untouched alert two days ago,
    plus one true positive 40 days ago (outside the 30-day window, inside the 90-day one)."""
    raised = timezone.now() - timedelta(days=2)
    minutes, hours = timedelta(minutes=1), timedelta(hours=1)
    worked = [
        (10 * minutes, 1 * hours, "true_positive"),
        (20 * minutes, 2 * hours, "true_positive"),
        (30 * minutes, 3 * hours, "true_positive"),
        (40 * minutes, 4 * hours, "false_positive"),
        (50 * minutes, 5 * hours, "benign_true_positive"),
    ]
    for n, (ack, close, disposition) in enumerate(worked):
        _worked(rule, strategy, n=n, raised=raised, acknowledged_after=ack, closed_after=close, disposition=disposition)
    _worked(rule, strategy, n=10, raised=raised, acknowledged_after=None)
    _worked(
        rule,
        strategy,
        n=11,
        raised=timezone.now() - timedelta(days=40),
        acknowledged_after=timedelta(days=1),
        closed_after=timedelta(days=2),
        disposition="true_positive",
    )


def test_rates_and_response_times_of_a_known_set_of_alerts(known_alerts):
    figures = stats.disposition_stats(Alert.objects.all(), days=30)
    assert (figures.raised, figures.closed, figures.with_disposition) == (6, 5, 5)
    assert (figures.true_positives, figures.false_positives, figures.benign_true_positives) == (3, 1, 1)
    assert figures.true_positive_rate == pytest.approx(0.6)
    assert figures.false_positive_rate == pytest.approx(0.2)
    assert figures.benign_true_positive_rate == pytest.approx(0.2)
    assert figures.mean_time_to_acknowledge == timedelta(minutes=30)  # (10+20+30+40+50)/5; the untouched one is not in
    assert figures.mean_time_to_close == timedelta(hours=3)  # (1+2+3+4+5)/5
    assert figures.alerts_per_day == pytest.approx(6 / 30)


def test_the_window_decides_which_alerts_count(known_alerts):
    week, quarter = (stats.disposition_stats(Alert.objects.all(), days=d) for d in (7, 90))
    assert (week.raised, quarter.raised) == (6, 7)
    assert quarter.true_positives == 4 and quarter.true_positive_rate == pytest.approx(4 / 6)
    assert quarter.mean_time_to_close == (5 * 3 * timedelta(hours=1) + timedelta(days=2)) / 6


def test_no_closed_alert_means_no_rate_rather_than_zero(rule):
    make_alert(rule=rule)
    figures = stats.disposition_stats(Alert.objects.all())
    assert figures.raised == 1 and figures.true_positive_rate is None and figures.false_positive_rate is None
    assert figures.mean_time_to_acknowledge is None and figures.mean_time_to_close is None


def test_alerts_per_day_lists_every_day_of_the_window_oldest_first(rule):
    now = timezone.now()
    for n, age in enumerate([0, 0, 3, 9]):  # the one 9 days ago is outside a 7-day window
        make_alert(rule=rule, entity=f"pod-{n}", at=now, created_at=now - timedelta(days=age))
    days = stats.alerts_per_day(Alert.objects.all(), days=7)
    assert len(days) == 7 and days[-1].day == timezone.localdate()
    assert [d.count for d in days] == [0, 0, 0, 1, 0, 0, 2]


def test_noisiest_rules_come_first_with_their_false_positive_rate(rule, strategy):
    quiet = DetectionRule.objects.create(title="Quiet rule", rule_uid="quiet-1", kind=rule.kind)
    raised = timezone.now() - timedelta(hours=5)
    for n, disposition in enumerate(["false_positive", "false_positive", "true_positive", ""]):
        closed = timedelta(hours=1) if disposition else None
        _worked(
            rule, strategy, n=n, raised=raised, acknowledged_after=None, closed_after=closed, disposition=disposition
        )
    _worked(quiet, None, n=9, raised=raised, acknowledged_after=None)
    noisy, calm = stats.rule_noise(Alert.objects.all())
    assert (noisy.rule_id, noisy.raised, noisy.false_positives, noisy.with_disposition) == (rule.pk, 4, 2, 3)
    assert noisy.false_positive_rate == pytest.approx(2 / 3)
    assert (calm.title, calm.raised, calm.false_positive_rate) == ("Quiet rule", 1, None)


@pytest.mark.parametrize("text, days", [("", 30), (None, 30), ("7", 7), ("90", 90), (" 30 ", 30)])
def test_the_window_is_7_30_or_90_days(text, days):
    assert stats.parse_window_days(text) == days


@pytest.mark.parametrize("text", ["14", "0", "-7", "abc", "7.0", "²", "9" * 40])
def test_any_other_window_is_refused_with_the_choices(text):
    with pytest.raises(BadParameter, match="7, 30, 90"):
        stats.parse_window_days(text)


# --------------------------------------------------------------------------- the dashboard


def test_the_dashboard_shows_the_figures_and_the_open_work(client, analyst, known_alerts):
    client.force_login(analyst)
    response = client.get(reverse("triage:dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    figures = re.findall(r'<dd class="figure">([^<]+)</dd>', html)
    assert figures == ["6", "60 %", "20 %", "20 %", "30 min", "3 h"]
    assert "Alerts raised per day" in html and "<svg" in html and "as numbers" in html  # chart and its table
    assert re.search(r'<a href="/triage/alerts/\?severity=medium">Medium</a></td>\s*<td class="num">1</td>', html)
    assert re.search(r'<a href="/triage/alerts/\?assignee=none">Unassigned</a></td>\s*<td class="num">1</td>', html)


def test_every_breakdown_link_opens_the_queue_filtered_to_those_alerts(client, analyst, rule, strategy):
    User.objects.create_user(username="bob")
    for n, severity in enumerate(["high", "low", "critical"]):
        make_alert(rule=rule, strategy=strategy, entity=f"pod-{n}", severity=severity, assignee=analyst if n else None)
    client.force_login(analyst)
    html = client.get(reverse("triage:dashboard")).content.decode()
    links = {unescape(href) for href in re.findall(r'href="(/triage/alerts/\?[^"]+)"', html)}
    assert {
        "/triage/alerts/?severity=low",
        "/triage/alerts/?assignee=ana",
        "/triage/alerts/?strategy=container-c2",
    } <= links
    for link in links:
        queue = client.get(link)
        assert queue.status_code == 200, link
        assert queue.context["count"] >= 1, link


def test_hostile_titles_entities_and_names_are_shown_as_text(client, analyst, rule, strategy):
    DetectionRule.objects.filter(pk=rule.pk).update(title=HOSTILE)
    Strategy.objects.filter(pk=strategy.pk).update(title=HOSTILE)
    rule.refresh_from_db()
    hostile_user = User.objects.create_user(username=HOSTILE[:150])
    make_alert(rule=rule, strategy=strategy, entity=HOSTILE, assignee=hostile_user)
    client.force_login(analyst)
    for url in (
        reverse("triage:dashboard"),
        reverse("triage:rule_stats", args=[rule.pk]),
        reverse("triage:strategy_stats", args=[strategy.pk]),
    ):
        html = client.get(url).content.decode()
        assert "<script>alert(1)" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


@pytest.mark.parametrize("days", ["14", "abc", "0"])
def test_a_bad_window_is_a_400_that_says_which_windows_exist(client, analyst, rule, strategy, days):
    client.force_login(analyst)
    for url in (
        reverse("triage:dashboard"),
        reverse("triage:rule_stats", args=[rule.pk]),
        reverse("triage:strategy_stats", args=[strategy.pk]),
    ):
        response = client.get(url, {"days": days})
        assert response.status_code == 400, url
        assert "the window is 7, 30, 90 days" in response.content.decode(), url


def test_the_dashboard_reads_in_a_few_queries_however_many_alerts(client, analyst, rule, strategy):
    client.force_login(analyst)
    engineer = User.objects.create_user(username="bob")
    for n in range(3):
        make_alert(rule=rule, strategy=strategy, entity=f"pod-{n}", assignee=engineer)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("triage:dashboard")).status_code == 200
    other = DetectionRule.objects.create(title="Other rule", rule_uid="other-1", kind=rule.kind)
    for n in range(30):
        make_alert(rule=other if n % 2 else rule, strategy=strategy, entity=f"pod-more-{n}", severity="low")
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("triage:dashboard")).status_code == 200
    assert len(many) == len(few)


def test_the_dashboard_stays_within_its_query_budget(client, analyst, known_alerts, django_assert_max_num_queries):
    client.force_login(analyst)
    with django_assert_max_num_queries(12):  # session, user, 7 aggregates, sources
        client.get(reverse("triage:dashboard"), {"days": "90"})


# --------------------------------------------------------------------------- the rule and strategy pages' piece


def test_the_rule_page_loads_its_statistics_from_triage_and_links_to_them_without_js(client, analyst, rule):
    client.force_login(analyst)
    html = client.get(rule.get_absolute_url()).content.decode()
    url = reverse("triage:rule_stats", args=[rule.pk])
    assert f'hx-get="{url}" hx-trigger="load"' in html and f'<a href="{url}">' in html


def test_the_rule_statistics_piece_answers_htmx_with_the_piece_and_a_browser_with_a_page(
    client, analyst, rule, known_alerts
):
    client.force_login(analyst)
    url = reverse("triage:rule_stats", args=[rule.pk])
    piece = client.get(url, **HTMX).content.decode()
    assert piece.lstrip().startswith('<section class="card detection-stats" id="detection-stats">')
    assert re.findall(r'<dd class="figure">([^<]+)</dd>', piece) == ["6", "60 %", "20 %", "20 %", "30 min", "3 h"]
    assert f'hx-get="{url}?days=7"' in piece  # the window changes in place
    page = client.get(url, {"days": "90"}).content.decode()
    assert "<html" in page and rule.get_absolute_url() in page
    assert re.findall(r'<dd class="figure">([^<]+)</dd>', page)[0] == "7"


def test_the_strategy_statistics_piece_splits_the_figures_by_rule(client, engineer, rule, strategy, known_alerts):
    client.force_login(engineer)
    piece = client.get(reverse("triage:strategy_stats", args=[strategy.pk]), **HTMX).content.decode()
    assert "By rule" in piece and reverse("detections:rule_detail", args=[rule.pk]) in piece
    assert "?strategy=container-c2&amp;status=new,acknowledged,in_progress,closed" in piece


def test_the_strategy_page_is_in_tabs_with_its_statistics_under_rules(client, analyst, strategy):
    client.force_login(analyst)
    html = client.get(strategy.get_absolute_url()).content.decode()
    tabs = re.search(r"<nav class=\"section-tabs\"[^>]*data-tabs>(.*?)</nav>", html, re.S).group(1)
    anchors = re.findall(r'href="#([a-z-]+)"', tabs)
    assert anchors == ["overview", "context", "blind-spots", "validation", "response", "rules", "quality"]
    for anchor in anchors:  # every tab is also an anchor on the page: without JS it is a table of contents
        assert f'<div class="tab-panel" id="{anchor}">' in html
    rules_panel = html.split('<div class="tab-panel" id="rules">')[1]
    assert f'hx-get="{reverse("triage:strategy_stats", args=[strategy.pk])}"' in rules_panel


def test_statistics_of_a_missing_rule_or_strategy_are_404(client, analyst):
    client.force_login(analyst)
    assert client.get(reverse("triage:rule_stats", args=[999999])).status_code == 404
    assert client.get(reverse("triage:strategy_stats", args=[2**70])).status_code == 404


# --------------------------------------------------------------------------- who may read them


@pytest.mark.parametrize("user", ["analyst", "engineer"])
def test_analysts_and_engineers_read_the_statistics(client, request, user, rule, strategy):
    client.force_login(request.getfixturevalue(user))
    for url in (
        reverse("triage:dashboard"),
        reverse("triage:rule_stats", args=[rule.pk]),
        reverse("triage:strategy_stats", args=[strategy.pk]),
    ):
        assert client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_log_in(client, rule, strategy):
    for url in (
        reverse("triage:dashboard"),
        reverse("triage:rule_stats", args=[rule.pk]),
        reverse("triage:strategy_stats", args=[strategy.pk]),
    ):
        response = client.get(url, **HTMX)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_the_dashboard_is_in_the_top_navigation(client, analyst):
    client.force_login(analyst)
    html = client.get(reverse("triage:alert_list")).content.decode()
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r'href="([^"]+)"', nav)[0] == reverse("triage:dashboard")
