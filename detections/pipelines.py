"""Which Sigma rules apply to which sources, and how their field names become Event columns.

Two tables, both keyed by Sigma logsource:

- ROUTES: logsource -> the Source.Format values whose events the rule is meant for.
  A streamed batch only runs the rules routed to its source's format.
- FIELD_MAPPINGS: logsource -> {Sigma field name: canonical Event column}
  (telemetry.schema). docs/sigma_fields.md is the human-readable copy of this contract.

A field a rule uses that has no canonical column (requestObject.spec.hostNetwork,
objectRef.apiGroup, userAgent, ...) is read from the event's raw record by dotted
path (`raw_value`), so SigmaHQ rules keep working without a column per field.

`processing_pipeline()` gives the same mappings as a pySigma ProcessingPipeline
(FieldMappingTransformation per logsource) for tools that speak pySigma; the
in-process engine takes the flat per-format dict from `field_mapping_for_format()`.

Not for: parsing producers' formats (telemetry.parsers) or matching (detections.engine).
No Django imports: the hunt command and the engine's tests use this without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from telemetry.schema import CANONICAL_FIELDS

# Source.Format values, spelled out so this module stays free of Django.
K8S_AUDIT = "k8s_audit"
FALCO = "falco"
DOCKER_EVENTS = "docker_events"
DOCKER_INSPECT = "docker_inspect"
ZEEK_CONN = "zeek_conn"
ZEEK_DNS = "zeek_dns"
LINUX_PROCESS = "linux_process"
WINDOWS_PROCESS = "windows_process"
CONTAINER_METRICS = "container_metrics"
GENERIC_JSON = "generic_json"
ALL_FORMATS = (
    K8S_AUDIT,
    FALCO,
    DOCKER_EVENTS,
    DOCKER_INSPECT,
    ZEEK_CONN,
    ZEEK_DNS,
    LINUX_PROCESS,
    WINDOWS_PROCESS,
    CONTAINER_METRICS,
    GENERIC_JSON,
)
CANONICAL_COLUMNS = frozenset(CANONICAL_FIELDS) - {"time"}


@dataclass(frozen=True)
class LogSource:
    """A Sigma logsource pattern: an empty part matches anything."""

    product: str = ""
    category: str = ""
    service: str = ""

    def covers(self, product: str, category: str, service: str) -> bool:
        """True when a rule with this (product, category, service) falls under this pattern."""
        return all(
            not mine or mine == (theirs or "").lower()
            for mine, theirs in ((self.product, product), (self.category, category), (self.service, service))
        )


_PROCESS_CREATION = {
    "Image": "process_image",
    "CommandLine": "process_command_line",
    "ParentImage": "process_parent_image",
    "ParentCommandLine": "process_parent_command_line",
    "User": "process_user",
    "ProcessId": "process_pid",
    "Computer": "host",
}
_NETWORK_CONNECTION = {
    "SourceIp": "src_ip",
    "SourcePort": "src_port",
    "DestinationIp": "dst_ip",
    "DestinationPort": "dst_port",
    "Protocol": "protocol",
    "Image": "process_image",
    "User": "process_user",
}
_ZEEK_CONN = {
    "id.orig_h": "src_ip",
    "id.orig_p": "src_port",
    "id.resp_h": "dst_ip",
    "id.resp_p": "dst_port",
    "proto": "protocol",
    "orig_bytes": "bytes_out",
    "resp_bytes": "bytes_in",
    "orig_pkts": "packets_out",
    "resp_pkts": "packets_in",
    "conn_state": "action",
}
_DNS = {
    "query": "dns_query",
    "QueryName": "dns_query",
    "id.orig_h": "src_ip",
    "id.orig_p": "src_port",
    "id.resp_h": "dst_ip",
    "id.resp_p": "dst_port",
    "proto": "protocol",
}
_K8S_AUDIT = {
    "verb": "k8s_verb",
    "objectRef.resource": "k8s_resource",
    "objectRef.subresource": "k8s_subresource",
    "objectRef.namespace": "namespace",
    "objectRef.name": "k8s_object_name",
    "user.username": "k8s_user",
    "sourceIPs": "src_ip",
}
# Falco: its own field names (the keys of output_fields) are the Sigma-style names.
_FALCO = {
    "rule": "action",
    "output": "message",
    "proc.cmdline": "process_command_line",
    "proc.exepath": "process_image",
    "proc.pcmdline": "process_parent_command_line",
    "proc.pexepath": "process_parent_image",
    "proc.pid": "process_pid",
    "user.name": "process_user",
    "container.id": "container_id",
    "container.name": "container_name",
    "container.image.repository": "container_image",
    "k8s.ns.name": "namespace",
    "k8s.pod.name": "pod",
    "fd.sip": "dst_ip",
    "fd.sport": "dst_port",
    "fd.cip": "src_ip",
    "fd.cport": "src_port",
}
# Docker: the Engine's own JSON names; canonical names work as well (identity below).
_DOCKER_EVENTS = {
    "Action": "action",
    "status": "action",
    "Actor.ID": "container_id",
    "id": "container_id",
    "Actor.Attributes.name": "container_name",
    "Actor.Attributes.image": "container_image",
    "from": "container_image",
}
_DOCKER_INSPECT = {
    "Id": "container_id",
    "Name": "container_name",
    "Config.Image": "container_image",
    "HostConfig.Privileged": "privileged",
}

# (logsource pattern, formats it routes to, field mapping). The first entry covering a rule's
# logsource decides both its formats and its mapping, so the order is most specific first.
_TABLE: list[tuple[LogSource, tuple[str, ...], dict[str, str]]] = [
    (LogSource(product="kubernetes", service="audit"), (K8S_AUDIT,), _K8S_AUDIT),
    (LogSource(product="zeek", service="conn"), (ZEEK_CONN,), _ZEEK_CONN),
    (LogSource(product="zeek", service="dns"), (ZEEK_DNS,), _DNS),
    (LogSource(category="dns"), (ZEEK_DNS,), _DNS),
    (LogSource(category="network_connection"), (ZEEK_CONN,), _NETWORK_CONNECTION),
    (LogSource(product="linux", category="process_creation"), (LINUX_PROCESS,), _PROCESS_CREATION),
    (LogSource(product="windows", category="process_creation"), (WINDOWS_PROCESS,), _PROCESS_CREATION),
    (LogSource(category="process_creation"), (LINUX_PROCESS, WINDOWS_PROCESS), _PROCESS_CREATION),
    # auditd rules read the raw records (type, a0, ...) of process events built from audit.log.
    (LogSource(product="linux", service="auditd"), (LINUX_PROCESS,), _PROCESS_CREATION),
    (LogSource(product="linux"), (LINUX_PROCESS,), _PROCESS_CREATION),
    (LogSource(product="windows"), (WINDOWS_PROCESS,), _PROCESS_CREATION),
    (LogSource(product="falco"), (FALCO,), _FALCO),
    (LogSource(product="docker", service="inspect"), (DOCKER_INSPECT,), _DOCKER_INSPECT),
    (LogSource(product="docker"), (DOCKER_EVENTS,), _DOCKER_EVENTS),
    (LogSource(product="container", category="metrics"), (CONTAINER_METRICS,), {}),
    (LogSource(product="generic"), (GENERIC_JSON,), {}),
]

# Where else a dotted path may live in a format's raw record (after the record's root).
_RAW_PREFIXES: dict[str, tuple[str, ...]] = {
    FALCO: ("output_fields",),
    WINDOWS_PROCESS: ("EventData", "event_data", "winlog.event_data", "Event.EventData"),
    LINUX_PROCESS: ("EventData", "Event.EventData"),
}


def formats_for_logsource(product: str = "", category: str = "", service: str = "") -> tuple[str, ...]:
    """The source formats a rule with this logsource applies to (empty logsource: every format)."""
    if not (product or category or service):
        return ALL_FORMATS
    for pattern, routed, _ in _TABLE:
        if pattern.covers(product, category, service):
            return routed
    return ()


def rule_applies_to_format(*, product: str, category: str, service: str, source_format: str) -> bool:
    return source_format in formats_for_logsource(product, category, service)


def field_mapping_for_logsource(product: str = "", category: str = "", service: str = "") -> dict[str, str]:
    for pattern, _, mapping in _TABLE:
        if pattern.covers(product, category, service):
            return dict(mapping)
    return {}


def field_mapping_for_format(source_format: str) -> dict[str, str]:
    """Sigma field -> canonical column for every logsource routed to this format (merged)."""
    merged: dict[str, str] = {}
    for _, routed, mapping in _TABLE:
        if source_format in routed:
            for sigma_field, column in mapping.items():
                merged.setdefault(sigma_field, column)
    return merged


def canonical_column(sigma_field: str, mapping: dict[str, str]) -> str | None:
    """The Event column a Sigma field reads, or None when it must come from the raw record."""
    if sigma_field in mapping:
        return mapping[sigma_field]
    if sigma_field in CANONICAL_COLUMNS:
        return sigma_field
    return None


def raw_prefixes(source_format: str | None) -> tuple[str, ...]:
    return ("", *_RAW_PREFIXES.get(source_format or "", ()))


def raw_value(raw: Any, path: str, *, source_format: str | None = None) -> Any:
    """The value at a dotted path in a raw record, or None.

    Keys may themselves contain dots (Zeek JSON's `id.orig_h`, Falco's `proc.cmdline`),
    so at every level the longest key that matches the rest of the path is tried first.
    Through a list, the values of all its items are collected (Sigma matches any of them).
    """
    for prefix in raw_prefixes(source_format):
        node = _resolve(raw, prefix) if prefix else raw
        if node is None:
            continue
        value = _resolve(node, path)
        if value is not None:
            return value
    return None


def _resolve(node: Any, path: str) -> Any:
    if path == "":
        return node
    if isinstance(node, list):
        values = []
        for item in node:
            value = _resolve(item, path)
            if isinstance(value, list):
                values.extend(value)
            elif value is not None:
                values.append(value)
        return values or None
    if not isinstance(node, dict):
        return None
    if path in node:
        return node[path]
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in node:
            value = _resolve(node[head], ".".join(parts[cut:]))
            if value is not None:
                return value
    return None


def processing_pipeline():
    """All field mappings as one pySigma ProcessingPipeline, each conditioned on its logsource."""
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    items = []
    for index, (pattern, _, mapping) in enumerate(_TABLE):
        if not mapping:
            continue
        items.append(
            ProcessingItem(
                identifier=f"ads_fields_{index}",
                transformation=FieldMappingTransformation(dict(mapping)),
                rule_conditions=[
                    LogsourceCondition(
                        product=pattern.product or None,
                        category=pattern.category or None,
                        service=pattern.service or None,
                    )
                ],
            )
        )
    return ProcessingPipeline(name="ADS Portal canonical events", priority=20, items=items)


def referenced_fields(detection_items: Iterable[Any]) -> set[str]:
    """Field names used by pySigma detection items (recursing into nested detections)."""
    fields: set[str] = set()
    for item in detection_items:
        nested = getattr(item, "detection_items", None)
        if nested is not None:
            fields |= referenced_fields(nested)
        elif getattr(item, "field", None):
            fields.add(item.field)
    return fields
