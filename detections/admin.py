"""Admin for the strategy library: every field editable with inline child rows, a rendered
preview, history with diff and revert, and lifecycle transitions through the service.

After an admin save the document's markdown is regenerated from the structured data, so
each history record holds the whole document and a revert brings the child rows back.
"""

import difflib

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from detections.models import (
    BlindSpot,
    ExtraSection,
    FalsePositive,
    Resource,
    ResponseStep,
    Strategy,
    StrategyTechnique,
    Tactic,
    Technique,
    ValidationScenario,
    ValidationStep,
)
from detections.rendering import render_markdown
from detections.services.lifecycle import transition_strategy


class StrategyTechniqueInline(admin.TabularInline):
    model = StrategyTechnique
    extra = 0
    fields = ("order", "attack_id", "name_as_written", "technique")
    autocomplete_fields = ("technique",)


class BlindSpotInline(admin.TabularInline):
    model = BlindSpot
    extra = 0


class FalsePositiveInline(admin.TabularInline):
    model = FalsePositive
    extra = 0


class ValidationScenarioInline(admin.StackedInline):
    model = ValidationScenario
    extra = 0
    fields = ("order", "name", "description", "steps_link")
    readonly_fields = ("steps_link",)
    show_change_link = True

    @admin.display(description="Steps")
    def steps_link(self, obj):
        if not obj.pk:
            return "Save first, then edit the steps."
        url = reverse("admin:detections_validationscenario_change", args=[obj.pk])
        return format_html('<a href="{}">{} step(s): edit</a>', url, obj.steps.count())


class ResponseStepInline(admin.TabularInline):
    model = ResponseStep
    extra = 0


class ResourceInline(admin.TabularInline):
    model = Resource
    extra = 0


class ExtraSectionInline(admin.StackedInline):
    model = ExtraSection
    extra = 0


def _transition_action(to: str, label: str):
    def action(modeladmin, request, queryset):
        for strategy in queryset:
            try:
                transition_strategy(strategy=strategy, to=to, user=request.user)
            except (ValidationError, PermissionDenied) as error:
                modeladmin.message_user(
                    request,
                    f"{strategy}: {' '.join(error.messages) if hasattr(error, 'messages') else error}",
                    messages.ERROR,
                )
            else:
                modeladmin.message_user(request, f"{strategy}: now {Strategy.Status(to).label}.", messages.SUCCESS)

    action.__name__ = f"move_to_{to}"
    action.short_description = label
    action.allowed_permissions = ("change",)
    return action


@admin.register(Strategy)
class StrategyAdmin(SimpleHistoryAdmin):
    list_display = ("title", "slug", "priority", "status", "owner", "updated_at")
    list_filter = ("status", "priority")
    search_fields = ("title", "slug", "goal", "strategy_abstract")
    prepopulated_fields = {"slug": ("title",)}
    # The document is regenerated from the structured fields on every save (see save_related),
    # so it is shown, not edited: edits belong in the fields or in a re-import.
    readonly_fields = ("status", "rendered_preview", "source_markdown", "source_path", "created_at", "updated_at")
    inlines = [
        StrategyTechniqueInline,
        BlindSpotInline,
        FalsePositiveInline,
        ValidationScenarioInline,
        ResponseStepInline,
        ResourceInline,
        ExtraSectionInline,
    ]
    fieldsets = (
        (None, {"fields": ("title", "slug", "status", "owner", "priority", "priority_justification")}),
        (
            "Document",
            {"fields": ("goal", "tactics", "platforms", "data_sources", "strategy_abstract", "technical_context")},
        ),
        (
            "Section prose",
            {
                "classes": ("collapse",),
                "fields": (
                    "blind_spots_intro",
                    "false_positives_intro",
                    "validation_intro",
                    "response_intro",
                    "resources_intro",
                ),
            },
        ),
        ("Preview", {"fields": ("rendered_preview",)}),
        (
            "Source",
            {"classes": ("collapse",), "fields": ("source_markdown", "source_path", "created_at", "updated_at")},
        ),
    )
    actions = [
        _transition_action(Strategy.Status.REVIEW, "Submit for review"),
        _transition_action(Strategy.Status.PRODUCTION, "Promote to production"),
        _transition_action(Strategy.Status.RETIRED, "Retire"),
        _transition_action(Strategy.Status.DRAFT, "Back to draft"),
    ]

    class Media:
        # The preview's width: a style sheet, not a style attribute, which the CSP blocks.
        css = {"all": ["css/admin.css"]}

    @admin.display(description="Rendered preview")
    def rendered_preview(self, obj):
        if not obj.pk:
            return "Save to see the preview."
        from detections.services.strategies import export_strategy_markdown

        return format_html('<div class="ads-preview">{}</div>', render_markdown(export_strategy_markdown(obj)))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from detections.services.strategies import export_strategy_markdown

        strategy = form.instance
        strategy.source_markdown = export_strategy_markdown(strategy)
        strategy._change_reason = "edited in the admin"
        strategy.save(update_fields=["source_markdown", "updated_at"])

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/history/<int:history_id>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="detections_strategy_diff",
            ),
            path(
                "<int:object_id>/history/<int:history_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="detections_strategy_restore",
            ),
            path(
                "<int:object_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="detections_strategy_transition",
            ),
        ]
        return own + super().get_urls()

    def diff_view(self, request, object_id, history_id):
        strategy = get_object_or_404(Strategy, pk=object_id)
        if not self.has_view_permission(request, strategy):
            raise PermissionDenied
        version = get_object_or_404(strategy.history.model, pk=history_id, id=strategy.pk)
        previous = version.prev_record
        changes = []
        if previous is not None:
            delta = version.diff_against(previous)
            changes = [(c.field, c.old, c.new) for c in delta.changes if c.field != "source_markdown"]
        old_text = previous.source_markdown if previous is not None else ""
        diff_lines = list(
            difflib.unified_diff(
                old_text.splitlines(), version.source_markdown.splitlines(), "previous", "this version", lineterm=""
            )
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "strategy": strategy,
            "version": version,
            "previous": previous,
            "changes": changes,
            "diff_lines": diff_lines,
            "can_restore": self.has_change_permission(request, strategy),
            "title": f"Changes in version {version.history_id}",
        }
        return TemplateResponse(request, "admin/detections/strategy_diff.html", context)

    def restore_view(self, request, object_id, history_id):
        strategy = get_object_or_404(Strategy, pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, strategy):
            raise PermissionDenied
        from detections.services.strategies import revert_strategy

        revert_strategy(strategy=strategy, history_id=history_id, user=request.user)
        self.message_user(request, f"Restored version {history_id} of {strategy}.", messages.SUCCESS)
        return redirect("admin:detections_strategy_change", strategy.pk)

    def transition_view(self, request, object_id):
        strategy = get_object_or_404(Strategy, pk=object_id)
        if request.method != "POST" or not self.has_change_permission(request, strategy):
            raise PermissionDenied
        try:
            transition_strategy(strategy=strategy, to=request.POST.get("to", ""), user=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        return redirect("admin:detections_strategy_change", strategy.pk)

    history_list_display = ["diff_link"]

    def diff_link(self, record):
        url = reverse("admin:detections_strategy_diff", args=[record.id, record.history_id])
        return format_html('<a href="{}">diff / restore</a>', url)


class ValidationStepInline(admin.TabularInline):
    model = ValidationStep
    extra = 0


@admin.register(ValidationScenario)
class ValidationScenarioAdmin(SimpleHistoryAdmin):
    list_display = ("name", "strategy", "order")
    search_fields = ("name", "strategy__title")
    inlines = [ValidationStepInline]


@admin.register(Technique)
class TechniqueAdmin(admin.ModelAdmin):
    list_display = ("attack_id", "name", "is_subtechnique", "is_revoked", "is_deprecated")
    list_filter = ("is_revoked", "is_deprecated", "is_subtechnique", "tactics")
    search_fields = ("attack_id", "name")
    readonly_fields = [f.name for f in Technique._meta.fields]


@admin.register(Tactic)
class TacticAdmin(admin.ModelAdmin):
    list_display = ("attack_id", "name", "shortname", "order")


from . import admin_rules  # noqa: E402,F401
