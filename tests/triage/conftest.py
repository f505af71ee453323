"""Fixtures for triage workflow tests: the API tests' real strategy, rule and alert factory."""

from tests.api.conftest import make_alert, rule, strategy  # noqa: F401
