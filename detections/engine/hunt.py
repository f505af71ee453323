"""Hunting: run Sigma rule files over a stream of events, batch by batch.

`hunt()` reads rule files (directories recursively, *.yml / *.yaml), compiles them once and
matches events in batches, so an event file larger than memory streams through. Rules that
fail to compile are reported by `load_rules()` and skipped. The `manage.py hunt` command
is built on this.

Not for: storing matches or alerts (detections services, triage).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from detections.engine.ruleset import CompiledRuleSet, compile_rules

DEFAULT_BATCH_SIZE = 50_000
RULE_SUFFIXES = (".yml", ".yaml")


def rule_files(rule_paths: Iterable[Path | str]) -> list[Path]:
    """Rule files under the given paths: files as given, directories recursively, sorted."""
    files: list[Path] = []
    for path in map(Path, rule_paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES))
        else:
            files.append(path)
    return files


def load_rules(rule_paths: Iterable[Path | str], field_mapping: dict[str, str] | None = None) -> CompiledRuleSet:
    texts = [path.read_text(encoding="utf-8") for path in rule_files(rule_paths)]
    return compile_rules(texts, field_mapping=field_mapping)


def hunt(
    rule_paths: Iterable[Path | str],
    events: Iterable[dict[str, Any]],
    field_mapping: dict[str, str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    ruleset: CompiledRuleSet | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield {"rule_id", "rule_title", "event_index", "level"} per match, in event order.

    event_index counts from 0 over the whole stream. Pass `ruleset` to reuse compiled rules
    (rule_paths is then ignored).
    """
    if ruleset is None:
        ruleset = load_rules(rule_paths, field_mapping)
    by_id = {rule.rule_id: rule for rule in ruleset.rules}
    iterator = iter(events)
    offset = 0
    while True:
        batch = list(islice(iterator, batch_size))
        if not batch:
            return
        for rule_id, row in ruleset.match(batch):
            rule = by_id[rule_id]
            yield {"rule_id": rule_id, "rule_title": rule.title, "event_index": offset + row, "level": rule.level}
        offset += len(batch)
