"""Alerts raised from rule matches, the suppressions applied before raising them, and the analyst's work.

Every match is accounted for exactly once: either as evidence of one alert
(AlertEvidence) or as a hit of one suppression (SuppressionHit). Both are unique
on the match, which makes raising alerts idempotent under redelivery.

The analyst's work on an alert or a case (comments, playbook checks, response actions,
tuning requests) hangs off the alert or the case; who changed what is in the audit app.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from detections.models import DetectionRule, FalsePositive, ResponseStep, RuleMatch, Strategy
from telemetry.models import Source


class Severity(models.TextChoices):
    INFORMATIONAL = "informational", "Informational"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_ORDER = [s.value for s in Severity]  # informational < low < medium < high < critical


def highest_severity(severities, *, default: str = Severity.MEDIUM) -> str:
    """The most severe of `severities` (unknown values ignored), or `default` when there is none."""
    known = [s for s in severities if s in SEVERITY_ORDER]
    return max(known, key=SEVERITY_ORDER.index) if known else default


class Disposition(models.TextChoices):
    """What the analysis found; alerts and cases close with one."""

    NONE = "", "—"
    TRUE_POSITIVE = "true_positive", "True positive"
    BENIGN_TRUE_POSITIVE = "benign_true_positive", "Benign true positive"
    FALSE_POSITIVE = "false_positive", "False positive"


class Case(models.Model):
    """Related alerts worked as one incident: owner, status, severity, timeline and playbook progress."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    disposition = models.CharField(max_length=24, choices=Disposition.choices, blank=True, default="")
    close_reason = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_cases"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A merged case keeps its row (and its timeline) and points at the case that absorbed it.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["status", "-updated_at"], name="case_status_updated")]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse("triage:case_detail", args=[self.pk])

    @property
    def reference(self) -> str:
        return f"CASE-{self.pk}"


# An alert's work still to do: the queue's default, and what the queue's partial indexes hold.
OPEN_STATUSES = ("new", "acknowledged", "in_progress")
_OPEN = Q(status__in=OPEN_STATUSES)


class Alert(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        IN_PROGRESS = "in_progress", "In progress"
        CLOSED = "closed", "Closed"

    Disposition = Disposition

    # Foreign keys the queue filters on are indexed by the (key, -last_seen) indexes below, which
    # also serve a lookup by the key alone: no single-column index of their own (each costs writes).
    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="alerts", db_index=False)
    strategy = models.ForeignKey(
        Strategy, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts", db_index=False
    )
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
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts", db_index=False
    )
    # The source of the alert's first event, kept on the alert so the queue filters on it without joins.
    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts", db_index=False
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [models.UniqueConstraint(fields=["group_key"], name="one_alert_per_group")]
        indexes = [
            models.Index(fields=["status", "-last_seen"], name="alert_status_last_seen"),
            models.Index(fields=["rule", "-last_seen"], name="alert_rule_last_seen"),
            models.Index(fields=["strategy", "-last_seen"], name="alert_strategy_last_seen"),
            # The queue's default order, and the keyset its pages follow.
            models.Index(fields=["-last_seen", "-id"], name="alert_last_seen_id"),
            # The queue's other sorts, each its own keyset (triage.selectors.QUEUE_SORTS).
            models.Index(fields=["-first_seen", "-id"], name="alert_first_seen_id"),
            models.Index(fields=["-count", "-id"], name="alert_count_id"),
            # ?entity_exact= (a group's "show alerts"), and alerting's lookup of an entity's open alert.
            models.Index(fields=["entity", "-last_seen"], name="alert_entity_last_seen"),
            # The open queue is ~15% of the alerts: partial indexes of it let the default page, its
            # capped count and its groups read only open rows (counting 1,000 open alerts of one rule
            # through the whole-table indexes meant and-ing a 150,000-entry status bitmap).
            models.Index(fields=["-last_seen", "-id"], name="alert_open_last_seen_id", condition=_OPEN),
            models.Index(fields=["rule", "-last_seen"], name="alert_open_rule_last_seen", condition=_OPEN),
            models.Index(fields=["assignee", "-last_seen"], name="alert_open_assignee_last_seen", condition=_OPEN),
            models.Index(fields=["severity", "-last_seen"], name="alert_open_severity_last_seen", condition=_OPEN),
            models.Index(fields=["assignee", "-last_seen"], name="alert_assignee_last_seen"),
            models.Index(fields=["case", "-last_seen"], name="alert_case_last_seen"),
            models.Index(fields=["source", "-last_seen"], name="alert_source_last_seen"),
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


class _WorkItem(models.Model):
    """Something done on an alert or on a case: each subclass has both keys and exactly one is set."""

    class Meta:
        abstract = True

    @property
    def subject(self):
        return self.alert if self.alert_id else self.case


def _one_subject(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=(Q(alert__isnull=False, case__isnull=True) | Q(alert__isnull=True, case__isnull=False)),
        name=name,
    )


class Comment(_WorkItem):
    """An analyst's note in markdown; rendered sanitized, never edited in place (the trail stays true)."""

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="comments")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [_one_subject("comment_on_alert_or_case")]


class PlaybookCheck(_WorkItem):
    """One step of the strategy's Response, or one of its False Positives ruled out, ticked for an alert or case.

    The step's position and text are copied: re-importing a strategy replaces its rows, and the
    record of what the analyst did must still say which step it was.
    """

    class Kind(models.TextChoices):
        RESPONSE = "response", "Response step"
        FALSE_POSITIVE = "false_positive", "False positive ruled out"

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="playbook_checks")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="playbook_checks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    position = models.PositiveSmallIntegerField(help_text="the step's order in its section")
    text = models.TextField()
    response_step = models.ForeignKey(ResponseStep, null=True, blank=True, on_delete=models.SET_NULL)
    false_positive = models.ForeignKey(FalsePositive, null=True, blank=True, on_delete=models.SET_NULL)
    done = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "position"]
        constraints = [
            _one_subject("check_on_alert_or_case"),
            models.UniqueConstraint(fields=["alert", "kind", "position"], name="one_check_per_alert_step"),
            models.UniqueConstraint(fields=["case", "kind", "position"], name="one_check_per_case_step"),
        ]


class ResponseAction(_WorkItem):
    """A response action taken from a playbook step (isolate a container), with what it produced."""

    class Kind(models.TextChoices):
        ISOLATE_CONTAINER = "isolate_container", "Isolate container"

    class Result(models.TextChoices):
        APPLIED = "applied", "Applied to the cluster"
        MANIFEST = "manifest", "Manifest produced"
        COMMANDS = "commands", "Commands produced"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="actions")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    target = models.CharField(max_length=512, help_text="what the action was aimed at: pod, container, namespace")
    result = models.CharField(max_length=16, choices=Result.choices)
    output = models.TextField(blank=True, help_text="the manifest, the commands, or the error")
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-taken_at", "-id"]
        constraints = [_one_subject("action_on_alert_or_case")]


class TuningRequest(models.Model):
    """An analyst's request that engineers tune a rule, with the alert that shows the problem."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Tuned"
        DECLINED = "declined", "Declined"

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="tuning_requests")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="tuning_requests")
    note = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    resolution = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="tuning_status_created")]

    def __str__(self):
        return f"Tune {self.rule} ({self.get_status_display()})"
