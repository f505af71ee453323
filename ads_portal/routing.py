"""Websocket routes of every app, collected in one place."""

from django.urls import path

from triage.consumers import AlertQueueConsumer

websocket_urlpatterns: list = [
    path("ws/triage/queue/", AlertQueueConsumer.as_asgi()),
]
