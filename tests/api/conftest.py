"""Fixtures for the REST API tests: API clients per role, a real strategy, a Sigma rule, alerts."""

from __future__ import annotations

import pytest
from celery import current_app
from rest_framework.test import APIClient

from detections.services.rules import save_sigma_rule
from detections.services.strategies import import_strategy
from tests.conftest import SEEDS_DIR
from tests.detections.pipeline_factories import T0, make_match
from triage.models import Alert, AlertEvidence

EXEC_INTO_POD_YAML = """\
title: Exec into a pod
id: 9a3c1b2e-0000-4c5d-8e9f-000000000001
status: test
description: Someone ran a command in a pod's container.
tags:
    - attack.t1609
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb: create
        objectRef.resource: pods
        objectRef.subresource: exec
    condition: selection
level: high
"""
SEED_DOCUMENT = SEEDS_DIR / "000_5ed41e65eb0873d5.txt"


@pytest.fixture(autouse=True)
def celery_mode():
    """Tasks run in-process, even when REDIS_URL is set for the run (which turns eager mode off)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def anonymous_api(db) -> APIClient:
    return _client()


@pytest.fixture
def analyst_api(analyst) -> APIClient:
    return _client(analyst)


@pytest.fixture
def engineer_api(engineer) -> APIClient:
    return _client(engineer)


@pytest.fixture
def strategy(db):
    return import_strategy(text=SEED_DOCUMENT.read_text(), slug="container-c2").strategy


@pytest.fixture
def rule(strategy):
    return save_sigma_rule(yaml_text=EXEC_INTO_POD_YAML, strategies=[strategy])


def make_alert(*, rule, strategy=None, entity="default/web-1", at=T0, matches=1, **fields) -> Alert:
    """An alert with `matches` evidence rows, each on a stored event (as triage.services would leave it)."""
    alert = Alert.objects.create(
        rule=rule,
        strategy=strategy,
        title=f"{rule.title} on {entity}",
        entity_type="pod",
        entity=entity,
        group_key=f"test:{rule.pk}:{entity}:{at.isoformat()}:{fields.get('status', '')}",
        first_seen=at,
        last_seen=at,
        count=matches,
        **fields,
    )
    for _ in range(matches):
        match = make_match(rule=rule, time=at, entity=entity, fields={"verb": "create"})
        AlertEvidence.objects.create(alert=alert, match=match)
    return alert
