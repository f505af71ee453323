"""Admin for sources (with their ingest tokens) and ingest batches."""

from django.contrib import admin

from telemetry.models import IngestBatch, Source
from telemetry.services import rotate_ingest_token


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "format", "enabled", "expected_cadence_seconds", "last_event_at", "last_ingest_at")
    list_filter = ("format", "enabled")
    search_fields = ("name", "description")
    readonly_fields = ("ingest_token", "created_at", "last_event_at", "last_ingest_at")
    actions = ["rotate_tokens"]

    @admin.action(description="Rotate the ingest token", permissions=["change"])
    def rotate_tokens(self, request, queryset):
        for source in queryset:
            rotate_ingest_token(source=source)
        self.message_user(request, f"Rotated {queryset.count()} token(s); producers need the new ones.")


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "channel", "filename", "accepted", "duplicates", "rejected")
    list_filter = ("channel", "source")
    readonly_fields = [f.name for f in IngestBatch._meta.fields]
