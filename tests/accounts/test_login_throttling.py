"""Password guessing is bounded: failed logins per username and per client address lock logins out for a while.

Issue 13 item 8: 40 wrong passwords, then the right one, logged in. Counters live in Django's
cache (LocMem embedded, Redis with REDIS_URL), so these tests run against both.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"  # tests.conftest._user_with_role


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def login(client, username, password, *, url=None, ip="198.51.100.7"):
    return client.post(url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(response) -> bool:
    return response.status_code == 302


def test_forty_wrong_passwords_then_the_right_one_is_refused(client, analyst):
    for _ in range(40):
        assert not logged_in(login(client, "ana", "guess"))
    response = login(client, "ana", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_FAILURES_PER_USERNAME=3)
def test_the_username_is_locked_from_every_address(client, analyst):
    for n in range(3):
        login(client, "ana", "guess", ip=f"203.0.113.{n}")
    assert login(client, "ana", PASSWORD, ip="192.0.2.99").status_code == 429
    assert login(client, "ANA", PASSWORD, ip="192.0.2.99").status_code == 429  # usernames fold case


@override_settings(LOGIN_FAILURES_PER_USERNAME=3)
def test_a_success_before_the_limit_resets_the_username_count(client, analyst):
    for _ in range(2):
        login(client, "ana", "guess")
    assert logged_in(login(client, "ana", PASSWORD))
    client.logout()
    for _ in range(2):
        login(client, "ana", "guess")
    assert logged_in(login(client, "ana", PASSWORD))


@override_settings(LOGIN_FAILURES_PER_USERNAME=2, LOGIN_LOCKOUT_SECONDS=1)
def test_the_lockout_expires(client, analyst):
    for _ in range(2):
        login(client, "ana", "guess")
    assert login(client, "ana", PASSWORD).status_code == 429
    time.sleep(1.2)
    assert logged_in(login(client, "ana", PASSWORD))


@override_settings(LOGIN_FAILURES_PER_USERNAME=100, LOGIN_FAILURES_PER_IP=4)
def test_one_address_guessing_many_usernames_is_locked(client, analyst):
    for n in range(4):
        login(client, f"user-{n}", "guess", ip="198.51.100.50")
    assert login(client, "ana", PASSWORD, ip="198.51.100.50").status_code == 429
    assert logged_in(login(client, "ana", PASSWORD, ip="198.51.100.51"))


@override_settings(LOGIN_FAILURES_PER_USERNAME=3)
def test_the_admin_login_is_throttled_too(client, engineer):
    url = reverse("admin:login")
    for _ in range(3):
        assert login(client, "eng", "guess", url=url).status_code == 200
    response = login(client, "eng", PASSWORD, url=url)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_FAILURES_PER_USERNAME=3)
def test_failures_on_the_admin_login_count_for_the_portal_login(client, engineer):
    for _ in range(3):
        login(client, "eng", "guess", url=reverse("admin:login"))
    assert login(client, "eng", PASSWORD).status_code == 429
