"""Fixtures for the telemetry tests: sources per format and the real sample files, grouped by format."""

from pathlib import Path

import pytest

from telemetry.services import register_source


@pytest.fixture
def make_source(db):
    def make(name: str, format: str, **kwargs):  # noqa: A002
        return register_source(name=name, format=format, **kwargs)

    return make


def k8s_audit_files(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "k8s-audit-falco" / "trace_files").glob("*.json"))


def zeek_files(shared_data: Path) -> dict[str, list[Path]]:
    """Every Zeek sample in zeek-rita, by source format (conn.log flavours, dns.log)."""
    files = [p for p in sorted((shared_data / "zeek-rita").rglob("*")) if p.is_file() and ".log" in p.name]
    return {
        "zeek_dns": [p for p in files if p.name.startswith("dns")],
        "zeek_conn": [p for p in files if not p.name.startswith("dns")],
    }


def record_count(path: Path) -> int:
    """Events a sample gives: its non-blank, non-comment lines (one record per line), except for
    Kubernetes audit, where a pod spec with several containers gives one event per container."""
    import gzip

    if "k8s-audit" in str(path):
        from telemetry.parsers import ParsedRecord, get_parser

        with path.open("rb") as stream:
            return sum(isinstance(item, ParsedRecord) for item in get_parser("k8s_audit").parse_stream(stream))

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
