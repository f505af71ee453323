"""Every page needs a login; roles carry the permissions the pages and the admin enforce."""

import pytest
from django.urls import reverse

PAGES = [
    "detections:strategy_list",
    "detections:coverage",
    "detections:rule_list",
    "triage:alert_list",
    "telemetry:source_list",
]


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_pages_redirect_anonymous_users_to_login(client, page):
    response = client.get(reverse(page))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_pages_render_for_an_analyst(client, analyst, page):
    client.force_login(analyst)
    assert client.get(reverse(page)).status_code == 200


def test_analyst_may_view_but_not_change_strategies(analyst):
    assert analyst.has_perm("detections.view_strategy")
    assert not analyst.has_perm("detections.change_strategy")
    assert not analyst.has_perm("detections.add_detectionrule")
    assert analyst.has_perm("triage.change_alert")


def test_engineer_may_change_strategies_and_rules(engineer):
    assert engineer.has_perm("detections.change_strategy")
    assert engineer.has_perm("detections.add_detectionrule")
    assert engineer.has_perm("triage.add_suppression")


@pytest.mark.django_db
def test_healthz_needs_no_login(client):
    assert client.get("/healthz").json() == {"status": "ok"}
