"""Demo telemetry: the shipped emulation scenarios hidden in generated benign background traffic.

`build_demo_feeds()` returns, per source format, the byte streams to ingest: every scenario's
telemetry (attacks and documented false positives) plus background records in the producers'
real formats (Kubernetes audit from controllers and CI, request/response Zeek flows, Docker
lifecycle events for approved images, everyday process launches, steady container metrics).
Deterministic (seeded), so a demo looks the same on every machine. Not for tests of the
detections themselves: those use the scenarios one by one (validation.services).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from validation.scenarios import SCENARIOS_DIR, Scenario, load_scenario

DEMO_DAY = datetime(2026, 11, 20, tzinfo=UTC)
APPROVED_IMAGES = [
    "registry.internal.example/web/frontend:2.4.1",
    "registry.internal.example/api/orders:1.9.0",
    "docker.io/library/nginx:1.27",
]
NAMESPACES = ["shop", "payments", "platform"]
SERVICE_ACCOUNTS = [
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:kube-scheduler",
]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moments(rng: random.Random, count: int) -> list[datetime]:
    return sorted(DEMO_DAY + timedelta(seconds=rng.randrange(0, 86_000)) for _ in range(count))


def background_k8s_audit(rng: random.Random, count: int) -> bytes:
    lines = []
    for i, moment in enumerate(_moments(rng, count)):
        namespace = rng.choice(NAMESPACES)
        verb, resource = rng.choice(
            [("get", "pods"), ("list", "pods"), ("watch", "endpoints"), ("update", "configmaps"), ("get", "secrets")]
        )
        name = f"{namespace}-{rng.randrange(1, 40)}"
        event = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": f"demo-{i:06d}-{rng.randrange(16**8):08x}",
            "stage": "ResponseComplete",
            "requestURI": f"/api/v1/namespaces/{namespace}/{resource}/{name}",
            "verb": verb,
            "user": {
                "username": rng.choice(SERVICE_ACCOUNTS),
                "groups": ["system:serviceaccounts", "system:authenticated"],
            },
            "sourceIPs": [f"10.0.0.{rng.randrange(2, 250)}"],
            "userAgent": "kube-controller-manager/v1.31.2",
            "objectRef": {"resource": resource, "namespace": namespace, "name": name, "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 200},
            "requestReceivedTimestamp": _iso(moment),
            "stageTimestamp": _iso(moment + timedelta(milliseconds=5)),
        }
        lines.append(json.dumps(event))
    return ("\n".join(lines) + "\n").encode()


def background_zeek_conn(rng: random.Random, count: int) -> bytes:
    lines = []
    for i, moment in enumerate(_moments(rng, count)):
        orig = f"172.18.0.{rng.randrange(2, 60)}"
        resp, port = rng.choice([("10.96.0.10", 53), ("10.96.12.4", 443), ("10.96.40.2", 5432), ("172.18.0.80", 8080)])
        proto = "udp" if port == 53 else "tcp"
        record = {
            "ts": moment.timestamp(),
            "uid": f"CDemo{i:07d}",
            "id.orig_h": orig,
            "id.orig_p": rng.randrange(32768, 60999),
            "id.resp_h": resp,
            "id.resp_p": port,
            "proto": proto,
            "service": "dns" if port == 53 else None,
            "duration": round(rng.uniform(0.001, 2.5), 6),
            "orig_bytes": rng.randrange(40, 1500),
            "resp_bytes": rng.randrange(80, 40_000),
            "conn_state": "SF",
            "local_orig": True,
            "local_resp": True,
            "missed_bytes": 0,
            "history": "ShADadFf" if proto == "tcp" else "Dd",
            "orig_pkts": rng.randrange(2, 20),
            "orig_ip_bytes": rng.randrange(200, 3000),
            "resp_pkts": rng.randrange(2, 40),
            "resp_ip_bytes": rng.randrange(300, 45_000),
        }
        lines.append(json.dumps({k: v for k, v in record.items() if v is not None}))
    return ("\n".join(lines) + "\n").encode()


def background_docker_events(rng: random.Random, count: int) -> bytes:
    lines = []
    for moment in _moments(rng, count):
        image = rng.choice(APPROVED_IMAGES)
        container_id = f"{rng.randrange(16**12):012x}" + "0" * 52
        name = image.split("/")[-1].split(":")[0] + f"-{rng.randrange(1, 9)}"
        action = rng.choice(["start", "die", "health_status: healthy", "exec_die"])
        nanos = int(moment.timestamp() * 1e9)
        lines.append(
            json.dumps(
                {
                    "status": action,
                    "id": container_id,
                    "from": image,
                    "Type": "container",
                    "Action": action,
                    "Actor": {"ID": container_id, "Attributes": {"image": image, "name": name}},
                    "scope": "local",
                    "time": nanos // 1_000_000_000,
                    "timeNano": nanos,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def background_linux_process(rng: random.Random, count: int) -> bytes:
    commands = [
        ("/usr/bin/ls", "ls -la /var/log", "/bin/bash"),
        ("/usr/bin/python3", "python3 /app/manage.py runserver 0.0.0.0:8000", "/bin/sh"),
        ("/usr/bin/curl", "curl -s http://orders.shop.svc:8080/healthz", "/bin/sh"),
        ("/usr/bin/cat", "cat /etc/os-release", "/bin/bash"),
        ("/usr/sbin/nginx", "nginx -g daemon off;", "/usr/bin/tini"),
    ]
    lines = []
    for moment in _moments(rng, count):
        image, command_line, parent = rng.choice(commands)
        lines.append(
            json.dumps(
                {
                    "EventID": 1,
                    "UtcTime": moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                    "Computer": f"node-{rng.randrange(1, 4)}",
                    "ProcessId": rng.randrange(100, 60000),
                    "Image": image,
                    "CommandLine": command_line,
                    "CurrentDirectory": "/app",
                    "User": "app",
                    "ParentImage": parent,
                    "ParentCommandLine": parent,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def background_metrics(rng: random.Random, samples: int) -> bytes:
    containers = [
        ("frontend", "registry.internal.example/web/frontend:2.4.1"),
        ("orders", "registry.internal.example/api/orders:1.9.0"),
    ]
    lines = [
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
        "# TYPE container_cpu_usage_seconds_total counter",
    ]
    memory = [
        "# HELP container_memory_working_set_bytes Current working set in bytes.",
        "# TYPE container_memory_working_set_bytes gauge",
    ]
    for name, image in containers:
        cpu = 1000.0
        for step in range(samples):
            moment = DEMO_DAY + timedelta(minutes=5 * step)
            cpu += 300 * rng.uniform(0.18, 0.22)  # ~0.2 cores, steady
            labels = f'container="{name}",id="/docker/{name}0000",image="{image}",name="{name}",namespace="shop",pod="{name}-7d9f"'
            stamp = int(moment.timestamp() * 1000)
            lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {cpu:.3f} {stamp}")
            memory.append(f"container_memory_working_set_bytes{{{labels}}} {int(rng.uniform(2.0e8, 2.1e8))} {stamp}")
    return ("\n".join(lines + memory) + "\n").encode()


BACKGROUND = {
    "k8s_audit": lambda rng: background_k8s_audit(rng, 1500),
    "zeek_conn": lambda rng: background_zeek_conn(rng, 2500),
    "docker_events": lambda rng: background_docker_events(rng, 400),
    "linux_process": lambda rng: background_linux_process(rng, 1200),
    "container_metrics": lambda rng: background_metrics(rng, 60),
}


def all_scenarios() -> list[Scenario]:
    return [
        load_scenario(path, strategy_dir.name)
        for strategy_dir in sorted(SCENARIOS_DIR.iterdir())
        if strategy_dir.is_dir()
        for path in sorted(strategy_dir.iterdir())
        if (path / "scenario.yml").is_file()
    ]


def build_demo_feeds(seed: int = 20261120) -> list[tuple[str, str, bytes]]:
    """(source format, label, content) in ingest order: background first, then the scenarios."""
    rng = random.Random(seed)
    feeds = [(fmt, f"background-{fmt}", make(rng)) for fmt, make in BACKGROUND.items()]
    for scenario in all_scenarios():
        for telemetry in scenario.telemetry:
            feeds.append(
                (
                    telemetry.source_format,
                    f"{scenario.strategy_slug}/{scenario.key}/{telemetry.path.name}",
                    telemetry.path.read_bytes(),
                )
            )
    return feeds
