"""The shipped library: strategies, rules, analytics, suppressions and indicator lists.

`load_library()` reads detections/library/ and upserts everything by its stable key
(strategy slug, Sigma id, analytic uid, suppression slug, indicator list name), so running
it again updates and never duplicates. It lives here, at the end of the data flow, because
it loads content for every room (detections and triage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction
from django.utils.dateparse import parse_datetime

from detections.models import DetectionRule, Strategy
from detections.rule_yaml import RuleYamlError, load_rule_mapping
from triage.models import Suppression

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "detections" / "library"


@dataclass
class LibrarySummary:
    strategies: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    analytics: list[str] = field(default_factory=list)
    suppressions: list[str] = field(default_factory=list)
    indicator_lists: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class LibraryError(ValueError):
    pass


def _strategies_by_slug(slugs, where: str) -> list[Strategy]:
    slugs = list(slugs or [])
    found = {s.slug: s for s in Strategy.objects.filter(slug__in=slugs)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise LibraryError(f"{where}: unknown strategy slug(s) {', '.join(missing)}")
    return [found[s] for s in slugs]


@transaction.atomic
def load_library(base: Path = LIBRARY_DIR) -> LibrarySummary:
    from detections.services.indicators import import_indicators_csv
    from detections.services.rules import save_analytic_rule, save_sigma_rule
    from detections.services.strategies import import_strategy

    summary = LibrarySummary()
    for path in sorted((base / "strategies").glob("*.md")):
        result = import_strategy(
            text=path.read_text(encoding="utf-8"),
            path=str(path.relative_to(base.parent.parent)),
            slug=path.stem,
            trust_document_status=True,
        )
        summary.strategies.append(result.strategy.slug)
        summary.warnings += [f"{path.name}:{w.line}: {w.message}" for w in result.warnings]
    for path in sorted((base / "indicators").glob("*.csv")):
        import_indicators_csv(name=path.stem, text=path.read_text(encoding="utf-8"), source=f"library/{path.name}")
        summary.indicator_lists.append(path.stem)
    rule_paths = sorted((base / "rules").rglob("*.yml"))
    # Base rules first: a correlation refers to rules that must already exist.
    texts = [(p, p.read_text(encoding="utf-8")) for p in rule_paths]
    texts.sort(key=lambda item: "correlation:" in item[1])
    for path, text in texts:
        try:
            spec = load_rule_mapping(text)  # the bounded loader: library files are rule texts too
        except RuleYamlError as exc:
            raise LibraryError(f"{path}: {exc}") from None
        strategies = _strategies_by_slug(spec.get("strategies"), str(path))
        rule = save_sigma_rule(yaml_text=text, strategies=strategies, source_path=str(path.relative_to(base)))
        summary.rules.append(rule.rule_uid)
    for path in sorted((base / "analytics").glob("*.yml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rule = save_analytic_rule(
            uid=spec["uid"],
            title=spec["title"],
            analytic_type=spec["analytic_type"],
            parameters=spec.get("parameters") or {},
            level=spec.get("level", "medium"),
            strategies=_strategies_by_slug(spec.get("strategies"), str(path)),
            description=spec.get("description", ""),
            attack_ids=[str(a).upper() for a in spec.get("attack") or []],
        )
        summary.analytics.append(rule.rule_uid)
    suppressions_file = base / "suppressions.yml"
    if suppressions_file.is_file():
        for spec in yaml.safe_load(suppressions_file.read_text(encoding="utf-8")) or []:
            summary.suppressions.append(_upsert_suppression(spec))
    return summary


def _upsert_suppression(spec: dict) -> str:
    rule = None
    if spec.get("rule"):
        rule = DetectionRule.objects.filter(rule_uid=spec["rule"]).first()
        if rule is None:
            raise LibraryError(f"suppression {spec.get('slug')}: unknown rule {spec['rule']}")
    strategy = (
        _strategies_by_slug([spec["strategy"]], f"suppression {spec.get('slug')}")[0] if spec.get("strategy") else None
    )
    expires = spec.get("expires_at")
    Suppression.objects.update_or_create(
        slug=spec["slug"],
        defaults={
            "name": spec["name"],
            "rule": rule,
            "strategy": strategy,
            "conditions": spec.get("conditions") or {},
            "reason": spec["reason"],
            "owner_name": spec.get("owner_name", ""),
            "expires_at": parse_datetime(str(expires)) if expires else None,
            "enabled": spec.get("enabled", True),
        },
    )
    return spec["slug"]
