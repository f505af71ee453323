"""Hunting files with Sigma rules from disk, without storing anything (the `hunt` command).

Two modes:
- Sigma-named events (no source): each event is a JSON object whose keys are Sigma
  field names; every rule applies, whatever its logsource. The engine's own
  `detections.engine.hunt.hunt()` does this.
- A source format (or a registered Source): the file is read by that format's parser
  (telemetry.parsers), rules are routed by logsource to the format, and Sigma field
  names are mapped to canonical columns (detections.pipelines); fields with no column
  are read from each event's raw record by dotted path.

`event_index` is the 0-based position of the event in the input: for Sigma-named
events the n-th JSON object; with a parser, the n-th event the parser produced
(rejected records are reported, not counted).

Not for: detection over stored events (detections.services.detection).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detections.pipelines import (
    canonical_column,
    field_mapping_for_format,
    raw_value,
    referenced_fields,
    rule_applies_to_format,
)
from detections.rule_yaml import RuleYamlError, load_rule_mapping

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class RuleFile:
    path: Path
    text: str
    product: str
    category: str
    service: str
    is_correlation: bool
    problem: RuleYamlError | None = None  # the loader refused the text: the file is skipped


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files given directly or found recursively under directories, in a stable order."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such rule file or directory: {path}")
    return found


def read_rule_file(path: Path) -> RuleFile:
    text = path.read_text(encoding="utf-8")
    problem = None
    try:
        data = load_rule_mapping(text)
    except RuleYamlError as exc:
        data, problem = {}, exc
    logsource = data.get("logsource") if isinstance(data.get("logsource"), dict) else {}
    return RuleFile(
        path=path,
        text=text,
        product=str(logsource.get("product") or "").lower(),
        category=str(logsource.get("category") or "").lower(),
        service=str(logsource.get("service") or "").lower(),
        is_correlation="correlation" in data,
        problem=problem,
    )


def _open_binary(path: Path):
    raw = path.open("rb")
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    return raw


def read_sigma_events(path: Path) -> list[dict[str, Any]]:
    """JSON objects from NDJSON or a JSON array (gzip sniffed)."""
    with _open_binary(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8").read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(stripped)
        return [item for item in data if isinstance(item, dict)]
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {number}: not JSON: {exc.msg}")
        if isinstance(item, dict):
            events.append(item)
    return events


def _sigma_fields(text: str) -> list[str]:
    from sigma.rule import SigmaRule

    try:
        rule = SigmaRule.from_dict(load_rule_mapping(text))
    except Exception:  # the engine reports the rule's error; no fields to read then
        return []
    fields: set[str] = set()
    for detection in rule.detection.detections.values():
        fields |= referenced_fields(detection.detection_items)
    return sorted(fields)


def compile_rule_files(rule_paths: list[Path], source_format: str | None = None):
    """(ruleset, raw_fields): the rules to hunt with (routed to `source_format` when given).

    `ruleset.errors` lists the rules that could not be compiled (they are skipped).
    """
    from detections.engine import RuleError, compile_rules

    files = [read_rule_file(p) for p in rule_paths]
    # A refused file is named by its path: its id may be anywhere in a text we did not read.
    refused = [RuleError(str(f.path), "", f.problem.problem, f.problem.line) for f in files if f.problem]
    rules = [f for f in files if not f.problem and not f.is_correlation]
    if source_format is None:
        ruleset = compile_rules([r.text for r in rules])
        ruleset.errors[:0] = refused
        return ruleset, []
    rules = [
        r
        for r in rules
        if rule_applies_to_format(
            product=r.product, category=r.category, service=r.service, source_format=source_format
        )
    ]
    mapping = field_mapping_for_format(source_format)
    raw_fields = sorted({f for r in rules for f in _sigma_fields(r.text) if canonical_column(f, mapping) is None})
    ruleset = compile_rules([r.text for r in rules], field_mapping=mapping)
    ruleset.errors[:0] = refused
    return ruleset, raw_fields


def hunt_events(ruleset, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """{"rule_id", "rule_title", "event_index", "level"} per match, in event order (the engine's hunt())."""
    from detections.engine.hunt import hunt

    yield from hunt([], events, ruleset=ruleset)


def canonical_rows(events: list[dict[str, Any]], raw_fields: list[str], source_format: str) -> list[dict[str, Any]]:
    """Parsed canonical events as the engine's rows: empty values are missing, raw paths added."""
    rows = []
    for event in events:
        row = {k: (None if v == "" else v) for k, v in event.items() if k != "raw"}
        for path in raw_fields:
            row[path] = raw_value(event.get("raw"), path, source_format=source_format)
        rows.append(row)
    return rows


def parsed_events(path: Path, source_format: str, field_map: dict | None = None):
    """(events, rejections) from a file read by a source format's parser."""
    from telemetry.parsers import RecordError, get_parser

    parser = get_parser(source_format, field_map=field_map or {})
    events, rejections = [], []
    with _open_binary(path) as stream:
        for item in parser.parse_stream(stream):
            if isinstance(item, RecordError):
                rejections.append(item)
            else:
                events.append(item.event)
    return events, rejections
