"""Alerts raised from rule matches, and the suppressions applied before raising them.

Every match is accounted for exactly once: either as evidence of one alert
(AlertEvidence) or as a hit of one suppression (SuppressionHit). Both are unique
on the match, which makes raising alerts idempotent under redelivery.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from detections.models import DetectionRule, RuleMatch, Strategy


class Severity(models.TextChoices):
    INFORMATIONAL = "informational", "Informational"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Alert(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        IN_PROGRESS = "in_progress", "In progress"
        CLOSED = "closed", "Closed"

    class Disposition(models.TextChoices):
        NONE = "", "—"
        TRUE_POSITIVE = "true_positive", "True positive"
        BENIGN_TRUE_POSITIVE = "benign_true_positive", "Benign true positive"
        FALSE_POSITIVE = "false_positive", "False positive"

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="alerts")
    strategy = models.ForeignKey(Strategy, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    title = models.CharField(max_length=512)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True, default="")
    close_reason = models.TextField(blank=True)
    entity_type = models.CharField(max_length=32, blank=True)
    entity = models.CharField(max_length=512, blank=True)
    group_key = models.CharField(max_length=255, help_text="rule + entity + window: what groups matches.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [models.UniqueConstraint(fields=["group_key"], name="one_alert_per_group")]
        indexes = [
            models.Index(fields=["status", "-last_seen"], name="alert_status_last_seen"),
            models.Index(fields=["rule", "-last_seen"], name="alert_rule_last_seen"),
            models.Index(fields=["strategy", "-last_seen"], name="alert_strategy_last_seen"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("triage:alert_detail", args=[self.pk])


class AlertEvidence(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="evidence")
    match = models.OneToOneField(RuleMatch, on_delete=models.CASCADE, related_name="alert_evidence")


class Suppression(models.Model):
    """Matches whose fields equal all `conditions` are counted, not alerted, until `expires_at`."""

    name = models.CharField(max_length=255)
    rule = models.ForeignKey(
        DetectionRule, null=True, blank=True, on_delete=models.CASCADE, related_name="suppressions"
    )
    strategy = models.ForeignKey(Strategy, null=True, blank=True, on_delete=models.CASCADE, related_name="suppressions")
    conditions = models.JSONField(
        default=dict, help_text="canonical field -> value, or list of values; glob * allowed."
    )
    reason = models.TextField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    owner_name = models.CharField(max_length=128, blank=True, help_text="Team owning a shipped suppression.")
    expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    slug = models.SlugField(max_length=120, unique=True, null=True, blank=True, help_text="Shipped suppressions.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Who last changed it (triage.services.update_suppression): suppressions silence detection,
    # so every change has a name on it.
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SuppressionHit(models.Model):
    suppression = models.ForeignKey(Suppression, on_delete=models.CASCADE, related_name="hits")
    match = models.OneToOneField(RuleMatch, on_delete=models.CASCADE, related_name="suppression_hit")
    created_at = models.DateTimeField(auto_now_add=True)
