"""Store the ATT&CK catalogue: idempotent upsert of tactics and techniques, then re-link strategy mappings.

Bulk statements only (a dozen queries for ~850 techniques), so `make demo` and test fixtures can run it
freely. Techniques missing from a newer catalogue are never deleted: strategies may still point at them.
Reading and shaping the STIX data is `detections.attack_catalogue`'s job; this module only writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from simple_history.utils import bulk_update_with_history

from detections.attack_catalogue import AttackCatalogue, CatalogueError, read_catalogue
from detections.models import StrategyTechnique, Tactic, Technique
from detections.services.suggest import forget_technique_vectors

_TACTIC_FIELDS = ["shortname", "name", "order", "description"]
_TECHNIQUE_FIELDS = [
    "stix_id",
    "name",
    "description",
    "platforms",
    "is_subtechnique",
    "is_revoked",
    "is_deprecated",
    "url",
]


@dataclass(frozen=True)
class AttackLoadSummary:
    version: str
    source: str
    tactics: int
    techniques: int
    subtechniques: int
    revoked: int
    deprecated: int
    created: int
    updated: int
    relinked_mappings: int
    seconds: float


@transaction.atomic
def load_attack_catalogue(*, path: str | Path | None = None) -> AttackLoadSummary:
    """Upsert the catalogue from `path` (STIX bundle) or the packaged ATT&CK release; safe to run again."""
    started = time.perf_counter()
    catalogue = read_catalogue(path)
    if not catalogue.techniques:
        # A bundle without techniques is the wrong file (another domain, a partial export), not an empty ATT&CK.
        raise CatalogueError(f"{path or 'the packaged catalogue'} contains no ATT&CK techniques; nothing was loaded")
    tactic_ids = _upsert_tactics(catalogue)
    created, updated = _upsert_techniques(catalogue)
    technique_ids = dict(Technique.objects.values_list("attack_id", "id"))
    _link_parents_and_replacements(catalogue, technique_ids)
    _set_technique_tactics(catalogue, technique_ids, tactic_ids)
    relinked = _relink_strategy_mappings(technique_ids)

    forget_technique_vectors()  # suggestions are built from the techniques just written
    counts = catalogue.counts()
    return AttackLoadSummary(
        version=catalogue.version,
        source=catalogue.source,
        created=created,
        updated=updated,
        relinked_mappings=relinked,
        seconds=round(time.perf_counter() - started, 3),
        **counts,
    )


def _plan_upsert(model, rows: list[tuple[str, dict]]) -> tuple[list, list]:
    """(new objects, changed objects) for (attack_id, field values) rows; unchanged rows are left alone."""
    existing = {obj.attack_id: obj for obj in model.objects.all()}
    to_create, to_update = [], []
    for attack_id, values in rows:
        obj = existing.get(attack_id)
        if obj is None:
            to_create.append(model(attack_id=attack_id, **values))
        elif any(getattr(obj, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(obj, k, v)
            to_update.append(obj)
    return to_create, to_update


def _upsert_tactics(catalogue: AttackCatalogue) -> dict[str, int]:
    """Returns tactic id by shortname. Tactics are matched on their ATT&CK id."""
    to_create, to_update = _plan_upsert(
        Tactic,
        [
            (r.attack_id, {"shortname": r.shortname, "name": r.name, "order": r.order, "description": r.description})
            for r in catalogue.tactics
        ],
    )
    Tactic.objects.bulk_update(to_update, _TACTIC_FIELDS)
    Tactic.objects.bulk_create(to_create)
    return dict(Tactic.objects.values_list("shortname", "id"))


def _upsert_techniques(catalogue: AttackCatalogue) -> tuple[int, int]:
    to_create, to_update = _plan_upsert(
        Technique,
        [
            (
                r.attack_id,
                {
                    "stix_id": r.stix_id,
                    "name": r.name,
                    "description": r.description,
                    "platforms": list(r.platforms),
                    "is_subtechnique": r.is_subtechnique,
                    "is_revoked": r.is_revoked,
                    "is_deprecated": r.is_deprecated,
                    "url": r.url,
                },
            )
            for r in catalogue.techniques
        ],
    )
    Technique.objects.bulk_create(to_create, batch_size=500)
    Technique.objects.bulk_update(to_update, _TECHNIQUE_FIELDS, batch_size=200)
    return len(to_create), len(to_update)


def _link_parents_and_replacements(catalogue: AttackCatalogue, technique_ids: dict[str, int]) -> None:
    """Second pass: parent and revoked_by point at rows that may only exist since the first pass."""
    wanted = {
        r.attack_id: (technique_ids.get(r.parent_id), technique_ids.get(r.revoked_by_id)) for r in catalogue.techniques
    }
    changed = []
    for technique in Technique.objects.filter(attack_id__in=wanted).only("id", "attack_id", "parent", "revoked_by"):
        parent_id, revoked_by_id = wanted[technique.attack_id]
        if (technique.parent_id, technique.revoked_by_id) != (parent_id, revoked_by_id):
            technique.parent_id, technique.revoked_by_id = parent_id, revoked_by_id
            changed.append(technique)
    Technique.objects.bulk_update(changed, ["parent", "revoked_by"], batch_size=200)


def _set_technique_tactics(
    catalogue: AttackCatalogue, technique_ids: dict[str, int], tactic_ids: dict[str, int]
) -> None:
    through = Technique.tactics.through
    wanted = {
        (technique_ids[r.attack_id], tactic_ids[shortname])
        for r in catalogue.techniques
        for shortname in r.tactics
        if shortname in tactic_ids
    }
    loaded = {technique_ids[r.attack_id] for r in catalogue.techniques}
    present = {
        (technique_id, tactic_id): pk
        for pk, technique_id, tactic_id in through.objects.filter(technique_id__in=loaded).values_list(
            "id", "technique_id", "tactic_id"
        )
    }
    stale = [pk for pair, pk in present.items() if pair not in wanted]
    if stale:
        through.objects.filter(id__in=stale).delete()
    through.objects.bulk_create(
        [through(technique_id=t, tactic_id=a) for t, a in sorted(wanted - present.keys())], batch_size=500
    )


def _relink_strategy_mappings(technique_ids: dict[str, int]) -> int:
    """Mappings imported before the catalogue (technique null) now point at their technique."""
    mappings = list(StrategyTechnique.objects.filter(technique__isnull=True))
    relinked = []
    for mapping in mappings:
        technique_id = technique_ids.get(mapping.attack_id.strip().upper())
        if technique_id:
            mapping.technique_id = technique_id
            relinked.append(mapping)
    if relinked:
        bulk_update_with_history(
            relinked, StrategyTechnique, ["technique"], default_change_reason="ATT&CK catalogue loaded"
        )
    return len(relinked)
