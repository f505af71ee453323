"""Response actions on an alert: isolate the container it is about.

Kubernetes: a deny-all NetworkPolicy (policyTypes Ingress and Egress, no rules) selecting the pod,
built with the `kubernetes` client's models. Applied when a cluster is configured
(settings.ADS_KUBERNETES, from ADS_K8S_HOST / ADS_K8S_TOKEN / ADS_K8S_CA_CERT), otherwise offered
as a manifest to download. Docker: the commands that disconnect the container from its networks
and pause it. Every action is recorded (ResponseAction and an audit entry) with who, when and
the result; a cluster error is a recorded `failed` action, never an exception on the analyst's page.

Telemetry is attacker-controlled, so every value that reaches a manifest or a command is validated
(a namespace is a DNS-1123 label, a pod name a DNS-1123 subdomain, a container id hex, a container
name what Docker accepts) and shell-quoted on top; anything else is refused with a ValidationError.

Not for: the pages that offer these actions (triage.views) or the alert's lifecycle (workflow).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.services import record_change
from triage.live import announce_alerts_changed
from triage.models import Alert, ResponseAction
from triage.selectors import AlertEvidenceView, alert_evidence
from triage.services.workflow import require_permission

if TYPE_CHECKING:
    from kubernetes import client as k8s


def _k8s():
    """The kubernetes client, imported when an isolation is planned: it costs ~0.3 s, which every
    process importing triage.services (web, workers, management commands) would otherwise pay."""
    from kubernetes import client

    return client


# The label a quarantined pod gets; the policy then selects exactly the pods wearing it.
QUARANTINE_LABEL = "ads-portal/quarantine"
POLICY_PREFIX = "ads-portal-isolate-"
# Object names that also serve as label values stay within a label's 63 characters.
MAX_POLICY_NAME = 63
# A pod with more labels than this in the telemetry is not a pod an API server made.
MAX_LABELS = 64
DEFAULT_TIMEOUT_SECONDS = 5.0

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
_CONTAINER_ID = re.compile(r"[0-9a-f]{6,64}")
# Docker's own rule for container names (daemon/names: RestrictedNameChars); network names likewise.
_DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
# Workload kinds whose pods are selected by spec.selector.matchLabels.
_SELECTOR_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet"}


@dataclass
class IsolationPlan:
    """How to isolate an alert's container: the target, and the policy or the commands that do it.

    `platform` is "kubernetes" or "docker". For Kubernetes, `policy` is the V1NetworkPolicy,
    `manifest` its YAML (with the steps to run first as comments), `commands` what a responder
    runs by hand (label the pod when the quarantine label is used, then apply). For Docker,
    `commands` are the shell commands. `notes` say what the plan had to assume.
    """

    platform: str
    target: str
    namespace: str = ""
    pod: str = ""
    container: str = ""
    pod_selector: dict[str, str] = field(default_factory=dict)
    quarantine: bool = False
    policy: k8s.V1NetworkPolicy | None = None
    manifest: str = ""
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def policy_name(self) -> str:
        return self.policy.metadata.name if self.policy is not None else ""

    @property
    def manifest_filename(self) -> str:
        return f"{self.policy_name}.yaml" if self.policy is not None else ""


# --------------------------------------------------------------------------- validation


def _refuse(what: str, value: Any, rule: str) -> ValidationError:
    shown = str(value)[:80]
    return ValidationError(
        {"target": f"The evidence names {what} {shown!r}, which is not {rule}: refusing to act on it."}
    )


def _namespace(value: Any) -> str:
    if not isinstance(value, str) or not _DNS_LABEL.fullmatch(value):
        raise _refuse("the namespace", value, "a Kubernetes namespace (a DNS-1123 label)")
    return value


def _k8s_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        raise _refuse(what, value, "a Kubernetes object name (a DNS-1123 subdomain)")
    return value


def _container_ref(value: Any) -> str:
    if isinstance(value, str) and (_CONTAINER_ID.fullmatch(value) or _DOCKER_NAME.fullmatch(value)):
        return value
    raise _refuse("the container", value, "a container id (hex) or a Docker container name")


def _is_label_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return bool(_LABEL_NAME.fullmatch(name))


def _is_label_value(value: Any) -> bool:
    return isinstance(value, str) and (value == "" or bool(_LABEL_NAME.fullmatch(value)))


def _valid_labels(labels: dict[str, str]) -> bool:
    return 0 < len(labels) <= MAX_LABELS and all(_is_label_key(k) and _is_label_value(v) for k, v in labels.items())


# --------------------------------------------------------------------------- reading the evidence


def _falco_labels(fields: dict[str, Any]) -> dict[str, str]:
    """Pod labels from Falco's output_fields: `k8s.pod.labels` (a "k:v, k:v" list) or `k8s.pod.label.<key>`."""
    labels: dict[str, str] = {}
    for prefix in ("k8s.pod.", "k8smeta.pod."):
        listed = fields.get(prefix + "labels")
        if isinstance(listed, dict):
            labels.update({str(k): str(v) for k, v in listed.items()})
        elif isinstance(listed, list | str):
            items = listed if isinstance(listed, list) else listed.strip("[]() ").split(",")
            for item in items:
                key, sep, value = str(item).strip().partition(":")
                if sep and key:
                    labels[key.strip()] = value.strip()
        for name, value in fields.items():
            for form in (prefix + "label.", prefix + "label["):
                if isinstance(name, str) and name.startswith(form) and value not in (None, "<NA>"):
                    labels[name[len(form) :].rstrip("]")] = str(value)
    return labels


def _audit_objects(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects an audit Event carries, also inside the GKE and AKS envelopes the parser reads."""
    event = raw
    if isinstance(raw.get("protoPayload"), dict):
        proto = raw["protoPayload"]
        return [o for o in (proto.get("request"), proto.get("response")) if isinstance(o, dict)]
    log = raw.get("properties", {}).get("log") if isinstance(raw.get("properties"), dict) else None
    if isinstance(log, str):
        try:
            log = json.loads(log)
        except ValueError:
            log = None
    if isinstance(log, dict):
        event = log
    return [o for o in (event.get("requestObject"), event.get("responseObject")) if isinstance(o, dict)]


@dataclass
class _Facts:
    namespace: str = ""
    pod: str = ""
    container_id: str = ""
    container_name: str = ""
    workload: str = ""  # "namespace/resource/name" of a Deployment and the like
    labels: dict[str, str] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)


def _event_labels(raw: dict[str, Any], pod: str) -> tuple[dict[str, str], str]:
    """(pod labels, pod name when the record names it) from one raw record."""
    if isinstance(raw.get("output_fields"), dict):
        return _falco_labels(raw["output_fields"]), ""
    for obj in _audit_objects(raw):
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        labels = metadata.get("labels")
        if obj.get("kind") == "Pod" and isinstance(labels, dict):
            name = metadata.get("name") if isinstance(metadata.get("name"), str) else ""
            if not pod or not name or name == pod:
                return dict(labels), name
    return {}, ""


def _workload_selector(raw: dict[str, Any]) -> dict[str, str]:
    for obj in _audit_objects(raw):
        selector = obj.get("spec", {}).get("selector") if isinstance(obj.get("spec"), dict) else None
        if obj.get("kind") in _SELECTOR_KINDS and isinstance(selector, dict):
            match = selector.get("matchLabels")
            if isinstance(match, dict) and not selector.get("matchExpressions"):
                return dict(match)
    return {}


def _docker_networks(raw: dict[str, Any], container: str) -> list[str]:
    """Networks a container is on: `docker inspect` NetworkSettings.Networks, or a network connect event."""
    networks = raw.get("NetworkSettings", {}).get("Networks") if isinstance(raw.get("NetworkSettings"), dict) else None
    if isinstance(networks, dict):
        return [str(name) for name in networks]
    actor = raw.get("Actor") if isinstance(raw.get("Actor"), dict) else {}
    attributes = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
    # A network event names the full container id; the evidence may know only the short one.
    connected = raw.get("Type") == "network" and raw.get("Action") == "connect" and attributes.get("name")
    if connected and (not container or str(attributes.get("container", "")).startswith(container)):
        return [str(attributes["name"])]
    return []


def _facts(alert: Alert, evidence: AlertEvidenceView | None) -> _Facts:
    """What the evidence says about the alert's target; events about the alert's own entity come first."""
    facts = _Facts()
    entity_type, entity = alert.entity_type, alert.entity or ""
    if entity_type == "pod":
        namespace, slash, pod = entity.partition("/")
        facts.namespace, facts.pod = (namespace, pod) if slash else ("", entity)
    elif entity_type == "container":
        facts.container_id = entity
    elif entity_type == "workload" and entity.count("/") == 2:
        facts.workload = entity
    events = [event for item in (evidence or alert_evidence(alert)).items for event in item["events"]]

    def about_target(columns: dict[str, Any]) -> bool:
        if facts.pod:
            return columns.get("pod") == facts.pod and columns.get("namespace", facts.namespace) == facts.namespace
        if facts.container_id:
            return facts.container_id in (columns.get("container_id"), columns.get("container_name"))
        return True  # an entity that is neither (a host, a user): the first event naming a container decides

    for event in events:
        columns, raw = event["fields"], event["raw"] if isinstance(event["raw"], dict) else {}
        if not about_target(columns):
            continue
        if not facts.pod and columns.get("pod"):
            facts.pod, facts.namespace = columns["pod"], columns.get("namespace") or facts.namespace
        if not facts.namespace and columns.get("namespace"):
            facts.namespace = columns["namespace"]
        if columns.get("container_id") and (
            not facts.container_id or facts.container_id == columns.get("container_name")
        ):
            facts.container_id = columns["container_id"]
        if columns.get("container_name") and not facts.container_name:
            facts.container_name = columns["container_name"]
        labels, _ = _event_labels(raw, facts.pod)
        for key, value in labels.items():
            facts.labels.setdefault(key, value)
        if facts.workload and not facts.labels:
            facts.labels = _workload_selector(raw)
        for network in _docker_networks(raw, facts.container_id):
            if network not in facts.networks:
                facts.networks.append(network)
    if facts.container_id and facts.container_id == facts.container_name:
        facts.container_id = ""
    if facts.container_id and not _CONTAINER_ID.fullmatch(facts.container_id) and not facts.container_name:
        facts.container_name, facts.container_id = facts.container_id, ""
    return facts


# --------------------------------------------------------------------------- the plan


def _policy_name(base: str) -> str:
    """`ads-portal-isolate-<base>`, at most 63 characters; a long base keeps a hash so names stay distinct."""
    name = POLICY_PREFIX + base
    if len(name) <= MAX_POLICY_NAME:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    head = (POLICY_PREFIX + base)[: MAX_POLICY_NAME - len(digest) - 1].rstrip("-.")
    return f"{head}-{digest}"


def _network_policy(*, name: str, namespace: str, selector: dict[str, str], alert: Alert) -> k8s.V1NetworkPolicy:
    """Deny all: selecting the pods, both policy types, and no ingress or egress rule to allow anything."""
    k8s = _k8s()
    return k8s.V1NetworkPolicy(
        api_version="networking.k8s.io/v1",
        kind="NetworkPolicy",
        metadata=k8s.V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels={"app.kubernetes.io/managed-by": "ads-portal", "ads-portal/alert": str(alert.pk)},
            annotations={
                "ads-portal/alert": f"{alert.pk}: {alert.title}"[:500],
                "ads-portal/rule": str(alert.rule)[:255],
                "ads-portal/reason": "isolate container: deny all ingress and egress",
            },
        ),
        spec=k8s.V1NetworkPolicySpec(
            pod_selector=k8s.V1LabelSelector(match_labels=dict(selector)),
            policy_types=["Ingress", "Egress"],
        ),
    )


def policy_yaml(policy: k8s.V1NetworkPolicy) -> str:
    """The policy as a manifest, in the API's field names (podSelector, policyTypes)."""
    k8s = _k8s()
    return yaml.safe_dump(k8s.ApiClient().sanitize_for_serialization(policy), sort_keys=False)


def _kubernetes_plan(facts: _Facts, alert: Alert) -> IsolationPlan:
    namespace = _namespace(facts.namespace or "default")
    notes = [] if facts.namespace else ["The evidence names no namespace: assuming default."]
    if facts.pod:
        pod = _k8s_name(facts.pod, "the pod")
        target, base = f"pod {namespace}/{pod}", pod
    else:
        _, _, workload_name = facts.workload.split("/")
        pod, target, base = "", f"workload {facts.workload}", _k8s_name(workload_name, "the workload")
    selector, quarantine = dict(facts.labels), False
    if selector and not _valid_labels(selector):
        notes.append("The evidence's pod labels are not labels an API server accepts: ignoring them.")
        selector = {}
    if selector:
        notes.append(
            "The policy selects the pod's labels, so every pod wearing the same labels is isolated too"
            " (replicas of one ReplicaSet share them)."
        )
    elif pod:
        selector, quarantine = {QUARANTINE_LABEL: "true"}, True
        notes.append(f"The pod's labels are not in the evidence: label the pod {QUARANTINE_LABEL}=true first.")
    else:
        raise ValidationError({"target": f"The evidence gives neither a pod nor the selector of {target}."})
    policy = _network_policy(name=_policy_name(base), namespace=namespace, selector=selector, alert=alert)
    filename = f"{policy.metadata.name}.yaml"
    commands = []
    if quarantine:
        commands.append(
            f"kubectl label pod --namespace {shlex.quote(namespace)} {shlex.quote(pod)} {QUARANTINE_LABEL}=true --overwrite"
        )
    commands.append(f"kubectl apply --namespace {shlex.quote(namespace)} -f {shlex.quote(filename)}")
    header = "".join(f"# {line}\n" for line in [f"Isolates {target} (alert {alert.pk}).", *commands])
    return IsolationPlan(
        platform="kubernetes",
        target=target,
        namespace=namespace,
        pod=pod,
        pod_selector=selector,
        quarantine=quarantine,
        policy=policy,
        manifest=header + policy_yaml(policy),
        commands=commands,
        notes=notes,
    )


def _docker_plan(facts: _Facts) -> IsolationPlan:
    container = _container_ref(facts.container_id or facts.container_name)
    target = f"container {container}"
    if facts.container_name and facts.container_name != container and _DOCKER_NAME.fullmatch(facts.container_name):
        target += f" ({facts.container_name})"
    quoted = shlex.quote(container)
    notes: list[str] = []
    networks = [n for n in facts.networks if _DOCKER_NAME.fullmatch(n)]
    if len(networks) < len(facts.networks):
        notes.append("Network names in the evidence that Docker would not accept were left out.")
    if networks:
        commands = [f"docker network disconnect --force {shlex.quote(n)} {quoted}" for n in networks]
    else:
        notes.append("The evidence names no network: the first command lists them from docker inspect.")
        listing = "docker inspect --format '{{range $name, $_ := .NetworkSettings.Networks}}{{println $name}}{{end}}'"
        commands = [
            f'for network in $({listing} {quoted}); do docker network disconnect --force "$network" {quoted}; done'
        ]
    commands.append(f"docker pause {quoted}")
    return IsolationPlan(platform="docker", target=target, container=container, commands=commands, notes=notes)


def isolation_plan(*, alert: Alert, evidence: AlertEvidenceView | None = None) -> IsolationPlan:
    """How to isolate the container the alert is about, worked out from its evidence.

    Kubernetes (the evidence names a pod, or a workload with its selector): a deny-all NetworkPolicy.
    Its podSelector is the pod's labels when the evidence has them (a pod create's audit
    `requestObject.metadata.labels`, Falco's `k8s.pod.labels` / `k8s.pod.label.*`). When it does
    not, the policy cannot select the pod by name (a selector only sees labels), so it selects
    the quarantine label `ads-portal/quarantine=true` and the plan labels the pod first: the way
    responders do it, since it isolates exactly that pod, leaves its replicas alone, and survives
    the pod's own labels being unknown or forged. Docker event attributes are not read for pod
    labels: they hold the container's labels, which name the pod but are not the pod's labels.

    Docker (a container id or name and no pod): `docker network disconnect` for each network the
    evidence knows (docker inspect, network connect events), or a loop over the networks docker
    inspect lists, then `docker pause`. ValidationError when the evidence names no target or a
    target that is not a valid name (telemetry is attacker-controlled). `evidence` is the
    alert's evidence when the caller has already read it (the alert page), so it is read once.
    """
    facts = _facts(alert, evidence)
    if facts.pod or facts.workload:
        return _kubernetes_plan(facts, alert)
    if facts.container_id or facts.container_name:
        return _docker_plan(facts)
    raise ValidationError({"target": "The alert's evidence names no container, pod or workload to isolate."})


# --------------------------------------------------------------------------- acting on it


def _api_error(exc: k8s.ApiException) -> str:
    message = ""
    try:
        message = json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        message = str(exc.body or "")[:500]
    return f"HTTP {exc.status} {exc.reason or ''}: {message}".strip().rstrip(":")


def _cluster_client(cluster: dict[str, Any]) -> k8s.ApiClient:
    k8s = _k8s()
    configuration = k8s.Configuration(
        host=cluster["host"].rstrip("/"),
        api_key={"BearerToken": cluster["token"]} if cluster.get("token") else None,
        api_key_prefix={"BearerToken": "Bearer"} if cluster.get("token") else None,
    )
    configuration.verify_ssl = cluster.get("verify_ssl", True)
    configuration.ssl_ca_cert = cluster.get("ca_cert") or None
    # One attempt, bounded by the timeout: a responder is waiting on the page, and the record says what failed.
    configuration.retries = False
    return k8s.ApiClient(configuration)


def apply_plan(plan: IsolationPlan, cluster: dict[str, Any]) -> tuple[str, str]:
    """Create the policy (and label the pod for a quarantine) on the cluster; returns (result, output).

    Never raises for the cluster: an unreachable or refusing API server is a `failed` result
    with the reason. A 409 on create means the policy exists already: the pod is isolated.
    """
    k8s = _k8s()
    timeout = float(cluster.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS)
    steps = []
    try:
        with _cluster_client(cluster) as api:
            try:
                k8s.NetworkingV1Api(api).create_namespaced_network_policy(
                    plan.namespace, plan.policy, _request_timeout=timeout
                )
                steps.append(f"NetworkPolicy {plan.namespace}/{plan.policy_name} created.")
            except k8s.ApiException as exc:
                if exc.status != 409:
                    raise
                steps.append(f"NetworkPolicy {plan.namespace}/{plan.policy_name} already exists (already isolated).")
            if plan.quarantine:
                k8s.CoreV1Api(api).patch_namespaced_pod(
                    plan.pod,
                    plan.namespace,
                    {"metadata": {"labels": {QUARANTINE_LABEL: "true"}}},
                    _content_type="application/merge-patch+json",
                    _request_timeout=timeout,
                )
                steps.append(f"Pod {plan.namespace}/{plan.pod} labelled {QUARANTINE_LABEL}=true.")
    except k8s.ApiException as exc:
        steps.append(f"The cluster refused: {_api_error(exc)}")
        return ResponseAction.Result.FAILED, "\n".join(steps)
    except Exception as exc:  # unreachable, timed out, TLS: recorded for the analyst, never raised at them
        steps.append(f"Could not reach the cluster at {cluster['host']}: {type(exc).__name__}: {str(exc)[:1000]}")
        return ResponseAction.Result.FAILED, "\n".join(steps)
    return ResponseAction.Result.APPLIED, "\n".join(steps) + "\n\n" + plan.manifest


def isolate_container(*, alert: Alert, user) -> ResponseAction:
    """Isolate the alert's container and record it: applied, manifest, commands or failed.

    Needs triage.change_alert. With settings.ADS_KUBERNETES the policy is applied to that
    cluster; without it the manifest is the output (to download and apply); a Docker target
    gives the commands. The cluster call happens before the transaction (no row is locked while
    waiting on a network); the action and its audit entry are stored together.
    """
    require_permission(user, "triage.change_alert", "Isolating a container")
    plan = isolation_plan(alert=alert)
    cluster = getattr(settings, "ADS_KUBERNETES", None)
    if plan.platform == "docker":
        result, output = ResponseAction.Result.COMMANDS, "\n".join(plan.commands)
    elif cluster and cluster.get("host"):
        result, output = apply_plan(plan, cluster)
    else:
        result, output = ResponseAction.Result.MANIFEST, plan.manifest
    with transaction.atomic():
        action = ResponseAction.objects.create(
            alert=alert,
            kind=ResponseAction.Kind.ISOLATE_CONTAINER,
            target=plan.target[:512],
            result=result,
            output=output,
            taken_by=user if getattr(user, "pk", None) else None,
        )
        record_change(
            actor=user,
            action="alert.isolate",
            object_type="alert",
            object_id=alert.pk,
            object_repr=alert.title,
            changes={"response_action": (None, action.pk)},
            note=f"Isolate {plan.target}: {action.get_result_display().lower()}. {' '.join(plan.notes)}".strip(),
        )
        announce_alerts_changed([alert.pk])
    return action
