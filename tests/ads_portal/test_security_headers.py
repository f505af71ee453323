"""Every response carries a strict Content-Security-Policy and the usual browser hardening headers.

Issue 13, item 8: without a CSP, one markup injection anywhere (telemetry is attacker-controlled)
is script in the portal's origin. With `script-src 'self'` and no 'unsafe-inline', injected
`<script>` or `onerror=` does not run; the template test beside this one keeps our own pages from
needing inline script.
"""

import pytest
from django.urls import reverse

from detections.models import Strategy

pytestmark = pytest.mark.django_db

SIGNED_IN_PAGES = [
    "detections:strategy_list",
    "detections:coverage",
    "detections:rule_list",
    "detections:run_list",
    "triage:alert_list",
    "telemetry:source_list",
    "admin:index",
    "admin:detections_strategy_changelist",
]
ANONYMOUS_PAGES = ["/accounts/login/", "/admin/login/", "/healthz", "/static/vendor/htmx.min.js", "/no-such-page"]


def policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy")
    assert header, f"{response.status_code} {response.get('Content-Type')} has no Content-Security-Policy"
    directives = {}
    for directive in filter(None, (part.strip() for part in header.split(";"))):
        name, *sources = directive.split()
        directives[name] = sources
    return directives


def assert_hardened(response, *, inline_styles: bool = False) -> None:
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["style-src"] == (["'self'", "'unsafe-inline'"] if inline_styles else ["'self'"])
    assert csp["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]  # Channels websockets
    assert response["X-Content-Type-Options"] == "nosniff"
    if response["Content-Type"].startswith("text/html"):  # frame-ancestors already covers the rest
        assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_signed_in_pages_answer_with_a_strict_policy(client, admin_user, name):
    client.force_login(admin_user)
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert_hardened(response)


@pytest.mark.parametrize("url", ANONYMOUS_PAGES)
def test_login_pages_static_files_and_errors_answer_with_a_strict_policy(client, url):
    assert_hardened(client.get(url))


def test_a_strategy_page_its_htmx_partial_its_admin_page_and_the_api_answer_with_a_strict_policy(client, admin_user):
    strategy = Strategy.objects.create(title="Netcat listener", slug="netcat")
    client.force_login(admin_user)
    for response in (
        client.get(strategy.get_absolute_url()),
        client.get(reverse("detections:strategy_list"), HTTP_HX_REQUEST="true"),
        client.get(reverse("admin:detections_strategy_change", args=[strategy.pk])),
    ):
        assert response.status_code == 200
        assert_hardened(response)
    # DRF's browsable API templates carry inline styles: allowed there, scripts still 'self' only.
    for response in (
        client.get("/api/v1/strategies/", HTTP_ACCEPT="application/json"),
        client.get("/api/v1/strategies/", HTTP_ACCEPT="text/html"),
        client.get("/api/schema/"),
    ):
        assert response.status_code == 200
        assert_hardened(response, inline_styles=True)


def test_the_policy_names_the_host_the_page_was_served_from_for_websockets(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("triage:alert_list"), HTTP_HOST="localhost")
    assert policy(response)["connect-src"] == ["'self'", "ws://localhost", "wss://localhost"]
