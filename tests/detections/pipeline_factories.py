"""Builders shared by the detection and triage tests: sources, ingested batches, events, rules, matches."""

from __future__ import annotations

import hashlib
import io
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

from detections.models import DetectionRule, RuleMatch
from detections.services.rules import save_sigma_rule
from telemetry.models import Event, IngestBatch, Source
from telemetry.services import ingest_stream, register_source

SIGMA_RULES = Path(settings.SHARED_DATA_DIR) / "sigma-rules" / "rules"
K8S_RULES = SIGMA_RULES / "application" / "kubernetes" / "audit"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hunt"

EXEC_INTO_POD = K8S_RULES / "kubernetes_audit_exec_into_container.yml"  # a1b0ca4e-...
DEPLOYMENT_DELETED = K8S_RULES / "kubernetes_audit_deployment_deleted.yml"  # uses objectRef.apiGroup (raw)
NETCAT_REVERSE_SHELL = SIGMA_RULES / "linux" / "process_creation" / "proc_creation_lnx_netcat_reverse_shell.yml"

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
_counter = itertools.count(1)


def load_rule(path: Path, **kwargs) -> DetectionRule:
    return save_sigma_rule(yaml_text=path.read_text(), source_path=str(path), **kwargs)


def k8s_source(name: str = "cluster-a") -> Source:
    return Source.objects.filter(name=name).first() or register_source(name=name, format="k8s_audit")


def audit_line(
    *,
    verb: str,
    resource: str,
    subresource: str = "",
    name: str = "web-1",
    namespace: str = "default",
    user: str = "mallory",
    ip: str = "10.9.9.9",
    at: datetime = T0,
    api_group: str = "",
) -> str:
    """One Kubernetes audit Event (audit.k8s.io/v1), as the API server writes it."""
    import json

    n = next(_counter)
    object_ref = {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"}
    if subresource:
        object_ref["subresource"] = subresource
    if api_group:
        object_ref["apiGroup"] = api_group
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": f"0b3b7a1e-{n:04d}-4a55-9a8e-{n:012d}",
            "stage": "ResponseComplete",
            "requestURI": f"/api/v1/namespaces/{namespace}/{resource}/{name}",
            "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": [ip],
            "userAgent": "kubectl/v1.29.0",
            "objectRef": object_ref,
            "responseStatus": {"metadata": {}, "code": 200},
            "requestReceivedTimestamp": stamp,
            "stageTimestamp": stamp,
        }
    )


def ingest_lines(source: Source, lines: list[str], *, hand_off: bool = True):
    data = ("\n".join(lines) + "\n").encode()
    return ingest_stream(source=source, stream=io.BytesIO(data), channel=IngestBatch.Channel.CLI, hand_off=hand_off)


def make_event(*, source: Source | None = None, time: datetime = T0, **columns) -> Event:
    """An Event stored directly (for tests about what happens after ingestion)."""
    source = source or k8s_source()
    batch = columns.pop("batch", None) or IngestBatch.objects.create(source=source, channel="cli", accepted=1)
    raw = columns.pop("raw", None) or {"n": next(_counter)}
    return Event.objects.create(
        source=source,
        batch=batch,
        fingerprint=hashlib.sha256(repr((raw, time, columns)).encode()).hexdigest(),
        time=time,
        kind=columns.pop("kind", "k8s_audit"),
        raw=raw,
        **columns,
    )


def make_match(
    *,
    rule: DetectionRule,
    time: datetime = T0,
    entity: str = "default/web-1",
    entity_type: str = "pod",
    event: Event | None = None,
    fields: dict | None = None,
) -> RuleMatch:
    event = event or make_event(time=time, namespace=entity.split("/")[0], pod=entity.split("/")[-1])
    return RuleMatch.objects.create(
        rule=rule,
        dedup_key=f"e:{event.pk}",
        event=event,
        evidence_event_ids=[event.pk],
        time=time,
        entity_type=entity_type,
        entity=entity,
        fields=fields or {},
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
