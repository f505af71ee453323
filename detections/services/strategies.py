"""Import, export and revert strategies written as ADS markdown.

`import_strategy` is the one way a document becomes a `Strategy` with its child rows: the
management command, the library loader, pages and the API all call it. The slug is the
strategy's identity: importing a document whose slug exists updates that strategy and
replaces its child rows in one transaction (history keeps the old ones); a parse error stores
nothing. Not here: lifecycle transitions, quality checks, the ATT&CK catalogue loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

from django.db import transaction
from django.utils.text import slugify

from detections.ads import AdsParseError, ParsedStrategy, ParseWarning, build_export_dict, parse_ads, render_markdown
from detections.models import (
    BlindSpot,
    ExtraSection,
    FalsePositive,
    Resource,
    ResponseStep,
    Strategy,
    StrategyTechnique,
    Technique,
    ValidationScenario,
    ValidationStep,
)

_SLUG_MAX = Strategy._meta.get_field("slug").max_length
# "Isolate the container", "Immediate Isolation: ... isolate containers": the triage playbook
# offers a one-click container isolation for these steps.
_ISOLATE_RE = re.compile(r"\bisolat\w*\b[^.\n]*\bcontainers?\b", re.IGNORECASE)


class StrategyConflict(AdsParseError):
    """The document would silently replace a different strategy that happens to share its slug."""


@dataclass
class ImportResult:
    strategy: Strategy
    created: bool
    parsed: ParsedStrategy
    warnings: list[ParseWarning] = field(default_factory=list)

    @property
    def updated(self) -> bool:
        return not self.created


def slug_from_path(path: str) -> str:
    """`library/strategies/container-security-bypass.md` -> `container-security-bypass`."""
    return slugify(PurePath(path).stem.replace("_", "-"))[:_SLUG_MAX].strip("-")


def title_from_path(path: str) -> str:
    """`006-Cilium-Blocked-DNS-Resolution.md` -> `Cilium Blocked DNS Resolution` (for documents without a title)."""
    words = re.split(r"[-_\s]+", PurePath(path).stem)
    while words and words[0].isdigit():
        words.pop(0)
    title = " ".join(words).strip()
    return title[:1].upper() + title[1:]


def _resolve_slug(*, parsed: ParsedStrategy, path: str, slug: str | None) -> tuple[str, bool]:
    """The slug and whether it was asked for explicitly (argument or front matter)."""
    for explicit, candidate in (
        (True, slug),
        (True, parsed.metadata.get("slug")),
        (False, slug_from_path(path) if path else ""),
        (False, parsed.title),
    ):
        value = slugify(candidate or "")[:_SLUG_MAX].strip("-")
        if value:
            return value, explicit
    return "strategy", False


def _cut(value: str, model, field_name: str) -> str:
    return (value or "")[: model._meta.get_field(field_name).max_length]


def import_strategy(
    *,
    text: str,
    path: str = "",
    user=None,
    slug: str | None = None,
    status: str | None = None,
    trust_document_status: bool = False,
) -> ImportResult:
    """Parse `text` and create or update the strategy it describes, all or nothing.

    Slug: the `slug` argument, else the document's front matter, else the file name in `path`,
    else the title. A slug that was only derived (file name, title) updates an existing strategy
    only when that strategy came from the same file: anything else raises `StrategyConflict`,
    because two documents with the same file name or title are not the same strategy.
    Status: the `status` argument; else, on creation, draft (the lifecycle starts there), or
    the front matter's when `trust_document_status` (the shipped library); an existing strategy
    keeps its lifecycle status. An unchanged document from the same file writes nothing.
    Raises `AdsParseError`.
    """
    parsed = parse_ads(text)
    resolved_slug, explicit = _resolve_slug(parsed=parsed, path=path, slug=slug)
    title = parsed.title or (title_from_path(path) if path else "") or resolved_slug.replace("-", " ").capitalize()
    valid_statuses = set(Strategy.Status.values)
    if status is not None and status not in valid_statuses:
        raise ValueError(f"unknown status {status!r}")

    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().filter(slug=resolved_slug).first()
        created = strategy is None
        if not created and not explicit and (not path or strategy.source_path != _cut(path, Strategy, "source_path")):
            origin = strategy.source_path or "the API or the admin"
            raise StrategyConflict(
                f"a different strategy, {strategy.title!r}, already has the slug {resolved_slug!r} "
                f"(imported from {origin}); give this document its own slug (front matter `slug:` "
                "or the slug parameter) or re-import it from the same file to update it"
            )
        if (
            not created
            and strategy.source_markdown == text
            and strategy.source_path == _cut(path, Strategy, "source_path")
            and (not status or status == strategy.status)
        ):
            # Re-importing an unchanged document: no new history version, no child-row churn.
            return ImportResult(strategy=strategy, created=False, parsed=parsed, warnings=list(parsed.warnings))
        if created:
            strategy = Strategy(slug=resolved_slug, owner=user if getattr(user, "pk", None) else None)
            document_status = parsed.metadata.get("status", "")
            if trust_document_status and document_status in valid_statuses:
                strategy.status = document_status
        if status:
            strategy.status = status
        strategy.title = _cut(title, Strategy, "title")
        strategy.goal = parsed.goal
        strategy.strategy_abstract = parsed.strategy_abstract
        strategy.technical_context = parsed.technical_context
        strategy.blind_spots_intro = parsed.blind_spots_intro
        strategy.false_positives_intro = parsed.false_positives_intro
        strategy.validation_intro = parsed.validation_intro
        strategy.response_intro = parsed.response_intro
        strategy.resources_intro = parsed.resources_intro
        strategy.tactics = parsed.tactics
        strategy.platforms = parsed.platforms
        strategy.priority = parsed.priority
        strategy.priority_justification = parsed.priority_justification
        strategy.data_sources = parsed.data_sources
        strategy.source_markdown = text
        strategy.source_path = _cut(path, Strategy, "source_path")
        strategy._history_user = user if getattr(user, "pk", None) else None
        strategy.save()
        _replace_children(strategy, parsed, user)
    return ImportResult(strategy=strategy, created=created, parsed=parsed, warnings=list(parsed.warnings))


def _replace_children(strategy: Strategy, parsed: ParsedStrategy, user) -> None:
    history_user = user if getattr(user, "pk", None) else None

    def save(obj):
        obj._history_user = history_user
        obj.save()
        return obj

    # Deleting row by row (not a raw queryset delete) records each removal in history.
    for related in (
        strategy.technique_mappings,
        strategy.blind_spots,
        strategy.false_positives,
        strategy.response_steps,
        strategy.resources,
        strategy.extra_sections,
    ):
        for row in related.all():
            row._history_user = history_user
            row.delete()
    for scenario in strategy.validation_scenarios.prefetch_related("steps"):
        for step in scenario.steps.all():
            step._history_user = history_user
            step.delete()
        scenario._history_user = history_user
        scenario.delete()

    catalogue = Technique.objects.in_bulk([t.attack_id for t in parsed.techniques], field_name="attack_id")
    for order, ref in enumerate(parsed.techniques):
        save(
            StrategyTechnique(
                strategy=strategy,
                order=order,
                attack_id=ref.attack_id,
                name_as_written=_cut(ref.name, StrategyTechnique, "name_as_written"),
                technique=catalogue.get(ref.attack_id),
            )
        )
    for order, text in enumerate(parsed.blind_spots):
        save(BlindSpot(strategy=strategy, order=order, text=text))
    for order, text in enumerate(parsed.false_positives):
        save(FalsePositive(strategy=strategy, order=order, text=text))
    for order, text in enumerate(parsed.response_steps):
        action = ResponseStep.Action.ISOLATE_CONTAINER if _ISOLATE_RE.search(text) else ResponseStep.Action.NONE
        save(ResponseStep(strategy=strategy, order=order, text=text, action=action))
    for order, draft in enumerate(parsed.validation_scenarios):
        scenario = save(
            ValidationScenario(
                strategy=strategy,
                order=order,
                name=_cut(draft.name, ValidationScenario, "name"),
                description=draft.description,
            )
        )
        for step_order, text in enumerate(draft.steps):
            save(ValidationStep(scenario=scenario, order=step_order, text=text))
    for order, ref in enumerate(parsed.resources):
        save(
            Resource(
                strategy=strategy,
                order=order,
                title=_cut(ref.title, Resource, "title"),
                url=_cut(ref.url, Resource, "url"),
            )
        )
    for order, extra in enumerate(parsed.extra_sections):
        save(
            ExtraSection(
                strategy=strategy, order=order, heading=_cut(extra.heading, ExtraSection, "heading"), body=extra.body
            )
        )


def strategy_document(strategy: Strategy) -> dict:
    """The stored strategy in the parser's shape (`ParsedStrategy.to_dict()`), for the renderer."""
    return {
        "title": strategy.title,
        "goal": strategy.goal,
        "techniques": [
            {"attack_id": m.attack_id, "name": m.name_as_written or (m.technique.name if m.technique else "")}
            for m in strategy.technique_mappings.select_related("technique")
        ],
        "tactics": list(strategy.tactics or []),
        "platforms": list(strategy.platforms or []),
        "data_sources": list(strategy.data_sources or []),
        "strategy_abstract": strategy.strategy_abstract,
        "technical_context": strategy.technical_context,
        "blind_spots_intro": strategy.blind_spots_intro,
        "blind_spots": [b.text for b in strategy.blind_spots.all()],
        "false_positives_intro": strategy.false_positives_intro,
        "false_positives": [f.text for f in strategy.false_positives.all()],
        "validation_intro": strategy.validation_intro,
        "validation_scenarios": [
            {"name": s.name, "description": s.description, "steps": [step.text for step in s.steps.all()]}
            for s in strategy.validation_scenarios.prefetch_related("steps")
        ],
        "priority": strategy.priority,
        "priority_justification": strategy.priority_justification,
        "response_intro": strategy.response_intro,
        "response_steps": [r.text for r in strategy.response_steps.all()],
        "resources_intro": strategy.resources_intro,
        "resources": [{"title": r.title, "url": r.url} for r in strategy.resources.all()],
        "extra_sections": [{"heading": e.heading, "body": e.body} for e in strategy.extra_sections.all()],
        "metadata": {"slug": strategy.slug, "status": strategy.status},
    }


def export_strategy_markdown(strategy: Strategy) -> str:
    """The stored strategy as canonical ADS markdown; importing it gives the same strategy back."""
    return render_markdown(strategy_document(strategy))


def export_strategy_json(strategy: Strategy) -> dict:
    """A JSON-able dict of the strategy; ATT&CK entries come from the catalogue when linked."""
    attack = []
    for mapping in strategy.technique_mappings.select_related("technique").prefetch_related("technique__tactics"):
        technique = mapping.technique
        if technique is not None:
            attack.append(
                {
                    "id": technique.attack_id,
                    "name": technique.name,
                    "tactics": [t.name for t in technique.tactics.all()],
                    "platforms": list(technique.platforms or []),
                    "in_catalogue": True,
                }
            )
        else:
            attack.append(
                {
                    "id": mapping.attack_id,
                    "name": mapping.name_as_written,
                    "tactics": list(strategy.tactics or []),
                    "platforms": list(strategy.platforms or []),
                    "in_catalogue": False,
                }
            )
    return build_export_dict(
        strategy_document(strategy),
        slug=strategy.slug,
        status=strategy.status,
        attack=attack,
        owner=strategy.owner.get_username() if strategy.owner_id else None,
        source_path=strategy.source_path,
        updated_at=strategy.updated_at.isoformat() if strategy.updated_at else None,
    )


def revert_strategy(*, strategy: Strategy, history_id: int, user=None) -> ImportResult:
    """Bring back an older version by re-importing its source markdown, child rows included."""
    version = strategy.history.get(history_id=history_id)
    if not version.source_markdown.strip():
        raise ValueError(f"version {history_id} of {strategy.slug} has no source markdown to revert to")
    return import_strategy(text=version.source_markdown, path=version.source_path, user=user, slug=strategy.slug)
