"""The live alert queue: a websocket that pushes changed rows to an open queue page.

The page connects with its own filters in the query string (the same AlertFilter as a reload).
When alerts change (triage.live), each consumer re-reads them for its user and filters and sends
htmx out-of-band swaps rendered with the same row partial as the page:
- a changed alert already on the page replaces its row (the page keeps the selection, see queue.js);
- a new alert that matches the filters is added at the top of the table;
- a changed alert that no longer matches is marked as such, not removed under the analyst's cursor.
Only users who may view alerts connect; everything rendered goes through the templates' escaping,
and control and bidi characters are made visible as on every page (ads_portal.middleware).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import QueryDict
from django.template.loader import render_to_string

from ads_portal.middleware import visible_html
from triage.filters import AlertFilter
from triage.live import QUEUE_GROUP
from triage.models import Alert

MAX_IDS_PER_PUSH = 200


class _Request:
    """What AlertFilter needs of a request (`me` means the socket's user)."""

    def __init__(self, user):
        self.user = user


class AlertQueueConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if (
            user is None
            or not user.is_authenticated
            or not await database_sync_to_async(user.has_perm)("triage.view_alert")
        ):
            await self.close(code=4403)
            return
        query = self.scope.get("query_string", b"").decode("utf-8", "replace")
        self.params = QueryDict(query)
        self.user = user
        await self.channel_layer.group_add(QUEUE_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "user"):
            await self.channel_layer.group_discard(QUEUE_GROUP, self.channel_name)

    async def alerts_changed(self, event):
        ids = [int(i) for i in event.get("ids", [])][:MAX_IDS_PER_PUSH]
        created = {int(i) for i in event.get("created", [])}
        html = await database_sync_to_async(self.render_changes)(ids, created)
        if html:
            # A push bypasses the middleware that makes control and bidi characters visible on pages.
            await self.send(text_data=visible_html(html))

    def render_changes(self, ids: list[int], created: set[int]) -> str:
        alerts = Alert.objects.filter(pk__in=ids).select_related("rule", "strategy", "assignee")
        filterset = AlertFilter(self.params, queryset=alerts, request=_Request(self.user))
        if not filterset.is_valid():
            return ""
        matching = set(filterset.qs.values_list("pk", flat=True))
        parts = []
        for alert in sorted(alerts, key=lambda a: (a.last_seen, a.pk)):
            if alert.pk not in matching:
                if alert.pk not in created:  # a new alert outside the filters is not this queue's business
                    parts.append(render_to_string("triage/partials/alert_row_gone.html", {"a": alert}))
            elif alert.pk in created:
                parts.append(render_to_string("triage/partials/alert_row_new.html", {"a": alert}))
            else:
                parts.append(render_to_string("triage/partials/alert_row_oob.html", {"a": alert}))
        return "".join(parts)
