"""Account state changes: demo users for `make demo`."""

from django.contrib.auth.models import Group, User

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
