from django.contrib import admin

from validation.models import ScenarioResult, ValidationRun


class ScenarioResultInline(admin.TabularInline):
    model = ScenarioResult
    extra = 0
    readonly_fields = ("scenario_key", "name", "kind", "passed", "reason")
    fields = readonly_fields


@admin.register(ValidationRun)
class ValidationRunAdmin(admin.ModelAdmin):
    list_display = ("strategy", "status", "started_at", "finished_at", "triggered_by")
    list_filter = ("status", "strategy")
    readonly_fields = ("strategy", "status", "started_at", "finished_at", "triggered_by", "error")
    inlines = [ScenarioResultInline]
