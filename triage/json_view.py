"""A raw telemetry record as pretty JSON lines, with the lines of the fields a rule matched marked.

The alert page shows each event's raw record with the matched fields highlighted. The record is
attacker-controlled, so no HTML is built here: each line is plain text pieces (indent, key,
value, punctuation) and a `hit` flag, and the template renders them with autoescaping, wrapping
hits in <mark>. Pure Python, no Django.

A line is a hit when its dotted key path is a matched field's name, or ends with it (a source's
prefix such as Falco's `output_fields.`), compared case-insensitively; or when a leaf's value is
one of the matched values (the rule's field may be a canonical column read from a differently
named raw key, e.g. Sigma's Image from Falco's proc.exepath).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# A raw record is shown whole up to here; past it the rest is counted (a page must stay readable).
MAX_LINES = 2_000
INDENT = "  "


@dataclass(frozen=True)
class JsonLine:
    indent: str
    key: str  # the JSON-encoded key with its quotes, or "" for list items and the top level
    text: str  # a JSON-encoded scalar, or an opening/closing bracket
    tail: str  # "," between items, or ""
    hit: bool = False


def _matched(matched_fields: dict[str, Any]) -> tuple[set[str], set[str]]:
    names = {str(name).lower() for name in matched_fields}
    values: set[str] = set()
    for value in matched_fields.values():
        for item in value if isinstance(value, list) else [value]:
            text = _scalar_text(item)
            if len(text) >= 2:  # a one-character value ("1", "-") would mark half the record
                values.add(text)
    return names, values


def _scalar_text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).lower()


def _path_hit(path: str, names: set[str]) -> bool:
    lowered = path.lower()
    return bool(lowered) and any(lowered == name or lowered.endswith("." + name) for name in names)


def json_lines(
    value: Any, matched_fields: dict[str, Any] | None = None, *, max_lines: int = MAX_LINES
) -> list[JsonLine]:
    """`value` as json.dumps(indent=2, sort_keys=True) would print it, one JsonLine per line, hits marked."""
    names, values = _matched(matched_fields or {})
    lines: list[JsonLine] = []
    total = 0

    def emit(line: JsonLine) -> None:
        nonlocal total
        total += 1
        if total <= max_lines:
            lines.append(line)

    def walk(node: Any, *, depth: int, key: str, path: str, tail: str, inherited: bool) -> None:
        indent = INDENT * depth
        hit = inherited or _path_hit(path, names)
        if isinstance(node, dict) and node:
            emit(JsonLine(indent, key, "{", "", hit))
            items = sorted(node.items(), key=lambda item: str(item[0]))
            for position, (name, child) in enumerate(items):
                walk(
                    child,
                    depth=depth + 1,
                    key=json.dumps(str(name), ensure_ascii=False),
                    path=f"{path}.{name}" if path else str(name),
                    tail="," if position < len(items) - 1 else "",
                    inherited=hit,
                )
            emit(JsonLine(indent, "", "}", tail, hit))
        elif isinstance(node, list) and node:
            emit(JsonLine(indent, key, "[", "", hit))
            for position, child in enumerate(node):
                # List items keep their list's path: Sigma matches a field against any of its items.
                walk(
                    child,
                    depth=depth + 1,
                    key="",
                    path=path,
                    tail="," if position < len(node) - 1 else "",
                    inherited=hit,
                )
            emit(JsonLine(indent, "", "]", tail, hit))
        else:
            text = json.dumps(node, ensure_ascii=False, default=str)
            leaf_hit = hit or _scalar_text(node) in values
            emit(JsonLine(indent, key, text, tail, leaf_hit))

    walk(value, depth=0, key="", path="", tail="", inherited=False)
    if total > max_lines:
        lines.append(JsonLine("", "", f"… {total - max_lines:,} more lines not shown", "", False))
    return lines
