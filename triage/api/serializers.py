"""Shapes of the triage API: alerts (with their evidence and playbook) and suppressions."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from rest_framework import serializers

from detections.models import DetectionRule, Strategy
from triage.models import Alert, Suppression

USERNAME = get_user_model().USERNAME_FIELD


class AlertSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-alert-detail")
    rule_title = serializers.CharField(source="rule.title", read_only=True)
    strategy = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field=USERNAME, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "url",
            "title",
            "status",
            "severity",
            "disposition",
            "close_reason",
            "rule",
            "rule_title",
            "strategy",
            "entity_type",
            "entity",
            "first_seen",
            "last_seen",
            "count",
            "assignee",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EvidenceEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    time = serializers.DateTimeField()
    fields = serializers.DictField(help_text="The event's canonical fields that have a value (telemetry.schema).")
    raw = serializers.JSONField(help_text="The record as the source sent it.")


class EvidenceSerializer(serializers.Serializer):
    match = serializers.IntegerField(help_text="Id of the RuleMatch.")
    rule = serializers.IntegerField()
    time = serializers.DateTimeField()
    entity_type = serializers.CharField()
    entity = serializers.CharField()
    matched_fields = serializers.DictField(help_text="The values the rule matched or grouped on.")
    events = EvidenceEventSerializer(many=True)


class ResponseStepSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    text = serializers.CharField()
    action = serializers.CharField(help_text="A one-click action the portal offers for this step, or empty.")


class AlertDetailSerializer(AlertSerializer):
    """An alert with its evidence (the first matches, oldest first) and its strategy's response steps."""

    evidence = EvidenceSerializer(many=True, read_only=True)
    evidence_total = serializers.IntegerField(read_only=True)
    evidence_truncated = serializers.BooleanField(read_only=True)
    response_steps = ResponseStepSerializer(many=True, read_only=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "evidence", "evidence_total", "evidence_truncated", "response_steps"]
        read_only_fields = fields


class AlertUpdateSerializer(serializers.Serializer):
    """What an analyst changes on an alert. Closing needs `disposition` and `reason`."""

    status = serializers.ChoiceField(choices=Alert.Status.choices, required=False)
    assignee = serializers.SlugRelatedField(
        slug_field=USERNAME,
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="Username, or null to unassign.",
    )
    disposition = serializers.ChoiceField(
        choices=[c for c in Alert.Disposition.choices if c[0]], required=False, help_text="With status=closed."
    )
    reason = serializers.CharField(required=False, allow_blank=True, help_text="Why it is closed; with status=closed.")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send status, assignee, or status=closed with disposition and reason.")
        closing = attrs.get("status") == Alert.Status.CLOSED
        if not closing and ("disposition" in attrs or "reason" in attrs):
            raise serializers.ValidationError(
                "A disposition and a reason are given when closing: send them with status=closed."
            )
        return attrs


class SuppressionSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-suppression-detail")
    rule = serializers.PrimaryKeyRelatedField(
        queryset=DetectionRule.objects.all(), required=False, allow_null=True, help_text="Scope: one rule's matches."
    )
    strategy = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Strategy.objects.all(),
        required=False,
        allow_null=True,
        help_text="Scope: the matches of the strategy's rules.",
    )
    owner = serializers.SlugRelatedField(slug_field=USERNAME, read_only=True)
    hits = serializers.IntegerField(source="hit_count", read_only=True, help_text="Matches suppressed so far.")

    class Meta:
        model = Suppression
        fields = [
            "id",
            "url",
            "name",
            "rule",
            "strategy",
            "conditions",
            "reason",
            "owner",
            "owner_name",
            "expires_at",
            "enabled",
            "slug",
            "hits",
            "created_at",
        ]
        read_only_fields = ["slug", "created_at"]

    def validate_conditions(self, conditions):
        return validate_conditions(conditions)

    def validate_reason(self, reason: str) -> str:
        if not reason.strip():
            raise serializers.ValidationError("Say why these matches are benign.")
        return reason


def validate_conditions(conditions) -> dict:
    """canonical field -> value, or a list of values (glob * allowed); at least one field."""
    if not isinstance(conditions, dict) or not conditions:
        raise serializers.ValidationError(
            'Give at least one condition, as a JSON object: {"field": "value"} or {"field": ["a", "b*"]}.'
        )
    for name, value in conditions.items():
        values = value if isinstance(value, list) else [value]
        if not values or any(isinstance(v, dict | list) for v in values):
            raise serializers.ValidationError(f"{name}: a value, or a non-empty list of values.")
    return conditions


class SuppressionPreviewQuerySerializer(serializers.Serializer):
    conditions = serializers.CharField(help_text='JSON object, e.g. {"k8s_user": "system:serviceaccount:*"}.')
    rule = serializers.PrimaryKeyRelatedField(queryset=DetectionRule.objects.all(), required=False)

    def validate_conditions(self, text: str) -> dict:
        try:
            conditions = json.loads(text)
        except ValueError as exc:
            raise serializers.ValidationError(f"Not JSON: {exc}") from exc
        return validate_conditions(conditions)


class SuppressionPreviewSerializer(serializers.Serializer):
    matches = serializers.IntegerField(help_text="Past matches these conditions would have suppressed.")
    scanned_limit = serializers.IntegerField(help_text="The most recent matches looked at, at most.")
