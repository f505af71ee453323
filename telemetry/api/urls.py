from django.urls import path

from telemetry.api.views import IngestView

urlpatterns = [
    path("ingest/<slug:source>/", IngestView.as_view(), name="telemetry-ingest"),
]
