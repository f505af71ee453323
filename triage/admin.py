"""Admin for alerts and suppressions; suppressions show what they have suppressed, so tuning stays visible.

The admin is another way in, not a way around the rules: an alert's status, verdict and assignee
change through triage.services (lifecycle checked, audited, announced to live queues), and
suppressions are held to check_suppression_policy as in the API. Alerts are raised by the
pipeline, never added by hand; what the pipeline recorded is shown read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count

from triage.models import Alert, Suppression, SuppressionHit
from triage.services import (
    ALERT_TRANSITIONS,
    assign_alert,
    assignable_users,
    check_assignee,
    check_suppression_policy,
    check_transition,
    delete_suppression,
    may_change_suppression,
    transition_alert,
)


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


class AlertAdminForm(forms.ModelForm):
    """Status, verdict and assignee as the workflow allows them; AlertAdmin.save_model applies them through the services."""

    class Meta:
        model = Alert
        fields = ["status", "disposition", "close_reason", "assignee"]

    # check_closing names the reason `reason`; here the field is the model's `close_reason`.
    FIELD_OF_SERVICE_ERROR = {"reason": "close_reason"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.status
        if "status" in self.fields:
            # The lifecycle's next steps only, so the admin offers what the alert page offers.
            allowed = {current, *ALERT_TRANSITIONS[Alert.Status(current)]}
            self.fields["status"].choices = [(v, label) for v, label in Alert.Status.choices if v in allowed]
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = self.fields["assignee"].queryset.filter(
                pk__in=[u.pk for u in assignable_users()]
            )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        current = self.instance.status  # still the stored row: the form writes to the instance after clean()
        to = cleaned.get("status", current)
        disposition = cleaned.get("disposition", "") or ""
        reason = cleaned.get("close_reason", "") or ""
        problems: dict[str, list[str]] = {}
        try:
            check_transition(current=current, to=to, disposition=disposition, reason=reason)
        except ValidationError as refused:
            for name, errors in refused.message_dict.items():
                problems.setdefault(self.FIELD_OF_SERVICE_ERROR.get(name, name), []).extend(errors)
        verdict_changed = sorted({"disposition", "close_reason"} & set(self.changed_data))
        if to != Alert.Status.CLOSED and verdict_changed:
            problems.setdefault(verdict_changed[0], []).append(
                "A verdict is given by closing the alert: set the status to Closed as well."
            )
        try:
            check_assignee(cleaned.get("assignee"))
        except ValidationError as refused:
            problems.setdefault("assignee", []).extend(refused.messages)
        if problems:
            raise ValidationError(problems)
        return cleaned


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("title", "severity", "status", "disposition", "entity", "count", "last_seen", "assignee")
    list_filter = ("status", "disposition", "severity", "strategy", "rule")
    search_fields = ("title", "entity")
    form = AlertAdminForm
    fieldsets = (
        (None, {"fields": ("title", "severity", "rule", "strategy", "entity_type", "entity", "source", "case")}),
        ("Triage", {"fields": ("status", "disposition", "close_reason", "assignee", "acknowledged_at")}),
        ("Closed", {"fields": ("closed_at", "closed_by")}),
        ("Grouping", {"fields": ("group_key", "first_seen", "last_seen", "count", "created_at", "updated_at")}),
    )
    # What the pipeline recorded, and what only the workflow sets (who closed it, and when).
    readonly_fields = (
        "title",
        "severity",
        "rule",
        "strategy",
        "entity_type",
        "entity",
        "source",
        "case",
        "acknowledged_at",
        "closed_at",
        "closed_by",
        "group_key",
        "first_seen",
        "last_seen",
        "count",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.status == Alert.Status.CLOSED:
            # A closed alert's verdict stands as given; reopening clears it and a new close gives another.
            readonly = (*readonly, "disposition", "close_reason")
        return readonly

    def has_add_permission(self, request):
        return False  # alerts are raised from rule matches (triage.services.raise_alerts)

    def save_model(self, request, obj, form, change):
        """Apply the form through transition_alert and assign_alert instead of saving the row as edited."""
        alert = Alert.objects.get(pk=obj.pk)
        data = form.cleaned_data
        try:
            if {"status", "disposition", "close_reason"} & set(form.changed_data):
                transition_alert(
                    alert=alert,
                    to=data.get("status", alert.status),
                    user=request.user,
                    disposition=data.get("disposition", "") or "",
                    reason=data.get("close_reason", "") or "",
                )
            if "assignee" in form.changed_data:
                assign_alert(alert=alert, assignee=data.get("assignee"), user=request.user)
        except (ValidationError, PermissionDenied) as refused:
            # Someone else moved the alert between the form's check and this save: say so, change nothing more.
            reason = " ".join(refused.messages) if isinstance(refused, ValidationError) else str(refused)
            self.message_user(request, f"Not changed: {reason}", level=messages.ERROR)
        obj.refresh_from_db()


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
