"""Admin for detection rules, runs and matches (imported at the bottom of detections/admin.py).

Sigma YAML is validated by the same function the service uses, so an error shows on
the YAML field as "line N: problem"; the derived fields (title, level, logsource,
ATT&CK ids) are read from the YAML, never typed twice.

Matches, runs and batch acknowledgements are evidence of what detection saw: nobody deletes
them here (no delete permission, so no delete link and no bulk delete action). Django's admin
then refuses any delete that would cascade to them, and a rule with matches is answered with
"disable it instead" rather than a bare 403: its matches (and the alerts built on them) would
go with it, since RuleMatch.rule cascades.
"""

from django.contrib import admin, messages
from django.shortcuts import redirect
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

    def delete_view(self, request, object_id, extra_context=None):
        rule = self.get_object(request, object_id)
        matches = rule.matches.count() if rule is not None else 0
        if matches:
            self.message_user(
                request,
                f"{rule} has {matches} match{'es' if matches != 1 else ''}: deleting it would delete that evidence "
                "and the alerts built on it. Set its status to disabled instead.",
                messages.ERROR,
            )
            return redirect("admin:detections_detectionrule_change", rule.pk)
        return super().delete_view(request, object_id, extra_context)


class EvidenceAdmin(admin.ModelAdmin):
    """Read-only record of detection: no one adds or deletes it in the admin."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DetectionRun)
class DetectionRunAdmin(EvidenceAdmin):
    list_display = ("id", "kind", "status", "batch", "events_scanned", "matches", "alerts", "duration_ms", "started_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in DetectionRun._meta.fields] + ["rules"]


@admin.register(RuleMatch)
class RuleMatchAdmin(EvidenceAdmin):
    list_display = ("id", "rule", "time", "entity_type", "entity", "dedup_key")
    list_filter = ("entity_type",)
    search_fields = ("entity", "rule__title", "dedup_key")
    raw_id_fields = ("rule", "run", "event")


@admin.register(BatchDetection)
class BatchDetectionAdmin(EvidenceAdmin):
    list_display = ("batch", "run", "finished_at")
    raw_id_fields = ("batch", "run")
