"""Admin for alerts and suppressions; suppressions show what they have suppressed, so tuning stays visible."""

from django.contrib import admin
from django.db.models import Count

from triage.models import Alert, Suppression, SuppressionHit


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("title", "severity", "status", "entity", "count", "first_seen", "last_seen", "assignee")
    list_filter = ("status", "severity", "strategy", "rule")
    search_fields = ("title", "entity")
    readonly_fields = ("rule", "strategy", "group_key", "first_seen", "last_seen", "count", "created_at")


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("name", "rule", "strategy", "enabled", "expires_at", "owner_name", "suppressed_matches")
    list_filter = ("enabled",)
    search_fields = ("name", "reason")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(hit_count=Count("hits"))

    @admin.display(description="Suppressed matches", ordering="hit_count")
    def suppressed_matches(self, obj):
        return obj.hit_count


@admin.register(SuppressionHit)
class SuppressionHitAdmin(admin.ModelAdmin):
    list_display = ("suppression", "match", "created_at")
    list_filter = ("suppression",)
    readonly_fields = ("suppression", "match", "created_at")
