"""Fixtures for the detections tests.

`attack_catalogue`: the packaged ATT&CK v18.1 catalogue in the test database. It is loaded once per test
module (committed, ~0.3 s on SQLite) and removed when the module ends, so modules that do not ask for it
see empty ATT&CK tables; each test still runs in its own transaction on top of it. A test that flushes
the database (transactional_db) gets it reloaded inside the test.
"""

import pytest

from detections.models import Tactic, Technique
from detections.services.attack import AttackLoadSummary, load_attack_catalogue


@pytest.fixture(scope="module")
def _attack_catalogue_rows(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        summary = load_attack_catalogue()
    yield summary
    with django_db_blocker.unblock():
        Technique.objects.all().delete()
        Tactic.objects.all().delete()


@pytest.fixture
def attack_catalogue(_attack_catalogue_rows, db) -> AttackLoadSummary:
    if Technique.objects.count() != _attack_catalogue_rows.techniques:
        return load_attack_catalogue()
    return _attack_catalogue_rows
