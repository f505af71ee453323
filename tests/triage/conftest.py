"""Celery mode for the detection and triage tests.

Tests marked `redis` run a real worker against the Redis broker; every other test runs
tasks eagerly in-process, even when REDIS_URL is set for the run (settings then turn
eager mode off for the whole process).
"""

import pytest
from celery import current_app


@pytest.fixture(autouse=True)
def celery_mode(request):
    eager = request.node.get_closest_marker("redis") is None
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = eager
    yield
    current_app.conf.task_always_eager = previous
