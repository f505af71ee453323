"""Kubernetes API server audit events (audit.k8s.io Event) -> canonical `k8s_audit` events.

Reads what clusters deliver: the log backend's NDJSON, the webhook backend's
`EventList` bodies, single Event objects, and the two managed-cluster collector
envelopes seen in real data (GKE Cloud Audit Logs `protoPayload`, AKS diagnostic
logs `properties.log`). Not for deciding what is suspicious: that is detection's job.

Stages: every stage is kept, as Falco's k8saudit plugin does; Falco's rules then
select `stage = ResponseComplete` (macro `kevt`) and, for exec/attach, whose
long-running requests first show as `ResponseStarted` (macro `kevt_started`).
Dropping stages here would lose the exec signal, so the stage goes in `message`
and `raw.stage` for rules to filter on.
"""

from __future__ import annotations

import json
from typing import Any

from .base import Parser, RecordRejected, build_event, dig, first

# Kinds whose pod template lives under spec.template.spec (CronJob one level deeper).
_POD_SPEC_PATHS = ("spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


class Unwrapped(dict):
    """An audit Event taken out of a collector envelope; `original` is what arrived (kept as raw)."""

    original: dict[str, Any]


def _unwrapped(event: dict[str, Any], original: dict[str, Any]) -> Unwrapped:
    record = Unwrapped(event)
    record.original = original
    return record


class K8sAuditParser(Parser):
    format_name = "k8s_audit"

    def expand(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        if obj.get("kind") == "EventList":
            items = obj.get("items")
            if not isinstance(items, list):
                raise RecordRejected("EventList without an items list")
            return [item if isinstance(item, dict) else {"kind": type(item).__name__} for item in items]
        if isinstance(obj.get("protoPayload"), dict):
            return [_unwrapped(_from_gke(obj), obj)]
        properties = obj.get("properties")
        if isinstance(properties, dict) and "log" in properties:
            log = properties["log"]
            if isinstance(log, str):
                # AKS ships the Event as a JSON string in properties.log.
                try:
                    log = json.loads(log)
                except ValueError:
                    raise RecordRejected("AKS envelope: properties.log is not JSON")
            if not isinstance(log, dict):
                raise RecordRejected("AKS envelope: properties.log is not an object")
            return [_unwrapped(log, obj)]
        return [obj]

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        kind = record.get("kind")
        if kind is not None and kind != "Event":
            raise RecordRejected(f"not an audit.k8s.io Event (kind {kind!r})")
        if kind is None and "verb" not in record and "auditID" not in record:
            raise RecordRejected("not an audit.k8s.io Event (no kind, verb or auditID)")
        time_value = first(
            record.get("stageTimestamp"), record.get("requestReceivedTimestamp"), record.get("timestamp")
        )
        if time_value is None:
            raise RecordRejected("missing required field stageTimestamp/requestReceivedTimestamp")

        object_ref = record.get("objectRef") if isinstance(record.get("objectRef"), dict) else {}
        request_object = record.get("requestObject") if isinstance(record.get("requestObject"), dict) else {}
        response_object = record.get("responseObject") if isinstance(record.get("responseObject"), dict) else {}
        resource = object_ref.get("resource")
        subresource = object_ref.get("subresource")
        object_name = first(
            object_ref.get("name"), dig(request_object, "metadata.name"), dig(response_object, "metadata.name")
        )
        namespace = first(object_ref.get("namespace"), dig(request_object, "metadata.namespace"))
        source_ips = record.get("sourceIPs")
        src_ip = source_ips[0] if isinstance(source_ips, list) and source_ips else None

        spec = _pod_spec(request_object)
        containers = _containers(spec) if spec is not None else []
        images = [c["image"] for c in containers if isinstance(c.get("image"), str)]

        user = dig(record, "user.username")
        verb = record.get("verb")
        stage = record.get("stage")
        target = "/".join(str(part) for part in (resource, subresource) if part) or record.get("requestURI") or "?"
        where = "/".join(str(part) for part in (namespace, object_name) if part)
        code = dig(record, "responseStatus.code")
        message = f"{user or '?'} {verb or '?'} {target}{' ' + where if where else ''}"
        if code is not None:
            message += f" -> {code}"
        if stage:
            message += f" [{stage}]"

        raw = getattr(record, "original", record)
        common = {
            "time": time_value,
            "kind": "k8s_audit",
            "raw": raw,
            "action": verb,
            "message": message,
            "k8s_user": user,
            "k8s_verb": verb,
            "k8s_resource": resource,
            "k8s_subresource": subresource,
            "k8s_object_name": object_name,
            "namespace": namespace,
            "pod": object_name if resource == "pods" else None,
            "src_ip": src_ip,
            "host_network": (spec.get("hostNetwork") is True) if spec is not None else None,
        }
        if len(containers) < 2:
            return [
                build_event(
                    **common,
                    container_image=images[0] if images else None,
                    privileged=_is_privileged(containers[0]) if containers else (False if spec is not None else None),
                )
            ]
        # container_name is not lifted: a spec's container name is not a runtime container, and
        # the entity of these events is the pod (or the workload).
        # One event per container of a multi-container pod spec: every image and every
        # securityContext is judged on its own, so an approved image placed first cannot vouch
        # for a privileged attack tool placed second. (Storage numbers events that share one
        # raw record, so each keeps its own stable fingerprint.)
        return [
            build_event(
                **common,
                container_image=container.get("image") if isinstance(container.get("image"), str) else None,
                privileged=_is_privileged(container),
            )
            for container in containers
        ]


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a Pod, a workload's template, or an EphemeralContainers body."""
    if not obj:
        return None
    if isinstance(obj.get("ephemeralContainers"), list) and "spec" not in obj:
        return {"ephemeralContainers": obj["ephemeralContainers"]}
    for path in _POD_SPEC_PATHS:
        spec = dig(obj, path)
        if isinstance(spec, dict) and any(isinstance(spec.get(name), list) for name in _CONTAINER_LISTS):
            return spec
    return None


def _is_privileged(container: dict[str, Any]) -> bool:
    return dig(container, "securityContext.privileged") is True


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        container for name in _CONTAINER_LISTS for container in (spec.get(name) or []) if isinstance(container, dict)
    ]


def _from_gke(obj: dict[str, Any]) -> dict[str, Any]:
    """A GKE Cloud Audit Log entry re-expressed as an audit Event.

    GKE: methodName "io.k8s.core.v1.pods.exec.create" (verb last), resourceName
    "core/v1/namespaces/default/pods/web/exec", request/response bodies in
    protoPayload.request/response, the caller in authenticationInfo.principalEmail.
    """
    payload = obj["protoPayload"]
    method = str(payload.get("methodName") or "")
    verb = method.rsplit(".", 1)[-1] if method else None
    resource, subresource, namespace, name = _split_gke_resource(str(payload.get("resourceName") or ""))
    event: dict[str, Any] = {
        "kind": "Event",
        "verb": verb,
        "user": {"username": dig(payload, "authenticationInfo.principalEmail")},
        "sourceIPs": [ip] if (ip := dig(payload, "requestMetadata.callerIp")) else [],
        "objectRef": {"resource": resource, "subresource": subresource, "namespace": namespace, "name": name},
        "stageTimestamp": obj.get("timestamp") or obj.get("receiveTimestamp"),
        "requestURI": payload.get("resourceName"),
    }
    if isinstance(payload.get("request"), dict):
        event["requestObject"] = payload["request"]
    if isinstance(payload.get("response"), dict):
        event["responseObject"] = payload["response"]
    code = dig(payload, "status.code")
    if code is not None:
        event["responseStatus"] = {"code": code}
    return event


def _split_gke_resource(resource_name: str) -> tuple[str | None, str | None, str | None, str | None]:
    parts = [part for part in resource_name.split("/") if part]
    # Drop "<group>/<version>" ("core/v1", "apps/v1", "rbac.authorization.k8s.io/v1").
    if len(parts) >= 2 and parts[1][:1] == "v" and parts[1][1:2].isdigit():
        parts = parts[2:]
    namespace = None
    if parts[:1] == ["namespaces"]:
        if len(parts) <= 2:
            return "namespaces", None, None, parts[1] if len(parts) == 2 else None
        namespace, parts = parts[1], parts[2:]
    if not parts:
        return None, None, namespace, None
    if len(parts) == 1 and namespace is None:
        # A non-resource path such as "readyz" or "healthz".
        return None, None, None, parts[0]
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else None
    subresource = parts[2] if len(parts) > 2 else None
    return resource, subresource, namespace, name
