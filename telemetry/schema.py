"""The canonical event schema: one flat record per telemetry event, whatever the producer.

Names follow the Elastic Common Schema (ECS) with dots turned into underscores
(`process.command_line` -> `process_command_line`), because ECS already covers
container, orchestrator, process and network fields, and Sigma's own pipelines
(pySigma's ECS mappings) translate Sigma field names to it. Kubernetes audit
fields that ECS has no name for use the `k8s_` prefix (after ECS's
`orchestrator.*` set, kept short because they become columns).

Parsers (telemetry.parsers) return dicts with these keys; every key is optional
except `time`, `kind` and `raw`. This module is pure Python: no Django.
"""

from __future__ import annotations

# kind: what the record describes (ECS event.category, simplified to one value).
KINDS = ("process", "network", "k8s_audit", "container", "metric", "alert", "dns", "other")

# field name -> (python type, ECS name it mirrors, description)
CANONICAL_FIELDS: dict[str, tuple[type, str, str]] = {
    "time": (str, "@timestamp", "When the event happened (timezone-aware datetime)."),
    "kind": (str, "event.category", "One of KINDS."),
    "action": (str, "event.action", "What happened: docker action, audit verb, Falco rule name, event id."),
    "message": (str, "message", "Human readable summary, when the producer has one."),
    "host": (str, "host.name", "Host or node that produced the event."),
    "container_id": (str, "container.id", "Container id (full or short, as the producer gives it)."),
    "container_name": (str, "container.name", "Container name."),
    "container_image": (str, "container.image.name", "Image reference (registry/repo:tag or @digest)."),
    "pod": (str, "orchestrator.resource.name (pod)", "Kubernetes pod name."),
    "namespace": (str, "orchestrator.namespace", "Kubernetes namespace."),
    "k8s_user": (str, "user.name", "Kubernetes audit user.username."),
    "k8s_verb": (str, "orchestrator.resource.verb", "Audit verb: create, get, patch, ..."),
    "k8s_resource": (str, "orchestrator.resource.type", "objectRef.resource: pods, deployments, ..."),
    "k8s_subresource": (str, "orchestrator.resource.subresource", "objectRef.subresource: exec, attach, ..."),
    "k8s_object_name": (str, "orchestrator.resource.name", "objectRef.name."),
    "process_image": (str, "process.executable", "Executable path of the process."),
    "process_command_line": (str, "process.command_line", "Full command line."),
    "process_parent_image": (str, "process.parent.executable", "Parent executable."),
    "process_parent_command_line": (str, "process.parent.command_line", "Parent command line."),
    "process_user": (str, "user.name (process)", "User the process ran as."),
    "process_pid": (int, "process.pid", "Process id."),
    "src_ip": (str, "source.ip", "Source (originator) address."),
    "src_port": (int, "source.port", "Source port."),
    "dst_ip": (str, "destination.ip", "Destination (responder) address."),
    "dst_port": (int, "destination.port", "Destination port (for ICMP Zeek puts the code here)."),
    "protocol": (str, "network.transport", "tcp, udp, icmp, ... lower case."),
    "direction": (str, "network.direction", "inbound, outbound, internal, external, unknown."),
    "bytes_out": (int, "source.bytes", "Payload bytes sent by the originator."),
    "bytes_in": (int, "destination.bytes", "Payload bytes sent by the responder."),
    "packets_out": (int, "source.packets", "Packets sent by the originator."),
    "packets_in": (int, "destination.packets", "Packets sent by the responder."),
    "icmp_type": (int, "icmp.type", "ICMP type (8 echo request, 0 echo reply)."),
    "icmp_code": (int, "icmp.code", "ICMP code."),
    "dns_query": (str, "dns.question.name", "Queried domain, for DNS records and indicator matching."),
    "privileged": (bool, "container.security_context.privileged", "Container runs privileged."),
    "host_network": (bool, "container.network.host", "Container shares the host network namespace."),
    "cpu_cores": (float, "container.cpu.usage (cores)", "CPU used, in cores, for metric samples."),
    "memory_bytes": (int, "container.memory.usage", "Memory working set in bytes, for metric samples."),
}

INT_FIELDS = frozenset(k for k, (t, _, _) in CANONICAL_FIELDS.items() if t is int)
FLOAT_FIELDS = frozenset(k for k, (t, _, _) in CANONICAL_FIELDS.items() if t is float)
BOOL_FIELDS = frozenset(k for k, (t, _, _) in CANONICAL_FIELDS.items() if t is bool)
STR_FIELDS = frozenset(k for k, (t, _, _) in CANONICAL_FIELDS.items() if t is str and k != "time")

# Bound on any lifted string column: telemetry is attacker-controlled.
MAX_STR_LEN = 4096
