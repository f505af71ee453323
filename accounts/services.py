"""Account state changes: demo users for `make demo`, and the login throttle's counters."""

import hashlib
import math
import time

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from .roles import ADMIN, ANALYST, DETECTION_ENGINEER, ensure_roles

DEMO_USERS = (
    ("analyst", ANALYST, False),
    ("engineer", DETECTION_ENGINEER, False),
    ("admin", ADMIN, True),
)


def create_demo_users(*, password: str) -> list[tuple[str, str]]:
    """Create (or reset) one demo user per role; returns (username, role) pairs."""
    ensure_roles()
    created = []
    for username, role, is_superuser in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = role != ANALYST
        user.is_superuser = is_superuser
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        created.append((username, role))
    return created


# --------------------------------------------------------------------------- login throttling
# Failed logins are counted per username and per client address in Django's cache (LocMem when
# embedded, Redis with REDIS_URL, so every process of a deployment shares the counts). Reaching
# a limit within LOGIN_FAILURE_WINDOW_SECONDS locks that username (from every address) or that
# address (for every username) out for LOGIN_LOCKOUT_SECONDS, the right password included:
# otherwise a guesser only has to keep going until it is right.


def _key(kind: str, value: str) -> str:
    # Hashed: usernames typed at a login form are attacker-chosen (length, characters).
    return f"login:{kind}:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


def _subjects(*, username: str | None, ip: str | None) -> list[tuple[str, str, int]]:
    subjects = []
    if username:
        subjects.append(("user", username.strip().lower(), settings.LOGIN_FAILURES_PER_USERNAME))
    if ip:
        subjects.append(("ip", ip, settings.LOGIN_FAILURES_PER_IP))
    return subjects


def client_ip(request) -> str:
    """The peer address; a proxy in front must set REMOTE_ADDR (X-Forwarded-For is client-controlled)."""
    return (getattr(request, "META", None) or {}).get("REMOTE_ADDR", "") if request is not None else ""


def login_lockout_seconds(*, username: str | None, ip: str | None) -> int:
    """Seconds until a login for this username from this address may be tried again; 0 if it may now."""
    now = time.time()
    remaining = 0
    for kind, value, _limit in _subjects(username=username, ip=ip):
        until = cache.get(_key(f"locked-{kind}", value))
        if until is not None:
            remaining = max(remaining, math.ceil(until - now))
    return max(remaining, 0)


def record_login_failure(*, username: str | None, ip: str | None) -> None:
    """Count a failed login; at a limit, lock the username or the address out."""
    window, lockout = settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_LOCKOUT_SECONDS
    for kind, value, limit in _subjects(username=username, ip=ip):
        key = _key(f"failed-{kind}", value)
        cache.add(key, 0, timeout=window)  # the window starts at the first failure
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.set(_key(f"locked-{kind}", value), time.time() + lockout, timeout=lockout)
            cache.delete(key)  # after the lockout, counting starts again


def record_login_success(*, username: str | None) -> None:
    """A successful login clears the username's failures (the address's stay: it may be guessing others)."""
    for kind, value, _limit in _subjects(username=username, ip=None):
        cache.delete(_key(f"failed-{kind}", value))
