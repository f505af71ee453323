"""The role matrix of the REST API: analysts read everything and work alerts, engineers change content.

Every endpoint needs an authenticated user (session or HTTP basic); model permissions decide the rest,
GET included (view_*). Refusals are JSON with a `detail`.
"""

from __future__ import annotations

import base64

import pytest

from tests.api.conftest import EXEC_INTO_POD_YAML, SEED_DOCUMENT, make_alert

OTHER_RULE_YAML = EXEC_INTO_POD_YAML.replace("000000000001", "000000000002").replace("Exec into", "Attach to")

READS = [
    "/api/v1/strategies/",
    "/api/v1/strategies/container-c2/",
    "/api/v1/strategies/container-c2/markdown/",
    "/api/v1/rules/",
    "/api/v1/runs/",
    "/api/v1/alerts/",
    "/api/v1/suppressions/",
]

# (method, path, JSON body, what an engineer gets): changes to detection content.
CONTENT_CHANGES = [
    ("post", "/api/v1/strategies/import/", {"markdown": SEED_DOCUMENT.read_text(), "slug": "imported"}, 201),
    ("post", "/api/v1/strategies/container-c2/transition/", {"to": "review"}, 200),
    ("post", "/api/v1/rules/", {"sigma_yaml": OTHER_RULE_YAML}, 201),
    ("patch", "/api/v1/rules/{rule}/", {"status": "disabled"}, 200),
    (
        "post",
        "/api/v1/rules/{rule}/retro-hunt/",
        {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
        202,
    ),
]


@pytest.fixture
def urls(rule):
    return {"rule": rule.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("path", READS)
def test_anonymous_requests_are_refused_with_a_json_detail(anonymous_api, strategy, path):
    response = anonymous_api.get(path)
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")
    assert "credentials" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", READS)
def test_analysts_read_everything(analyst_api, strategy, path):
    assert analyst_api.get(path).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engineer_status"), CONTENT_CHANGES)
def test_analysts_cannot_change_detection_content(analyst_api, urls, method, path, body, engineer_status):
    response = getattr(analyst_api, method)(path.format(**urls), body, format="json")
    assert response.status_code == 403
    assert response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engineer_status"), CONTENT_CHANGES)
def test_engineers_change_detection_content(engineer_api, urls, method, path, body, engineer_status):
    response = getattr(engineer_api, method)(path.format(**urls), body, format="json")
    assert response.status_code == engineer_status, response.content


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "engineer_status"), CONTENT_CHANGES)
def test_anonymous_users_cannot_change_detection_content(anonymous_api, urls, method, path, body, engineer_status):
    response = getattr(anonymous_api, method)(path.format(**urls), body, format="json")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_analysts_change_alerts(analyst_api, rule):
    alert = make_alert(rule=rule)
    response = analyst_api.patch(f"/api/v1/alerts/{alert.pk}/", {"status": "acknowledged"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"


@pytest.mark.django_db
def test_only_engineers_delete_suppressions(analyst_api, engineer_api):
    body = {"name": "CI runner", "conditions": {"k8s_user": "system:serviceaccount:ci:*"}, "reason": "CI deploys"}
    created = analyst_api.post("/api/v1/suppressions/", body, format="json")
    assert created.status_code == 201
    path = f"/api/v1/suppressions/{created.json()['id']}/"
    assert analyst_api.delete(path).status_code == 403
    assert engineer_api.delete(path).status_code == 204


@pytest.mark.django_db
def test_http_basic_authentication_is_accepted(client, analyst):
    token = base64.b64encode(b"ana:pw-for-tests-1").decode()
    response = client.get("/api/v1/rules/", HTTP_AUTHORIZATION=f"Basic {token}")
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_session_login_is_accepted(client, analyst):
    client.force_login(analyst)
    assert client.get("/api/v1/alerts/").status_code == 200


def test_unknown_api_paths_answer_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("No API endpoint at /api/v1/no-such-thing/")
