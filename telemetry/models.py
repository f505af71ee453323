"""Sources of telemetry, ingest batches and canonical events.

An Event is one record in the canonical schema (telemetry.schema) plus its raw
record. Events are append-only; detection consumes them batch by batch through
`IngestBatch` (see detections.models.BatchDetection), which is the durable queue
that hands every stored event to detection exactly once.
"""

import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


def new_ingest_token() -> str:
    return secrets.token_urlsafe(32)


class Source(models.Model):
    """A producer of telemetry: a cluster's audit webhook, a Zeek sensor, a log file drop."""

    class Format(models.TextChoices):
        K8S_AUDIT = "k8s_audit", "Kubernetes audit"
        FALCO = "falco", "Falco alerts"
        DOCKER_EVENTS = "docker_events", "Docker Engine events"
        DOCKER_INSPECT = "docker_inspect", "Docker inspect"
        ZEEK_CONN = "zeek_conn", "Zeek conn.log"
        ZEEK_DNS = "zeek_dns", "Zeek dns.log"
        LINUX_PROCESS = "linux_process", "Linux process events (Sysmon for Linux / auditd)"
        WINDOWS_PROCESS = "windows_process", "Windows process events (Sysmon 1 / Security 4688)"
        CONTAINER_METRICS = "container_metrics", "Container metrics (cAdvisor / Prometheus)"
        GENERIC_JSON = "generic_json", "Generic JSON with a field map"

    name = models.SlugField(max_length=64, unique=True, help_text="Used in the ingest URL.")
    format = models.CharField(max_length=32, choices=Format.choices)
    description = models.CharField(max_length=255, blank=True)
    field_map = models.JSONField(
        default=dict, blank=True, help_text="Generic JSON only: canonical field -> dotted path in the record."
    )
    ingest_token = models.CharField(max_length=64, unique=True, default=new_ingest_token)
    expected_cadence_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Raise a silent-source alert when no event arrives for this long."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_ingest_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("telemetry:source_detail", args=[self.name])


class IngestBatch(models.Model):
    """One delivery (API request, file, upload) and what became of its records."""

    class Channel(models.TextChoices):
        API = "api", "REST API"
        CLI = "cli", "Command line"
        UPLOAD = "upload", "Web upload"
        REPLAY = "replay", "Validation replay"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="batches")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    filename = models.CharField(max_length=255, blank=True)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(default=list, blank=True, help_text="[{line, reason}], capped.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-received_at"]


class Event(models.Model):
    """A canonical telemetry event (field names: telemetry.schema)."""

    # No index of its own: the (source, fingerprint) unique constraint and the (source, time)
    # index both lead with source, and every index costs on the ingest path.
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="events", db_index=False)
    batch = models.ForeignKey(IngestBatch, on_delete=models.CASCADE, related_name="events")
    fingerprint = models.CharField(max_length=64, help_text="sha256 of source + raw record: redelivery is a no-op.")
    time = models.DateTimeField()
    ingested_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16)
    action = models.CharField(max_length=255, blank=True, default="")
    message = models.TextField(blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    container_id = models.CharField(max_length=128, blank=True, default="")
    container_name = models.CharField(max_length=255, blank=True, default="")
    container_image = models.CharField(max_length=512, blank=True, default="")
    pod = models.CharField(max_length=255, blank=True, default="")
    namespace = models.CharField(max_length=255, blank=True, default="")
    k8s_user = models.CharField(max_length=255, blank=True, default="")
    k8s_verb = models.CharField(max_length=32, blank=True, default="")
    k8s_resource = models.CharField(max_length=64, blank=True, default="")
    k8s_subresource = models.CharField(max_length=64, blank=True, default="")
    k8s_object_name = models.CharField(max_length=255, blank=True, default="")
    process_image = models.CharField(max_length=1024, blank=True, default="")
    process_command_line = models.TextField(blank=True, default="")
    process_parent_image = models.CharField(max_length=1024, blank=True, default="")
    process_parent_command_line = models.TextField(blank=True, default="")
    process_user = models.CharField(max_length=255, blank=True, default="")
    process_pid = models.BigIntegerField(null=True, blank=True)
    src_ip = models.CharField(max_length=45, blank=True, default="")
    src_port = models.IntegerField(null=True, blank=True)
    dst_ip = models.CharField(max_length=45, blank=True, default="")
    dst_port = models.IntegerField(null=True, blank=True)
    protocol = models.CharField(max_length=16, blank=True, default="")
    direction = models.CharField(max_length=16, blank=True, default="")
    bytes_out = models.BigIntegerField(null=True, blank=True)
    bytes_in = models.BigIntegerField(null=True, blank=True)
    packets_out = models.BigIntegerField(null=True, blank=True)
    packets_in = models.BigIntegerField(null=True, blank=True)
    icmp_type = models.SmallIntegerField(null=True, blank=True)
    icmp_code = models.SmallIntegerField(null=True, blank=True)
    dns_query = models.CharField(max_length=255, blank=True, default="")
    privileged = models.BooleanField(null=True, blank=True)
    host_network = models.BooleanField(null=True, blank=True)
    cpu_cores = models.FloatField(null=True, blank=True)
    memory_bytes = models.BigIntegerField(null=True, blank=True)
    raw = models.JSONField()

    class Meta:
        ordering = ["time", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "fingerprint"], name="event_unique_fingerprint_per_source"),
        ]
        # PostgreSQL also gets a BRIN index on time (migration 0002_event_time_brin), kept
        # out of the model state because SQLite has no BRIN; there, the BRIN replaces the
        # btree `event_time`, which migration 0004 drops on PostgreSQL only (it costs every
        # insert and the planner reads time ranges through the BRIN index anyway).
        indexes = [
            models.Index(fields=["time"], name="event_time"),
            models.Index(fields=["source", "time"], name="event_source_time"),
            models.Index(fields=["container_id", "time"], name="event_container_time"),
            models.Index(fields=["kind", "time"], name="event_kind_time"),
        ]

    def __str__(self):
        return f"{self.kind} {self.action} @ {self.time:%Y-%m-%d %H:%M:%S}"
