"""Results of replaying a strategy's emulation scenarios through the whole pipeline."""

from django.conf import settings
from django.db import models

from detections.models import Strategy


class ValidationRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="validation_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]


class ScenarioResult(models.Model):
    class Kind(models.TextChoices):
        ATTACK = "attack", "Attack (must alert)"
        BENIGN = "benign", "Benign (must stay quiet)"

    run = models.ForeignKey(ValidationRun, on_delete=models.CASCADE, related_name="results")
    scenario_key = models.CharField(max_length=128)
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    passed = models.BooleanField()
    reason = models.TextField(blank=True)
    expected = models.JSONField(default=list, blank=True)
    actual = models.JSONField(default=list, blank=True)
    validation_scenario = models.CharField(
        max_length=255, blank=True, help_text="The ADS Validation scenario followed."
    )
    lab_commands = models.JSONField(
        default=list, blank=True, help_text="Commands that produce the same telemetry in a real lab."
    )

    class Meta:
        ordering = ["id"]
