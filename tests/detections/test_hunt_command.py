"""manage.py hunt: NDJSON matches with 0-based event positions, in Sigma-named and source-format modes."""

import gzip
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from .pipeline_factories import EXEC_INTO_POD, FIXTURES, K8S_RULES, NETCAT_REVERSE_SHELL, SIGMA_RULES

EXEC_ID = "a1b0ca4e-7835-413e-8471-3ff2b8a66be6"
NETCAT_ID = "7f734ed0-4f47-46c0-837f-6ee62505abd9"
DEPLOYMENT_DELETED_ID = "40967487-139b-4811-81d9-c9767a92aa5a"


def hunt(*args) -> list[dict]:
    out = StringIO()
    call_command("hunt", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_sigma_named_events_every_rule_applies_whatever_its_logsource():
    results = hunt(
        "--rules", str(NETCAT_REVERSE_SHELL), str(K8S_RULES), "--events", str(FIXTURES / "sigma_events.ndjson")
    )
    assert results == [
        {
            "rule_id": NETCAT_ID,
            "rule_title": "Potential Netcat Reverse Shell Execution",
            "event_index": 1,
            "level": "high",
        },
        {
            "rule_id": EXEC_ID,
            "rule_title": "Potential Remote Command Execution In Pod Container",
            "event_index": 3,
            "level": "medium",
        },
    ]


def test_json_array_and_gzip_events_are_read_too(tmp_path):
    events = [json.loads(line) for line in (FIXTURES / "sigma_events.ndjson").read_text().splitlines()]
    path = tmp_path / "events.json.gz"
    path.write_bytes(gzip.compress(json.dumps(events).encode()))
    results = hunt("--rules", str(EXEC_INTO_POD), "--events", str(path))
    assert [(r["rule_id"], r["event_index"]) for r in results] == [(EXEC_ID, 3)]


def test_with_a_source_format_the_parser_and_field_mapping_apply_and_rules_are_routed():
    # The whole SigmaHQ subset: only kubernetes audit rules may run on audit events.
    results = hunt("--rules", str(SIGMA_RULES), "--events", str(FIXTURES / "k8s_audit.ndjson"), "--source", "k8s_audit")
    assert [(r["rule_id"], r["event_index"], r["level"]) for r in results] == [
        (EXEC_ID, 1, "medium"),
        (DEPLOYMENT_DELETED_ID, 2, "low"),
    ]


@pytest.mark.django_db
def test_a_registered_source_name_selects_its_format():
    from telemetry.services import register_source

    register_source(name="prod-cluster", format="k8s_audit")
    results = hunt(
        "--rules", str(K8S_RULES), "--events", str(FIXTURES / "k8s_audit.ndjson"), "--source", "prod-cluster"
    )
    assert [r["event_index"] for r in results] == [1, 2]


@pytest.mark.django_db
def test_unknown_source_is_an_error():
    with pytest.raises(CommandError, match="neither a format"):
        hunt("--rules", str(K8S_RULES), "--events", str(FIXTURES / "k8s_audit.ndjson"), "--source", "nope")


def test_broken_rules_are_reported_on_stderr_and_skipped(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "title: Broken\nid: 0badbad0-0000-4000-8000-000000000002\nlogsource: {product: linux}\n"
        "detection:\n  sel:\n    Image|nosuchmodifier: x\n  condition: sel\n"
    )
    out, err = StringIO(), StringIO()
    call_command(
        "hunt",
        "--rules",
        str(broken),
        str(EXEC_INTO_POD),
        "--events",
        str(FIXTURES / "sigma_events.ndjson"),
        stdout=out,
        stderr=err,
    )
    assert [json.loads(line)["event_index"] for line in out.getvalue().splitlines()] == [3]
    assert "0badbad0-0000-4000-8000-000000000002" in err.getvalue()
    assert "nosuchmodifier" in err.getvalue()
