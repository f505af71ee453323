"""manage.py ingest and register_source: the same service as the API, from files and stdin."""

import gzip
import io
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from telemetry.models import Event, IngestBatch, Source

from .conftest import k8s_audit_files, record_count, zeek_files

pytestmark = pytest.mark.django_db


def ingest(*args) -> str:
    out = io.StringIO()
    call_command("ingest", *args, "--no-progress", stdout=out)
    return out.getvalue()


def test_every_k8s_audit_sample_is_ingested_with_a_report_per_file(make_source, shared_data):
    make_source("cluster-audit", "k8s_audit")
    files = k8s_audit_files(shared_data)
    output = ingest("--source", "cluster-audit", *map(str, files))

    assert output.count(": batch ") == len(files)
    assert "fal_01_003.json: batch" in output
    assert "  line 1: not an audit.k8s.io Event" in output
    expected = sum(record_count(p) for p in files if p.name != "fal_01_003.json")
    assert Event.objects.count() + sum(IngestBatch.objects.values_list("duplicates", flat=True)) == expected
    assert IngestBatch.objects.filter(channel=IngestBatch.Channel.CLI).count() == len(files)

    exec_event = Event.objects.get(k8s_subresource="exec")
    assert (exec_event.k8s_verb, exec_event.pod, exec_event.k8s_user) == (
        "create",
        "nginx-deployment-7998647bdf-phvq7",
        "minikube-user",
    )
    assert Event.objects.get(pod="nginx-deployment-5cdcc99dbf-rgw6z").privileged is True
    assert Event.objects.get(pod="nginx-deployment-754c877bcd-zh5qx").host_network is True


def test_every_zeek_sample_is_ingested_plain_and_gz(make_source, shared_data):
    conn = make_source("sensor-conn", "zeek_conn")
    dns = make_source("sensor-dns", "zeek_dns")
    files = zeek_files(shared_data)
    ingest("--source", "sensor-conn", *map(str, files["zeek_conn"]))
    ingest("--source", "sensor-dns", *map(str, files["zeek_dns"]))

    for source, paths in ((conn, files["zeek_conn"]), (dns, files["zeek_dns"])):
        batches = IngestBatch.objects.filter(source=source)
        assert sum(b.accepted + b.duplicates for b in batches) == sum(record_count(p) for p in paths)
        assert not any(b.rejected for b in batches)
    assert Event.objects.filter(source=conn, protocol="icmp", icmp_type=8).exists()
    tsv_row = Event.objects.get(source=conn, raw__uid="CWdTxP30ZmdMFW07T8")
    assert (tsv_row.host, tsv_row.dst_ip, tsv_row.dst_port, tsv_row.protocol) == (
        "worker-eth0-1",
        "239.255.255.250",
        1900,
        "udp",
    )


def test_reingesting_a_file_reports_every_record_as_duplicate(make_source, shared_data):
    make_source("sensor-conn", "zeek_conn")
    path = str(shared_data / "zeek-rita" / "proxy" / "conn.log")
    ingest("--source", "sensor-conn", path)
    stored = Event.objects.count()
    output = ingest("--source", "sensor-conn", path)
    assert (
        f": 0 accepted, {record_count(shared_data / 'zeek-rita' / 'proxy' / 'conn.log')} duplicates, 0 rejected"
        in output
    )
    assert Event.objects.count() == stored


def test_stdin_is_read_for_dash(make_source, shared_data, monkeypatch):
    make_source("cluster-audit", "k8s_audit")
    body = gzip.compress((shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    output = ingest("--source", "cluster-audit", "-")
    assert "-: batch" in output and "1 accepted" in output
    assert IngestBatch.objects.get().filename == "<stdin>"


def test_unknown_source_exits_with_a_clear_message(shared_data):
    with pytest.raises(CommandError, match="No source named 'nope'") as error:
        ingest("--source", "nope", str(shared_data / "zeek-rita" / "proxy" / "conn.log"))
    assert error.value.returncode == 1


def test_unreadable_files_fail_the_command_but_not_the_other_files(make_source, shared_data, tmp_path):
    make_source("sensor-conn", "zeek_conn")
    truncated = tmp_path / "broken.log.gz"
    truncated.write_bytes(gzip.compress((shared_data / "zeek-rita" / "proxy" / "conn.log").read_bytes())[:-100])
    good = str(shared_data / "zeek-rita" / "open_conns" / "open" / "conn.log")
    with pytest.raises(CommandError, match="1 of 3 file"):
        ingest("--source", "sensor-conn", str(tmp_path / "missing.log"), str(truncated), good)
    # The good file is stored; so are the records of the truncated one before the break.
    assert sorted(IngestBatch.objects.values_list("filename", flat=True)) == ["broken.log.gz", "conn.log"]
    broken = IngestBatch.objects.get(filename="broken.log.gz")
    assert broken.accepted > 0 and "truncated or corrupt" in broken.rejections[-1]["reason"]


def test_progress_bar_goes_to_stderr_for_large_files(make_source, shared_data, capsys, monkeypatch):
    from telemetry.management.commands import ingest as ingest_command

    monkeypatch.setattr(ingest_command, "PROGRESS_MIN_BYTES", 1)
    make_source("sensor-conn", "zeek_conn")
    call_command("ingest", "--source", "sensor-conn", str(shared_data / "zeek-rita" / "proxy" / "conn.log"))
    captured = capsys.readouterr()
    assert "conn.log" in captured.err and "100%" in captured.err
    assert "100%" not in captured.out


def test_register_source_prints_the_ingest_token(db):
    out = io.StringIO()
    call_command("register_source", "edge-zeek", "--format", "zeek_conn", "--cadence", "300", stdout=out)
    source = Source.objects.get(name="edge-zeek")
    assert source.expected_cadence_seconds == 300
    assert f"Ingest token: {source.ingest_token}" in out.getvalue()


def test_register_source_refuses_a_bad_field_map(db):
    with pytest.raises(CommandError, match="field-map is not valid JSON"):
        call_command("register_source", "x", "--format", "generic_json", "--field-map", "{nope")
    assert not Source.objects.exists()
