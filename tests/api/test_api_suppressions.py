"""Suppressions over the API: create (conditions required), edit, preview against past matches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.detections.pipeline_factories import make_match
from triage.models import Suppression

CI_USER = {"k8s_user": "system:serviceaccount:ci:*"}
EXPIRES = (datetime.now(UTC) + timedelta(days=7)).isoformat()


@pytest.mark.django_db
def test_create_records_the_owner_and_scope(analyst_api, analyst, rule):
    body = {"name": "CI", "conditions": CI_USER, "reason": "CI deploys", "rule": rule.pk, "strategy": "container-c2"}
    body["expires_at"] = EXPIRES
    response = analyst_api.post("/api/v1/suppressions/", body, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["owner"], response.json()["hits"]) == ("ana", 0)
    suppression = Suppression.objects.get()
    assert (suppression.owner, suppression.rule, suppression.strategy.slug) == (analyst, rule, "container-c2")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("conditions", "reason", "problem"),
    [({}, "why", "conditions"), ({"pod": {"a": 1}}, "why", "conditions"), (CI_USER, "  ", "reason")],
)
def test_create_refuses_empty_conditions_or_reason(analyst_api, conditions, reason, problem):
    body = {"name": "x", "conditions": conditions, "reason": reason}
    response = analyst_api.post("/api/v1/suppressions/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(problem)
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_edit_disables_a_suppression(analyst_api, analyst, engineer_api, engineer, rule):
    body = {"name": "CI", "conditions": CI_USER, "reason": "CI", "rule": rule.pk, "expires_at": EXPIRES}
    created = analyst_api.post("/api/v1/suppressions/", body, format="json").json()
    response = analyst_api.patch(f"/api/v1/suppressions/{created['id']}/", {"enabled": False}, format="json")
    assert response.status_code == 200
    assert (Suppression.objects.get().enabled, Suppression.objects.get().updated_by) == (False, analyst)
    response = engineer_api.patch(f"/api/v1/suppressions/{created['id']}/", {"enabled": True}, format="json")
    assert response.status_code == 200
    assert (Suppression.objects.get().enabled, Suppression.objects.get().updated_by) == (True, engineer)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"conditions": {"container_id": "*"}}, "conditions: container_id"),
        ({"conditions": {"container_id": ["48dc4021807d", "**"]}}, "conditions: container_id"),
        ({"rule": None}, "rule"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_analysts_get_a_400_with_the_reason_for_a_blinding_suppression(analyst_api, rule, body, problem):
    full = {"name": "x", "conditions": CI_USER, "reason": "why", "rule": rule.pk, "expires_at": EXPIRES, **body}
    response = analyst_api.post("/api/v1/suppressions/", full, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(problem)
    assert not Suppression.objects.exists()


@pytest.mark.django_db
def test_an_analyst_suppression_hiding_many_past_matches_is_a_403(analyst_api, engineer_api, rule, settings):
    settings.SUPPRESSION_ANALYST_MAX_PAST_MATCHES = 1
    make_match(rule=rule, entity="default/web-1", fields={"verb": "create"})
    make_match(rule=rule, entity="default/web-2", fields={"verb": "create"})
    body = {"name": "x", "conditions": {"verb": "create"}, "reason": "why", "rule": rule.pk, "expires_at": EXPIRES}
    response = analyst_api.post("/api/v1/suppressions/", body, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This suppression would hide 2 past matches; needs a detection engineer."
    assert engineer_api.post("/api/v1/suppressions/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_preview_counts_the_past_matches_the_conditions_would_catch(analyst_api, rule):
    make_match(rule=rule, entity="default/web-1", fields={"verb": "create"})
    make_match(rule=rule, entity="default/web-2", fields={"verb": "create"})
    make_match(rule=rule, entity="kube-system/dns", fields={"verb": "create"})

    def preview(conditions, **extra):
        query = urlencode({"conditions": json.dumps(conditions), **extra})
        return analyst_api.get(f"/api/v1/suppressions/preview/?{query}")

    response = preview({"namespace": "default"}, rule=rule.pk)
    assert response.status_code == 200
    assert response.json()["matches"] == 2
    assert preview({"entity": "kube-system/*"}).json()["matches"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("conditions", ["not json", "{}", "[1]"])
def test_preview_refuses_conditions_that_are_not_a_json_object(analyst_api, conditions):
    response = analyst_api.get(f"/api/v1/suppressions/preview/?{urlencode({'conditions': conditions})}")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("conditions")
