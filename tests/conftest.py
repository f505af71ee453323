"""Shared fixtures: real shared data, users per role, and database flavour markers."""

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from accounts.roles import ADMIN, ANALYST, DETECTION_ENGINEER, ensure_roles

SHARED_DATA = Path(settings.SHARED_DATA_DIR)
SEEDS_DIR = SHARED_DATA.parent / "seeds"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA} (set ADS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def seed_paths() -> list[Path]:
    return sorted(SEEDS_DIR.glob("*.txt"))


def _user_with_role(username: str, role: str) -> User:
    ensure_roles()
    user = User.objects.create_user(username=username, password="pw-for-tests-1")
    user.groups.add(Group.objects.get(name=role))
    if role != ANALYST:
        user.is_staff = True
        user.save()
    return user


@pytest.fixture
def analyst(db) -> User:
    return _user_with_role("ana", ANALYST)


@pytest.fixture
def engineer(db) -> User:
    return _user_with_role("eng", DETECTION_ENGINEER)


@pytest.fixture
def admin_user(db) -> User:
    user = _user_with_role("adm", ADMIN)
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture(autouse=True)
def celery_mode(request):
    """Tasks run eagerly in-process, even when REDIS_URL is set for the run (settings then turn eager
    mode off for the whole process); tests marked `redis` run a real worker against the broker."""
    from celery import current_app

    eager = request.node.get_closest_marker("redis") is None
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = eager
    yield
    current_app.conf.task_always_eager = previous


def pytest_collection_modifyitems(config, items):
    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL)")
    skip_redis = pytest.mark.skip(reason="needs Redis (run with REDIS_URL)")
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)
