"""The three roles of the portal as Django groups, and the permissions each one holds.

Permissions are Django model permissions, so the admin, the pages and the API all
enforce the same matrix. Roles are (re)built after every migrate, which keeps them
in step with new models without a data migration per model.
"""

from django.contrib.auth.models import Group, Permission

ANALYST = "Analyst"
DETECTION_ENGINEER = "Detection engineer"
ADMIN = "Admin"

# Models an analyst works on day to day (triage), by app label: the actions allowed.
_ANALYST_GRANTS = {
    "telemetry": {"view": "*", "add": ["event", "ingestbatch"]},
    "detections": {"view": "*"},
    "triage": {"view": "*", "add": "*", "change": "*"},
    "validation": {"view": "*"},
}
# Detection engineers own the content: strategies, rules, suppressions, sources.
_ENGINEER_GRANTS = {
    "telemetry": {"view": "*", "add": "*", "change": "*"},
    "detections": {"view": "*", "add": "*", "change": "*", "delete": "*"},
    "triage": {"view": "*", "add": "*", "change": "*", "delete": ["suppression"]},
    "validation": {"view": "*", "add": "*", "change": "*"},
}
_ADMIN_APPS = ("telemetry", "detections", "triage", "validation", "auth")


def _permissions_for(grants: dict) -> list[Permission]:
    chosen = []
    for app_label, actions in grants.items():
        for perm in Permission.objects.filter(content_type__app_label=app_label).select_related("content_type"):
            action, _, model = perm.codename.partition("_")
            allowed = actions.get(action)
            if allowed == "*" or (allowed and model in allowed):
                chosen.append(perm)
    return chosen


def ensure_roles() -> None:
    """Create the three groups and set their permissions (idempotent)."""
    analyst, _ = Group.objects.get_or_create(name=ANALYST)
    analyst.permissions.set(_permissions_for(_ANALYST_GRANTS))
    engineer, _ = Group.objects.get_or_create(name=DETECTION_ENGINEER)
    engineer.permissions.set(_permissions_for(_ENGINEER_GRANTS))
    admin, _ = Group.objects.get_or_create(name=ADMIN)
    admin.permissions.set(Permission.objects.filter(content_type__app_label__in=_ADMIN_APPS))


def ensure_roles_after_migrate(sender, **kwargs) -> None:
    if sender.name == "accounts":
        ensure_roles()


def is_detection_engineer(user) -> bool:
    """Engineers and admins decide what detection may ignore (suppressions beyond an analyst's bounds)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=(DETECTION_ENGINEER, ADMIN)).exists()
