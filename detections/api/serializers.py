"""Shapes of the detections API: strategies (summary, JSON export, quality), rules and runs.

The strategy export is built by detections.services.strategies.export_strategy_json; the
serializers here describe it for the OpenAPI schema and read the few inputs the API takes.
Rules are written as Sigma YAML and stored by detections.services.rules.save_sigma_rule.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from rest_framework import serializers

from detections.models import DetectionRule, DetectionRun, Strategy

# A retro-hunt rescans stored events; a month bounds one request's cost (events are kept 30 days anyway).
MAX_RETRO_HUNT_DAYS = 31


class StrategySummarySerializer(serializers.ModelSerializer):
    """One line of the strategy list; the full document is the strategy's own endpoint."""

    attack_ids = serializers.SerializerMethodField()
    owner = serializers.SlugRelatedField(slug_field=get_user_model().USERNAME_FIELD, read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-strategy-detail", lookup_field="slug")

    class Meta:
        model = Strategy
        fields = [
            "slug",
            "url",
            "title",
            "status",
            "priority",
            "tactics",
            "platforms",
            "attack_ids",
            "owner",
            "updated_at",
        ]

    def get_attack_ids(self, strategy: Strategy) -> list[str]:
        return [mapping.attack_id for mapping in strategy.technique_mappings.all()]


class AttackEntrySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="ATT&CK technique id, e.g. T1611.")
    name = serializers.CharField()
    tactics = serializers.ListField(child=serializers.CharField())
    platforms = serializers.ListField(child=serializers.CharField())
    in_catalogue = serializers.BooleanField(help_text="False when the id is not in the loaded ATT&CK catalogue.")


class ScenarioSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    steps = serializers.ListField(child=serializers.CharField())


class ResourceSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.CharField()


class ExtraSectionSerializer(serializers.Serializer):
    heading = serializers.CharField()
    body = serializers.CharField()


class StrategyExportSerializer(serializers.Serializer):
    """The JSON export of a strategy (export_strategy_json); describes the response, never reads input."""

    title = serializers.CharField()
    slug = serializers.CharField()
    status = serializers.ChoiceField(choices=Strategy.Status.choices)
    goal = serializers.CharField()
    attack = AttackEntrySerializer(many=True)
    tactics = serializers.ListField(child=serializers.CharField())
    platforms = serializers.ListField(child=serializers.CharField())
    data_sources = serializers.ListField(child=serializers.CharField())
    priority = serializers.CharField()
    priority_justification = serializers.CharField()
    strategy_abstract = serializers.CharField()
    technical_context = serializers.CharField()
    blind_spots_intro = serializers.CharField()
    blind_spots = serializers.ListField(child=serializers.CharField())
    false_positives_intro = serializers.CharField()
    false_positives = serializers.ListField(child=serializers.CharField())
    validation_intro = serializers.CharField()
    validation = ScenarioSerializer(many=True)
    response_intro = serializers.CharField()
    response = serializers.ListField(child=serializers.CharField(), help_text="Response steps, in order.")
    resources_intro = serializers.CharField()
    resources = ResourceSerializer(many=True)
    extra_sections = ExtraSectionSerializer(many=True)
    owner = serializers.CharField(allow_null=True)
    source_path = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)


class StrategyImportSerializer(serializers.Serializer):
    markdown = serializers.CharField(trim_whitespace=False, help_text="The ADS document, as markdown.")
    slug = serializers.SlugField(
        required=False,
        max_length=120,
        help_text="Identity of the strategy; default: the document's front matter, else its title.",
    )


class ParseWarningSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    message = serializers.CharField()


class StrategyImportResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the slug existed and the strategy was updated.")
    warnings = ParseWarningSerializer(many=True)
    strategy = StrategyExportSerializer()


class LineErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    line = serializers.IntegerField(allow_null=True, help_text="1-based line of the document the problem is on.")


class FindingSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    code = serializers.CharField()
    section = serializers.CharField()
    message = serializers.CharField()
    suggestion = serializers.CharField()


class TechniqueSuggestionSerializer(serializers.Serializer):
    attack_id = serializers.CharField()
    name = serializers.CharField()
    score = serializers.FloatField(help_text="Cosine similarity, 0..1.")
    reason = serializers.CharField()


class QualityReportSerializer(serializers.Serializer):
    has_errors = serializers.BooleanField()
    findings = FindingSerializer(many=True)
    suggestions = TechniqueSuggestionSerializer(many=True)


class StrategyTransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Strategy.Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


# --------------------------------------------------------------------------- rules


class RuleSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-rule-detail")
    strategies = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = DetectionRule
        fields = [
            "id",
            "url",
            "rule_uid",
            "title",
            "name",
            "kind",
            "status",
            "level",
            "description",
            "logsource_product",
            "logsource_category",
            "logsource_service",
            "attack_ids",
            "strategies",
            "analytic_type",
            "parameters",
            "source_path",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RuleDetailSerializer(RuleSerializer):
    class Meta(RuleSerializer.Meta):
        fields = [*RuleSerializer.Meta.fields, "sigma_yaml"]
        read_only_fields = fields


class RuleWarningSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True, help_text="1-based line of the YAML the warning is about.")
    field = serializers.CharField(help_text="The Sigma field concerned, when there is one.")
    message = serializers.CharField()


class RuleSavedSerializer(RuleDetailSerializer):
    """A rule as stored, with what the author should check although it was stored."""

    warnings = RuleWarningSerializer(
        many=True, read_only=True, help_text="E.g. fields with no canonical column for the rule's logsource."
    )

    class Meta(RuleDetailSerializer.Meta):
        fields = [*RuleDetailSerializer.Meta.fields, "warnings"]
        read_only_fields = fields


class RuleWriteSerializer(serializers.Serializer):
    """A Sigma rule or correlation to store; `sigma_yaml` may be left out of a PATCH (status, strategies)."""

    sigma_yaml = serializers.CharField(trim_whitespace=False, help_text="One Sigma rule or correlation, as YAML.")
    status = serializers.ChoiceField(
        choices=DetectionRule.Status.choices,
        required=False,
        help_text="Deployment state (not Sigma's maturity). Default: enabled for a new rule, unchanged otherwise.",
    )
    strategies = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Strategy.objects.all(),
        many=True,
        required=False,
        help_text="Slugs of strategies to link; existing links are kept.",
    )


class RetroHuntSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="ISO 8601; without an offset, UTC.")
    end = serializers.DateTimeField(help_text=f"ISO 8601; after start, at most {MAX_RETRO_HUNT_DAYS} days later.")

    def validate(self, attrs):
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        if attrs["end"] - attrs["start"] > timedelta(days=MAX_RETRO_HUNT_DAYS):
            raise serializers.ValidationError(
                {"end": f"A retro-hunt covers at most {MAX_RETRO_HUNT_DAYS} days; split the range."}
            )
        return attrs


class RetroHuntQueuedSerializer(serializers.Serializer):
    task_id = serializers.CharField(help_text="The Celery task that fills the run.")
    run = serializers.IntegerField(help_text="Id of the DetectionRun, created with status running before the task.")
    runs = serializers.CharField(help_text="The runs list filtered to this rule's retro-hunts.")


# --------------------------------------------------------------------------- runs


class RunSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-run-detail")
    source = serializers.SerializerMethodField()
    rules = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = DetectionRun
        fields = [
            "id",
            "url",
            "kind",
            "status",
            "batch",
            "source",
            "rules",
            "window_start",
            "window_end",
            "started_at",
            "finished_at",
            "duration_ms",
            "events_scanned",
            "matches",
            "alerts",
            "errors",
        ]
        read_only_fields = fields

    def get_source(self, run: DetectionRun) -> str | None:
        return run.batch.source.name if run.batch_id else None
