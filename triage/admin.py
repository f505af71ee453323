"""Admin for alerts and suppressions; suppressions show what they have suppressed, so tuning stays visible.

Suppressions are held to triage.services.check_suppression_policy here as in the API: the
admin is another way in, not a way around the policy.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count

from triage.models import Alert, Suppression, SuppressionHit
from triage.services import check_suppression_policy, delete_suppression, may_change_suppression


class SuppressionAdminForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["name", "rule", "strategy", "conditions", "reason", "owner_name", "expires_at", "enabled", "slug"]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            check_suppression_policy(
                user=self.request_user,
                conditions=cleaned.get("conditions"),
                rule=cleaned.get("rule"),
                strategy=cleaned.get("strategy"),
                expires_at=cleaned.get("expires_at"),
                enabled=cleaned.get("enabled", True),
            )
        except PermissionDenied as refused:
            raise ValidationError(str(refused)) from refused
        return cleaned


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
    form = SuppressionAdminForm
    readonly_fields = ("owner", "updated_by", "updated_at")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request_user = request.user
        return form

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_change_suppression(suppression=obj, user=request.user))

    def has_delete_permission(self, request, obj=None):
        from accounts.roles import is_detection_engineer

        return super().has_delete_permission(request, obj) and is_detection_engineer(request.user)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        delete_suppression(suppression=obj, user=request.user)

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
