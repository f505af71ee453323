"""Live queue updates: after a change commits, tell every open queue which alerts changed.

The message carries only ids; each websocket consumer re-reads the alerts and renders them with
the same row partial as a page reload, for its own user and filters (so nothing an analyst may
not see is pushed, and a pushed row is byte for byte a reloaded row). Sent after commit, so a
rolled-back change is never announced. The channel layer is the in-memory one when embedded and
Redis when REDIS_URL is set; a layer that is down must not fail the analyst's action.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

QUEUE_GROUP = "alert-queue"


def _send(alert_ids: list[int], created: list[int]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(QUEUE_GROUP, {"type": "alerts.changed", "ids": alert_ids, "created": created})
    except Exception:  # a live view is a convenience: the change itself is committed and shown on reload
        logger.warning("could not announce %d changed alert(s) to live queues", len(alert_ids), exc_info=True)


def announce_alerts_changed(alert_ids: Iterable[int], *, created: Iterable[int] = ()) -> None:
    """After commit, tell live queues these alerts changed; `created` are new ones (added at the top)."""
    ids = sorted({int(i) for i in alert_ids})
    new = sorted({int(i) for i in created})
    if ids:
        transaction.on_commit(lambda: _send(ids, new))
