"""The audit trail: who changed what, when, with the values before and after.

One row per action taken through a service function (an alert acknowledged, a playbook step
ticked, a case merged, a suppression created). The app sits at the bottom of the import graph,
beside accounts, so every room can record into it; it knows nothing of alerts or rules: a
target is named by its type and id. Not for: the history of a document's text (strategies and
rules keep that with django-simple-history).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    # Kept as text so the trail still says who acted after an account is deleted; "system" for automation.
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=64, help_text="verb of the service that acted: alert.close, case.merge, ...")
    object_type = models.CharField(max_length=32, help_text="alert, case, suppression, rule, tuning_request, ...")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=255, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [before, after]")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["object_type", "object_id", "-created_at"], name="audit_object_time"),
            models.Index(fields=["-created_at", "-id"], name="audit_time"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
        ]

    def __str__(self):
        return f"{self.actor_name} {self.action} {self.object_type}:{self.object_id}"
