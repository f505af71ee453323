"""Write a strategy back as ADS markdown in the canonical layout, and build its export dict.

The canonical layout is the one `parse_ads` reads back to the same structure (round trip):
front matter (slug, status) when known, `# title`, the ten ADS sections in Palantir's order
with `##` headings, one `###` sub-section per validation scenario, then the extra sections.
Input is a `ParsedStrategy` or a dict of the same shape (`ParsedStrategy.to_dict()`), so the
service can render what is stored without going through the parser. No Django here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from .parser import SECTION_HEADINGS

_METADATA_KEYS = ("slug", "status")


def _as_dict(parsed_or_dict: Any) -> dict:
    if is_dataclass(parsed_or_dict):
        return asdict(parsed_or_dict)
    if isinstance(parsed_or_dict, Mapping):
        return dict(parsed_or_dict)
    raise TypeError(f"cannot render {type(parsed_or_dict).__name__} as ADS markdown")


def _list_item(marker: str, text: str) -> str:
    """One list item; continuation lines are indented to the item's content column."""
    pad = " " * (len(marker) + 1)
    first, *rest = text.strip().split("\n")
    lines = [f"{marker} {first}"]
    lines.extend(pad + line if line.strip() else "" for line in rest)
    return "\n".join(lines)


def _bullets(items: list[str]) -> str:
    return "\n".join(_list_item("-", item) for item in items if item.strip())


def _numbered(items: list[str]) -> str:
    return "\n".join(_list_item(f"{n}.", item) for n, item in enumerate((i for i in items if i.strip()), 1))


def _join(*blocks: str) -> str:
    return "\n\n".join(block.strip("\n") for block in blocks if block and block.strip())


def render_markdown(parsed_or_dict: Any) -> str:
    doc = _as_dict(parsed_or_dict)
    out: list[str] = []

    metadata = {k: v for k, v in (doc.get("metadata") or {}).items() if v}
    if metadata:
        ordered = [k for k in _METADATA_KEYS if k in metadata] + sorted(k for k in metadata if k not in _METADATA_KEYS)
        out.append("\n".join(["---", *(f"{k}: {metadata[k]}" for k in ordered), "---"]))
    if doc.get("title"):
        out.append(f"# {doc['title']}")

    def section(key: str, body: str) -> None:
        out.append(_join(f"## {SECTION_HEADINGS[key]}", body))

    section("goal", doc.get("goal", ""))

    categorization = []
    techniques = doc.get("techniques") or []
    if techniques:
        lines = ["- **MITRE ATT&CK Mapping:**"]
        for technique in techniques:
            name = (technique.get("name") or "").strip()
            lines.append(f"  - {technique['attack_id']}" + (f" - {name}" if name else ""))
        categorization.append("\n".join(lines))
    if doc.get("tactics"):
        categorization.append("- **Tactic / Kill Chain Phases:** " + ", ".join(doc["tactics"]))
    if doc.get("platforms"):
        categorization.append("- **Platforms:** " + ", ".join(doc["platforms"]))
    section("categorization", "\n".join(categorization))

    section("strategy_abstract", doc.get("strategy_abstract", ""))
    section("technical_context", doc.get("technical_context", ""))
    section("blind_spots", _join(doc.get("blind_spots_intro", ""), _bullets(doc.get("blind_spots") or [])))
    section("false_positives", _join(doc.get("false_positives_intro", ""), _bullets(doc.get("false_positives") or [])))

    scenarios = []
    for scenario in doc.get("validation_scenarios") or []:
        scenarios.append(
            _join(f"### {scenario['name']}", scenario.get("description", ""), _numbered(scenario.get("steps") or []))
        )
    section("validation", _join(doc.get("validation_intro", ""), *scenarios))

    priority = (doc.get("priority") or "").strip()
    section(
        "priority",
        _join(f"**Priority: {priority.capitalize()}**" if priority else "", doc.get("priority_justification", "")),
    )
    section("response", _join(doc.get("response_intro", ""), _numbered(doc.get("response_steps") or [])))

    resources = []
    for resource in doc.get("resources") or []:
        title, url = resource.get("title", "").strip(), (resource.get("url") or "").strip()
        resources.append(f"[{title or url}]({url})" if url else title)
    section("resources", _join(doc.get("resources_intro", ""), _bullets(resources)))

    for extra in doc.get("extra_sections") or []:
        out.append(_join(f"## {extra['heading']}", extra.get("body", "")))
    return "\n\n".join(out) + "\n"


def build_export_dict(parsed_or_dict: Any, **fields: Any) -> dict:
    """The JSON export of one strategy: the document's structure under stable, flat names.

    `fields` adds or overrides keys the document cannot know (slug, status, owner, and the
    `attack` list resolved against the ATT&CK catalogue).
    """
    doc = _as_dict(parsed_or_dict)
    data = {
        "title": doc.get("title", ""),
        "slug": (doc.get("metadata") or {}).get("slug", ""),
        "status": (doc.get("metadata") or {}).get("status", ""),
        "goal": doc.get("goal", ""),
        "attack": [
            {
                "id": t["attack_id"],
                "name": t.get("name", ""),
                "tactics": list(doc.get("tactics") or []),
                "platforms": list(doc.get("platforms") or []),
                "in_catalogue": False,
            }
            for t in doc.get("techniques") or []
        ],
        "tactics": list(doc.get("tactics") or []),
        "platforms": list(doc.get("platforms") or []),
        "data_sources": list(doc.get("data_sources") or []),
        "priority": doc.get("priority", ""),
        "priority_justification": doc.get("priority_justification", ""),
        "strategy_abstract": doc.get("strategy_abstract", ""),
        "technical_context": doc.get("technical_context", ""),
        "blind_spots_intro": doc.get("blind_spots_intro", ""),
        "blind_spots": list(doc.get("blind_spots") or []),
        "false_positives_intro": doc.get("false_positives_intro", ""),
        "false_positives": list(doc.get("false_positives") or []),
        "validation_intro": doc.get("validation_intro", ""),
        "validation": [
            {"name": s["name"], "description": s.get("description", ""), "steps": list(s.get("steps") or [])}
            for s in doc.get("validation_scenarios") or []
        ],
        "response_intro": doc.get("response_intro", ""),
        "response": list(doc.get("response_steps") or []),
        "resources_intro": doc.get("resources_intro", ""),
        "resources": [{"title": r["title"], "url": r.get("url", "")} for r in doc.get("resources") or []],
        "extra_sections": [
            {"heading": e["heading"], "body": e.get("body", "")} for e in doc.get("extra_sections") or []
        ],
        "owner": None,
    }
    data.update(fields)
    return data
