"""Alerting & Detection Strategies (Palantir's ADS framework) as structured data.

Every list-like section is a child row with an `order`, because triage playbooks
(response steps), the false-positive checklist and the validation runner use them
one item at a time. `source_markdown` keeps the document as imported; history
(django-simple-history) snapshots it, so reverting re-imports an older version
with all its child rows.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from detections.links import is_safe_url, unsafe_url_reason

from .attack import Technique


class Strategy(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        REVIEW = "review", "In review"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    # Allowed lifecycle moves; anything else is refused by detections.services.
    TRANSITIONS = {
        Status.DRAFT: {Status.REVIEW, Status.RETIRED},
        Status.REVIEW: {Status.DRAFT, Status.PRODUCTION, Status.RETIRED},
        Status.PRODUCTION: {Status.REVIEW, Status.RETIRED},
        Status.RETIRED: {Status.DRAFT},
    }

    title = models.CharField(max_length=255)
    slug = models.SlugField(max_length=120, unique=True)
    goal = models.TextField(blank=True)
    strategy_abstract = models.TextField(blank=True)
    technical_context = models.TextField(blank=True)
    blind_spots_intro = models.TextField(blank=True, help_text="Prose of the section around its list items.")
    false_positives_intro = models.TextField(blank=True)
    validation_intro = models.TextField(blank=True)
    response_intro = models.TextField(blank=True)
    resources_intro = models.TextField(blank=True)
    tactics = models.JSONField(default=list, blank=True, help_text="Tactic names as the document states them.")
    platforms = models.JSONField(default=list, blank=True, help_text="Platforms as the document states them.")
    priority = models.CharField(max_length=16, choices=Priority.choices, blank=True)
    priority_justification = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    data_sources = models.JSONField(default=list, blank=True)
    source_markdown = models.TextField(blank=True)
    source_path = models.CharField(max_length=512, blank=True)
    techniques = models.ManyToManyField(Technique, through="StrategyTechnique", related_name="strategies", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "strategies"

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("detections:strategy_detail", args=[self.slug])


class StrategyTechnique(models.Model):
    """An ATT&CK mapping as the document writes it; `technique` is null when the id is unknown."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="technique_mappings")
    order = models.PositiveSmallIntegerField(default=0)
    attack_id = models.CharField(max_length=16)
    name_as_written = models.CharField(max_length=255, blank=True)
    technique = models.ForeignKey(Technique, null=True, blank=True, on_delete=models.SET_NULL)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["strategy", "attack_id"], name="one_mapping_per_technique")]

    def __str__(self):
        return f"{self.attack_id} {self.name_as_written}".strip()


class _OrderedItem(models.Model):
    order = models.PositiveSmallIntegerField(default=0)
    text = models.TextField()

    class Meta:
        abstract = True
        ordering = ["order"]

    def __str__(self):
        return self.text[:80]


class BlindSpot(_OrderedItem):
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="blind_spots")
    history = HistoricalRecords()

    class Meta(_OrderedItem.Meta):
        pass


class FalsePositive(_OrderedItem):
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="false_positives")
    history = HistoricalRecords()

    class Meta(_OrderedItem.Meta):
        pass


class ResponseStep(_OrderedItem):
    class Action(models.TextChoices):
        NONE = "", "None"
        ISOLATE_CONTAINER = "isolate_container", "Isolate container"

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="response_steps")
    action = models.CharField(max_length=32, choices=Action.choices, blank=True, default="")
    history = HistoricalRecords()

    class Meta(_OrderedItem.Meta):
        pass


class ValidationScenario(models.Model):
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="validation_scenarios")
    order = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return self.name

    @property
    def has_validation_steps(self) -> bool:
        return self.steps.exists()


class ValidationStep(_OrderedItem):
    scenario = models.ForeignKey(ValidationScenario, on_delete=models.CASCADE, related_name="steps")
    history = HistoricalRecords()

    class Meta(_OrderedItem.Meta):
        pass


class Resource(models.Model):
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="resources")
    order = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=512)
    url = models.URLField(max_length=1024, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return self.title

    def clean(self):
        # URLField alone lets ftp: through and the import path skips it: only http(s) may be a link.
        if self.url and not is_safe_url(self.url):
            raise ValidationError({"url": unsafe_url_reason(self.url)})


class ExtraSection(models.Model):
    """A section the ADS parser does not know (Environments, Tooling, ...): kept and shown, never dropped."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="extra_sections")
    order = models.PositiveSmallIntegerField(default=0)
    heading = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return self.heading
