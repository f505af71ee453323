"""Detection rules (Sigma and analytics), their runs, matches and indicator lists.

A RuleMatch is the engine's output: one per (rule, dedup_key). Single-event
matches use the event id as key; correlations and analytics use their group and
window, so re-running a batch or a window never records a match twice. Triage
turns matches into alerts in its own service.
"""

from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from telemetry.models import Event, IngestBatch

from .strategy import Strategy


class DetectionRule(models.Model):
    class Kind(models.TextChoices):
        SIGMA = "sigma", "Sigma rule"
        SIGMA_CORRELATION = "sigma_correlation", "Sigma correlation"
        ANALYTIC = "analytic", "Analytic"

    class Status(models.TextChoices):
        TEST = "test", "Test"
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"

    class Level(models.TextChoices):
        INFORMATIONAL = "informational", "Informational"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    title = models.CharField(max_length=255)
    rule_uid = models.CharField(max_length=64, unique=True, help_text="Sigma id (UUID) or analytic slug.")
    name = models.CharField(max_length=255, blank=True, help_text="Sigma `name`, referenced by correlations.")
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.SIGMA)
    analytic_type = models.CharField(max_length=32, blank=True, help_text="Analytics only: the analytic's kind.")
    parameters = models.JSONField(default=dict, blank=True, help_text="Analytics only: their parameters.")
    sigma_yaml = models.TextField(blank=True)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ENABLED)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.MEDIUM)
    logsource_product = models.CharField(max_length=64, blank=True)
    logsource_category = models.CharField(max_length=64, blank=True)
    logsource_service = models.CharField(max_length=64, blank=True)
    attack_ids = models.JSONField(default=list, blank=True, help_text="ATT&CK technique ids from the tags.")
    strategies = models.ManyToManyField(Strategy, related_name="rules", blank=True)
    source_path = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("detections:rule_detail", args=[self.pk])


class DetectionRun(models.Model):
    """One execution of rules over events: a streamed batch, a scheduled window, a retro-hunt."""

    class Kind(models.TextChoices):
        STREAM = "stream", "Streaming batch"
        SCHEDULED = "scheduled", "Scheduled correlation/analytics"
        RETRO_HUNT = "retro_hunt", "Retro-hunt"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with rule errors"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    batch = models.ForeignKey(IngestBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    rules = models.ManyToManyField(DetectionRule, related_name="runs", blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    events_scanned = models.PositiveIntegerField(default=0)
    matches = models.PositiveIntegerField(default=0)
    alerts = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{rule_id, rule_title, error}]")

    class Meta:
        ordering = ["-started_at"]


class BatchDetection(models.Model):
    """Marks an ingest batch as handed to detection: the durable queue's acknowledgement."""

    batch = models.OneToOneField(IngestBatch, on_delete=models.CASCADE, related_name="detection")
    run = models.ForeignKey(DetectionRun, null=True, on_delete=models.SET_NULL)
    finished_at = models.DateTimeField(auto_now_add=True)


class RuleMatch(models.Model):
    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="matches")
    run = models.ForeignKey(DetectionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="rule_matches")
    dedup_key = models.CharField(max_length=255, help_text="e:<event id> for single events; group+window otherwise.")
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.CASCADE, related_name="matches")
    evidence_event_ids = models.JSONField(default=list, blank=True)
    time = models.DateTimeField(help_text="Event time (or window end) of the match.")
    entity_type = models.CharField(max_length=32, blank=True)  # container, pod, workload, host, ip, group
    entity = models.CharField(max_length=512, blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="Matched/group-by field values, for triage.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["time", "id"]
        constraints = [models.UniqueConstraint(fields=["rule", "dedup_key"], name="one_match_per_rule_key")]
        indexes = [models.Index(fields=["rule", "time"], name="match_rule_time")]


class AnalyticState(models.Model):
    """How far a scheduled rule (analytic or correlation) has been evaluated: its watermark.

    The next scheduled evaluation starts here, so a restarted or second worker picks
    up where the last one stopped instead of rescanning or skipping a window.
    """

    rule = models.OneToOneField(DetectionRule, on_delete=models.CASCADE, related_name="analytic_state")
    evaluated_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.rule} until {self.evaluated_until}"


class IndicatorList(models.Model):
    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=255, blank=True, help_text="Where it came from: file, feed, STIX bundle.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.name


class Indicator(models.Model):
    class Kind(models.TextChoices):
        IP = "ip", "IP address"
        CIDR = "cidr", "Network (CIDR)"
        DOMAIN = "domain", "Domain"

    indicator_list = models.ForeignKey(IndicatorList, on_delete=models.CASCADE, related_name="indicators")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=255)
    description = models.CharField(max_length=512, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["indicator_list", "kind", "value"], name="indicator_unique_in_list")
        ]

    def __str__(self):
        return f"{self.kind}:{self.value}"
