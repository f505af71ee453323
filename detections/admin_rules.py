"""Admin for detection rules, runs and matches (imported at the bottom of detections/admin.py).

Sigma YAML is validated by the same function the service uses, so an error shows on
the YAML field as "line N: problem"; the derived fields (title, level, logsource,
ATT&CK ids) are read from the YAML, never typed twice.
"""

from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from detections.forms import DetectionRuleForm
from detections.models import BatchDetection, DetectionRule, DetectionRun, RuleMatch


@admin.register(DetectionRule)
class DetectionRuleAdmin(SimpleHistoryAdmin):
    form = DetectionRuleForm
    list_display = ("title", "kind", "level", "status", "logsource_product", "logsource_service", "updated_at")
    list_filter = ("kind", "status", "level", "logsource_product")
    search_fields = ("title", "rule_uid", "name", "description")
    filter_horizontal = ("strategies",)
    readonly_fields = (
        "logsource_product",
        "logsource_category",
        "logsource_service",
        "attack_ids",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("kind", "status", "sigma_yaml", "strategies")}),
        (
            "From the YAML (Sigma) or set here (analytics)",
            {"fields": ("title", "rule_uid", "name", "level", "description", "analytic_type", "parameters")},
        ),
        (
            "Derived",
            {
                "classes": ("collapse",),
                "fields": (
                    "logsource_product",
                    "logsource_category",
                    "logsource_service",
                    "attack_ids",
                    "source_path",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The rule is saved; what parse_sigma_rule warned about (unmapped fields) is for the author to check.
        for warning in getattr(form.parsed, "warnings", None) or []:
            self.message_user(request, str(warning), messages.WARNING)


@admin.register(DetectionRun)
class DetectionRunAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "batch", "events_scanned", "matches", "alerts", "duration_ms", "started_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in DetectionRun._meta.fields] + ["rules"]

    def has_add_permission(self, request):
        return False


@admin.register(RuleMatch)
class RuleMatchAdmin(admin.ModelAdmin):
    list_display = ("id", "rule", "time", "entity_type", "entity", "dedup_key")
    list_filter = ("entity_type",)
    search_fields = ("entity", "rule__title", "dedup_key")
    raw_id_fields = ("rule", "run", "event")

    def has_add_permission(self, request):
        return False


@admin.register(BatchDetection)
class BatchDetectionAdmin(admin.ModelAdmin):
    list_display = ("batch", "run", "finished_at")
    raw_id_fields = ("batch", "run")
