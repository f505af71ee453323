"""The live queue socket: new alerts and other analysts' changes reach an open queue, filtered, escaped, for staff only.

Runs on the configured channel layer for real: the in-memory layer when embedded, Redis with REDIS_URL.
Each test is one coroutine (a socket lives on one event loop); service calls run in a thread as in a view.
"""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from ads_portal.asgi import application
from tests.api.conftest import make_alert
from tests.detections.pipeline_factories import make_match
from triage.consumers import AlertQueueConsumer
from triage.services import raise_alerts, transition_alert

pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario):
    async_to_sync(scenario)()


async def _open(user, query=""):
    communicator = WebsocketCommunicator(AlertQueueConsumer.as_asgi(), f"/ws/triage/queue/?{query}")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def test_a_newly_raised_alert_is_pushed_as_a_row_added_at_the_top(rule, analyst):
    async def scenario():
        queue = await _open(analyst, "status=new")
        await sync_to_async(
            lambda: raise_alerts(matches=[make_match(rule=rule, entity="default/<img src=x onerror=alert(1)>")])
        )()
        html = await queue.receive_from(timeout=3)
        assert 'hx-swap-oob="afterbegin:#alert-rows"' in html and 'id="alert-row-' in html
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
        await queue.disconnect()

    run(scenario)


def test_another_analysts_change_replaces_the_row_in_place(rule, analyst, engineer):
    alert = make_alert(rule=rule)

    async def scenario():
        queue = await _open(analyst)
        await sync_to_async(lambda: transition_alert(alert=alert, to="acknowledged", user=engineer))()
        html = await queue.receive_from(timeout=3)
        assert f'id="alert-row-{alert.pk}"' in html and 'hx-swap-oob="outerHTML"' in html and "Acknowledged" in html
        await queue.disconnect()

    run(scenario)


def test_a_change_that_takes_an_alert_out_of_the_filters_marks_the_row_instead_of_removing_it(rule, analyst):
    alert = make_alert(rule=rule)

    async def scenario():
        queue = await _open(analyst, "status=new")
        await sync_to_async(lambda: transition_alert(alert=alert, to="acknowledged", user=analyst))()
        html = await queue.receive_from(timeout=3)
        assert "is-stale" in html and "no longer matches these filters" in html
        await queue.disconnect()

    run(scenario)


def test_new_alerts_outside_the_filters_are_not_pushed(rule, analyst):
    async def scenario():
        queue = await _open(analyst, "severity=critical")  # the rule raises high alerts
        await sync_to_async(lambda: raise_alerts(matches=[make_match(rule=rule)]))()
        assert await queue.receive_nothing(timeout=0.5)
        await queue.disconnect()

    run(scenario)


def test_anonymous_sockets_are_refused_through_the_real_stack(db):
    async def scenario():
        communicator = WebsocketCommunicator(
            application, "/ws/triage/queue/", headers=[(b"origin", b"http://localhost")]
        )
        connected, _ = await communicator.connect()
        assert not connected

    run(scenario)
