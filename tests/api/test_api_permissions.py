"""The role matrix of the REST API: analysts read everything and work alerts, engineers change content.

Every endpoint needs an authenticated user (a session; HTTP basic is refused); model permissions decide the rest,
GET included (view_*). Refusals are JSON with a `detail`.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import ANALYST
from tests.api.conftest import EXEC_INTO_POD_YAML, SEED_DOCUMENT, make_alert
from triage.models import Suppression

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


def _suppression_body(scope, **extra):
    expires = (timezone.now() + timedelta(days=7)).isoformat()
    body = {"name": "CI runner", "conditions": {"k8s_user": "system:serviceaccount:ci:*"}, "reason": "CI deploys"}
    return {**body, "rule": scope.pk, "expires_at": expires, **extra}


@pytest.fixture
def other_analyst_api(db):
    from tests.api.conftest import _client
    from tests.conftest import _user_with_role

    return _client(_user_with_role("ana-2", ANALYST))


@pytest.fixture
def admin_api(admin_user):
    from tests.api.conftest import _client

    return _client(admin_user)


# (who changes an analyst's suppression, PATCH status, DELETE status). Only the owner or an
# engineer changes a suppression; deleting one is an engineer's (or admin's) decision alone.
SUPPRESSION_CHANGES = [
    ("analyst_api", 200, 403),  # the owner
    ("other_analyst_api", 403, 403),
    ("engineer_api", 200, 204),
    ("admin_api", 200, 204),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "patch_status", "delete_status"), SUPPRESSION_CHANGES)
@pytest.mark.parametrize("patch", [{"enabled": False}, {"reason": "CI deploys, reviewed"}])
def test_who_changes_disables_and_deletes_an_analysts_suppression(
    request, analyst_api, rule, who, patch_status, delete_status, patch
):
    created = analyst_api.post("/api/v1/suppressions/", _suppression_body(rule), format="json")
    assert created.status_code == 201, created.content
    path = f"/api/v1/suppressions/{created.json()['id']}/"
    client = request.getfixturevalue(who)
    response = client.patch(path, patch, format="json")
    assert response.status_code == patch_status, response.content
    if patch_status == 403:
        assert response.json()["detail"]
        assert Suppression.objects.get().enabled is True
    response = client.delete(path)
    assert response.status_code == delete_status
    assert Suppression.objects.exists() is (delete_status != 204)


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "status"), [("analyst_api", 400), ("engineer_api", 201), ("admin_api", 201)])
def test_only_engineers_create_unscoped_permanent_suppressions(request, rule, who, status):
    body = _suppression_body(rule, rule=None, expires_at=None)
    response = request.getfixturevalue(who).post("/api/v1/suppressions/", body, format="json")
    assert response.status_code == status, response.content


@pytest.mark.django_db
def test_only_engineers_change_a_shipped_suppression(analyst_api, engineer_api, rule):
    shipped = Suppression.objects.create(
        name="shipped", slug="shipped", conditions={"namespace": "dev"}, reason="dev", rule=rule
    )
    path = f"/api/v1/suppressions/{shipped.pk}/"
    assert analyst_api.patch(path, {"enabled": False}, format="json").status_code == 403
    assert engineer_api.patch(path, {"enabled": False}, format="json").status_code == 200


@pytest.mark.django_db
def test_http_basic_authentication_is_refused(client, analyst):
    """Basic auth let anyone guess passwords against the API without a CSRF token or the login throttle."""
    token = base64.b64encode(b"ana:pw-for-tests-1").decode()
    response = client.get("/api/v1/rules/", HTTP_AUTHORIZATION=f"Basic {token}")
    assert response.status_code in (401, 403)
    assert response.json()["detail"]


@pytest.mark.django_db
def test_a_session_login_is_accepted(client, analyst):
    client.force_login(analyst)
    assert client.get("/api/v1/alerts/").status_code == 200


def test_unknown_api_paths_answer_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("No API endpoint at /api/v1/no-such-thing/")
