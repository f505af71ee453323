"""Shapes of the telemetry API's responses (for the OpenAPI schema; the views build plain dicts)."""

from rest_framework import serializers


class RejectionSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="1-based line of the delivery where the record starts.")
    reason = serializers.CharField()


class WarningSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="First line of the delivery the warning concerns.")
    warning = serializers.CharField()


class IngestReportSerializer(serializers.Serializer):
    batch = serializers.IntegerField(help_text="Id of the IngestBatch recorded for this delivery.")
    accepted = serializers.IntegerField(help_text="New events stored.")
    duplicates = serializers.IntegerField(help_text="Records already stored (redelivery) or repeated in the delivery.")
    rejected = serializers.IntegerField(help_text="Records that could not become events (all of them).")
    rejections = RejectionSerializer(many=True, help_text="The first rejections, with line numbers (capped).")
    rejections_truncated = serializers.BooleanField(help_text="True when `rejections` lists fewer than `rejected`.")
    warnings = WarningSerializer(many=True, help_text="Repairs made to stored records (invalid UTF-8).")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
