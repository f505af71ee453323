"""The real Kubernetes audit samples (Falco's fixtures) raise the alerts their names promise, end to end.

Each file is ingested through the production path (parse -> store -> detect -> suppress -> alert)
with the shipped library loaded; the alerts per file are compared with what the file name says.
"""

import pytest
from django.core.management import call_command

from telemetry.models import IngestBatch, Source
from telemetry.services import ingest_stream
from triage.models import Alert

EXEC_ATTACH = "063c8f9e-859c-4951-a964-689f21a65860"
HOST_NETWORK = "1ebebfca-6475-4b0d-adef-9f25c91ab7a3"
PRIVILEGED = "1dc8e0b9-c3a7-4f4e-bb2a-d1dd15e7e00f"
SENSITIVE_MOUNT = "23d08636-3218-4052-b712-13f19c2bdf33"
WATCHED = {EXEC_ATTACH, HOST_NETWORK, PRIVILEGED, SENSITIVE_MOUNT}

EXPECTED = {
    "exec_pod.json": {EXEC_ATTACH},
    "attach_pod.json": {EXEC_ATTACH},
    "create_nginx_pod_privileged.json": {PRIVILEGED},
    "create_nginx_pod_privileged_2nd_container.json": {PRIVILEGED},
    "create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json": {PRIVILEGED},
    "create_nginx_pod_hostnetwork.json": {HOST_NETWORK},
    "create_nginx_pod_sensitive_mount.json": {SENSITIVE_MOUNT},
    "create_nginx_pod_sensitive_mount_2nd_container.json": {SENSITIVE_MOUNT},
    "create_nginx_pod_unprivileged.json": set(),
    "create_nginx_pod_nohostnetwork.json": set(),
    "create_nginx_pod_unsensitive_mount.json": set(),
}


@pytest.mark.django_db
def test_real_audit_samples_raise_the_alerts_their_names_say(shared_data, django_capture_on_commit_callbacks):
    call_command("load_library", verbosity=0)
    trace_dir = shared_data / "k8s-audit-falco" / "trace_files"
    seen = {}
    for index, name in enumerate(EXPECTED):
        source = Source.objects.create(name=f"falco-fixture-{index}", format=Source.Format.K8S_AUDIT)
        with django_capture_on_commit_callbacks(execute=True), (trace_dir / name).open("rb") as stream:
            report = ingest_stream(source=source, stream=stream, channel=IngestBatch.Channel.CLI, filename=name)
        assert report.accepted >= 1, name
        alerts = Alert.objects.filter(evidence__match__event__source=source).select_related("rule").distinct()
        seen[name] = {a.rule.rule_uid for a in alerts} & WATCHED
    wrong = {name: (seen[name], expected) for name, expected in EXPECTED.items() if seen[name] != expected}
    assert not wrong, wrong
