"""Version 1 of the REST API: each app contributes its routes from its `api` package."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("telemetry.api.urls")),
    path("", include("detections.api.urls")),
    path("", include("triage.api.urls")),
]
