"""The MITRE ATT&CK Enterprise catalogue: tactics and techniques (with sub-techniques)."""

from django.db import models


class Tactic(models.Model):
    attack_id = models.CharField(max_length=16, unique=True)  # TA0011
    shortname = models.SlugField(max_length=64, unique=True)  # command-and-control
    name = models.CharField(max_length=128)  # Command and Control
    order = models.PositiveSmallIntegerField(default=0, help_text="Column position in the matrix.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return f"{self.attack_id} {self.name}"


class Technique(models.Model):
    attack_id = models.CharField(max_length=16, unique=True)  # T1059.001
    stix_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    tactics = models.ManyToManyField(Tactic, related_name="techniques", blank=True)
    platforms = models.JSONField(default=list, blank=True)
    is_subtechnique = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subtechniques")
    is_revoked = models.BooleanField(default=False)
    is_deprecated = models.BooleanField(default=False)
    revoked_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces")
    url = models.URLField(blank=True)

    class Meta:
        ordering = ["attack_id"]

    def __str__(self):
        return f"{self.attack_id} {self.name}"
