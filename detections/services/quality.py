"""The quality check of a strategy ("lint"): ADS completeness and agreement with the ATT&CK catalogue.

Plain functions over a stored Strategy; they read and never write. `lint_strategy` returns findings
(error / warning / info), `quality_report` adds technique suggestions for the strategy page, and
`manage.py lint_ads` prints both. What an error means: the strategy cannot be trusted as written
(unknown or revoked technique, a required ADS section missing, validation or response with no steps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from detections.models import Strategy, Tactic, Technique
from detections.services.suggest import Suggestion, score_techniques, suggest_techniques

Severity = Literal["error", "warning", "info"]

GOAL = "Goal"
CATEGORIZATION = "Categorization"
ABSTRACT = "Strategy Abstract"
CONTEXT = "Technical Context"
BLIND_SPOTS = "Blind Spots and Assumptions"
FALSE_POSITIVES = "False Positives"
VALIDATION = "Validation"
PRIORITY = "Priority"
RESPONSE = "Response"
RESOURCES = "Additional Resources"
RULES = "Detection Rules"

_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
# "Currently, no specific emulation steps are available", "no specific step-by-step instructions ... are available"
_NO_STEPS_DISCLAIMER = re.compile(
    r"\bno\s+(?:specific|concrete|detailed)?\s*(?:[\w-]+\s+){0,3}?(?:steps|instructions|procedures)\b[^.]*?"
    r"\b(?:available|exist|provided|defined|documented)\b[^.]*\.?",
    re.IGNORECASE,
)
# Platform names older ATT&CK releases (or everyday speech) use, with the name ATT&CK v18 uses.
_PLATFORM_HINTS = {
    "network": "Network Devices",
    "azure ad": "Identity Provider",
    "office 365": "Office Suite",
    "docker": "Containers",
    "kubernetes": "Containers",
    "container": "Containers",
    "aws": "IaaS",
    "azure": "IaaS",
    "gcp": "IaaS",
}
# What ATT&CK means by a platform whose name invites guesses.
_PLATFORM_MEANINGS = {
    "pre": (
        "pre-compromise",
        "PRE means pre-compromise activity (the former PRE-ATT&CK: reconnaissance and resource development, "
        "done on infrastructure the adversary controls)",
    ),
}
# A mapped technique this far down the similarity ranking is unlikely to be what the document describes.
_WEAK_FIT_RANK = 50
_WEAK_FIT_RATIO = 0.25


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    section: str
    message: str
    suggestion: str = ""


@dataclass(frozen=True)
class QualityReport:
    findings: list[Finding]
    suggestions: list[Suggestion] = field(default_factory=list)
    has_errors: bool = False


def quality_report(strategy: Strategy, *, suggestion_limit: int = 5) -> QualityReport:
    findings = lint_strategy(strategy)
    suggestions = suggest_techniques(strategy, limit=suggestion_limit) if Technique.objects.exists() else []
    return QualityReport(
        findings=findings,
        suggestions=suggestions,
        has_errors=any(f.severity == "error" for f in findings),
    )


def lint_strategy(strategy: Strategy) -> list[Finding]:
    findings = [*_check_sections(strategy), *_check_attack(strategy)]
    if not strategy.rules.exists():
        findings.append(
            Finding(
                "warning",
                "rules-none",
                RULES,
                "No detection rule is linked to this strategy, so nothing detects what it describes.",
                "Link a Sigma rule or analytic that implements the strategy.",
            )
        )
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order[f.severity])  # stable: section order within a severity


def suggestion_findings(suggestions: list[Suggestion]) -> list[Finding]:
    """Suggestions as info findings, for `lint_ads` output."""
    return [
        Finding(
            "info",
            "technique-suggestion",
            CATEGORIZATION,
            f"Consider {s.technique.attack_id} {s.technique.name} (similarity {s.score:.2f}; {s.reason}).",
        )
        for s in suggestions
    ]


# --- ADS sections ------------------------------------------------------------------------------


def _empty(text: str) -> bool:
    return not (text or "").strip()


def _missing(section: str, what: str) -> Finding:
    return Finding("error", "section-missing", section, f"The {section} section is missing or empty.", what)


def _check_sections(strategy: Strategy) -> list[Finding]:
    findings = []
    if _empty(strategy.goal):
        findings.append(_missing(GOAL, "Say in one paragraph what behaviour the strategy detects."))
    findings += _check_categorization(strategy)
    if _empty(strategy.strategy_abstract):
        findings.append(_missing(ABSTRACT, "Summarise how the detection works: data sources, logic, alert."))
    if _empty(strategy.technical_context):
        findings.append(_missing(CONTEXT, "Explain the technique so a responder can act without research."))
    if _empty(strategy.blind_spots_intro) and not strategy.blind_spots.exists():
        findings.append(_missing(BLIND_SPOTS, "List what the strategy cannot see and what it assumes."))
    if _empty(strategy.false_positives_intro) and not strategy.false_positives.exists():
        findings.append(_missing(FALSE_POSITIVES, "List the benign activity that will trigger the alert."))
    findings += _check_validation(strategy)
    findings += _check_priority(strategy)
    findings += _check_response(strategy)
    findings += _check_resources(strategy)
    return findings


def _check_categorization(strategy: Strategy) -> list[Finding]:
    findings = []
    if not strategy.technique_mappings.exists():
        findings.append(
            Finding(
                "error",
                "categorization-no-technique",
                CATEGORIZATION,
                "The strategy maps no ATT&CK technique.",
                "Add the technique id (T1234 or T1234.001) the strategy detects.",
            )
        )
    if not _split_names(strategy.tactics):
        findings.append(Finding("warning", "categorization-no-tactics", CATEGORIZATION, "No tactic is stated."))
    if not _split_names(strategy.platforms):
        findings.append(Finding("warning", "categorization-no-platforms", CATEGORIZATION, "No platform is stated."))
    return findings


def _check_validation(strategy: Strategy) -> list[Finding]:
    scenarios = list(strategy.validation_scenarios.prefetch_related("steps"))
    prose = " ".join([strategy.validation_intro, *(s.description for s in scenarios)])
    disclaimer = _NO_STEPS_DISCLAIMER.search(prose)
    quoted = f' It says: "{disclaimer.group(0).strip()}"' if disclaimer else ""
    how = "Write at least one scenario with numbered steps an engineer can run to make the alert fire."
    if not scenarios:
        if _empty(strategy.validation_intro):
            return [_missing(VALIDATION, how)]
        return [Finding("error", "validation-no-steps", VALIDATION, "Validation has no emulation steps." + quoted, how)]
    findings = [
        Finding(
            "error",
            "validation-scenario-without-steps",
            VALIDATION,
            f'Validation scenario "{scenario.name}" has no steps.',
            how,
        )
        for scenario in scenarios
        if not scenario.steps.all()
    ]
    if disclaimer and not findings:
        # The document lists steps but says itself they are not a real procedure (seed 003's "general steps").
        findings.append(
            Finding(
                "error",
                "validation-not-concrete",
                VALIDATION,
                "Validation says it has no specific emulation steps; the steps listed are generic." + quoted,
                how,
            )
        )
    return findings


def _check_priority(strategy: Strategy) -> list[Finding]:
    if not strategy.priority:
        return [_missing(PRIORITY, "State low, medium, high or critical and why.")]
    if _empty(strategy.priority_justification):
        return [
            Finding(
                "warning",
                "priority-no-justification",
                PRIORITY,
                f"Priority {strategy.get_priority_display()} is not justified.",
                "Say why: impact, likelihood, what else would catch it.",
            )
        ]
    return []


def _check_response(strategy: Strategy) -> list[Finding]:
    if strategy.response_steps.exists():
        return []
    how = "Write the numbered steps an analyst follows when the alert fires."
    if _empty(strategy.response_intro):
        return [_missing(RESPONSE, how)]
    return [Finding("error", "response-no-steps", RESPONSE, "Response has no steps.", how)]


def _check_resources(strategy: Strategy) -> list[Finding]:
    resources = list(strategy.resources.all())
    if not resources:
        return [
            Finding(
                "warning",
                "resources-none",
                RESOURCES,
                "No additional resource is listed.",
                "Link the ATT&CK page, vendor documentation or research the strategy relies on.",
            )
        ]
    if not any(r.url for r in resources):
        return [
            Finding(
                "info",
                "resources-without-links",
                RESOURCES,
                f"The {len(resources)} resources are titles without links.",
                "Add the URL of each resource so a reader can open it.",
            )
        ]
    return []


# --- ATT&CK agreement --------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", (text or "").lower().replace("&", " and ")).split())


def _split_names(values) -> list[str]:
    """Document tactics/platforms as a clean list, whether stored split or as one "A, B" string."""
    if isinstance(values, str):
        values = [values]
    names = []
    for value in values or []:
        # Split on commas/semicolons/slashes outside parentheses ("PRE (Privileged Remote Environment)").
        names += [part.strip() for part in re.split(r"[,;/](?![^(]*\))", str(value)) if part.strip()]
    return names


def _current(technique: Technique) -> Technique | None:
    """The live technique a revoked one points to, following revoked-by chains (T1150 -> T1547.011 -> ...)."""
    seen = set()
    while technique is not None and technique.is_revoked and technique.pk not in seen:
        seen.add(technique.pk)
        technique = technique.revoked_by
    return technique if technique is not None and not technique.is_revoked else None


def _label(technique: Technique) -> str:
    return f"{technique.attack_id} {technique.name}"


def _check_attack(strategy: Strategy) -> list[Finding]:
    mappings = list(strategy.technique_mappings.select_related("technique__revoked_by", "technique__parent"))
    if not mappings:
        return []
    if not Technique.objects.exists():
        return [
            Finding(
                "error",
                "attack-catalogue-missing",
                CATEGORIZATION,
                "The ATT&CK catalogue is not loaded, so technique ids cannot be checked.",
                "Run `manage.py load_attack`.",
            )
        ]
    findings = []
    live = []
    # A revoked id's tactics and platforms are judged against its replacement, which the
    # document means: the revocation itself is already an error of its own.
    replacements = []
    for mapping in mappings:
        attack_id = mapping.attack_id.strip().upper()
        technique = mapping.technique or (
            Technique.objects.select_related("revoked_by", "parent").filter(attack_id=attack_id).first()
        )
        if technique is None:
            shape = "" if _TECHNIQUE_ID.match(attack_id) else " (ids look like T1234 or T1234.001)"
            findings.append(
                Finding(
                    "error",
                    "technique-unknown",
                    CATEGORIZATION,
                    f"{mapping.attack_id} is not an ATT&CK Enterprise technique{shape}.",
                    "Check the id against attack.mitre.org.",
                )
            )
            continue
        if technique.is_revoked:
            replacement = _current(technique)
            if replacement:
                replacements.append(replacement)
                findings.append(
                    Finding(
                        "error",
                        "technique-revoked",
                        CATEGORIZATION,
                        f"{_label(technique)} is revoked; use {_label(replacement)}",
                        f"Map to {_label(replacement)}.",
                    )
                )
            else:
                findings.append(
                    Finding(
                        "error",
                        "technique-revoked",
                        CATEGORIZATION,
                        f"{_label(technique)} is revoked and ATT&CK names no replacement.",
                        "Map to a current technique.",
                    )
                )
            continue
        if technique.is_deprecated:
            findings.append(
                Finding(
                    "warning",
                    "technique-deprecated",
                    CATEGORIZATION,
                    f"{_label(technique)} is deprecated in ATT&CK and no longer maintained.",
                    "Map to a current technique (see the suggestions).",
                )
            )
        findings += _check_name(mapping.name_as_written, technique)
        live.append(technique)
    if live or replacements:
        findings += _check_tactics(strategy, live + replacements)
        findings += _check_platforms(strategy, live + replacements)
    if live:
        findings += _check_fit(strategy, live)
    return findings


def _check_name(written: str, technique: Technique) -> list[Finding]:
    if _empty(written):
        return []
    accepted = {_norm(technique.name)}
    if technique.parent:  # "Command and Scripting Interpreter: PowerShell" is ATT&CK's own long form
        accepted.add(_norm(f"{technique.parent.name} {technique.name}"))
    if _norm(written) in accepted:
        return []
    return [
        Finding(
            "warning",
            "technique-name-mismatch",
            CATEGORIZATION,
            f'The document names {technique.attack_id} "{written.strip()}"; ATT&CK calls it "{technique.name}".',
            f"Check the id: if it is right, write {technique.attack_id} - {technique.name}.",
        )
    ]


def _check_tactics(strategy: Strategy, techniques: list[Technique]) -> list[Finding]:
    tactics = list(Tactic.objects.all())
    by_name = {_norm(t.name): t for t in tactics} | {_norm(t.shortname): t for t in tactics}
    attack_tactics = {t.pk: list(t.tactics.all()) for t in techniques}
    allowed = {tactic.pk for found in attack_tactics.values() for tactic in found}
    listing = "; ".join(
        f"{t.attack_id}: {', '.join(x.name for x in attack_tactics[t.pk]) or 'none'}" for t in techniques
    )
    findings = []
    for written in _split_names(strategy.tactics):
        tactic = by_name.get(_norm(written))
        if tactic is None:
            findings.append(
                Finding(
                    "warning",
                    "tactic-unknown",
                    CATEGORIZATION,
                    f'"{written}" is not an ATT&CK Enterprise tactic (ATT&CK tactics of the mapping: {listing}).',
                    "Use the tactic names of the ATT&CK matrix.",
                )
            )
        elif tactic.pk not in allowed:
            findings.append(
                Finding(
                    "warning",
                    "tactic-mismatch",
                    CATEGORIZATION,
                    f'Tactic "{written}" is not a tactic of the mapped technique in ATT&CK ({listing}).',
                    "Use ATT&CK's tactics for the technique, or map the technique that fits the tactic.",
                )
            )
    return findings


def _check_platforms(strategy: Strategy, techniques: list[Technique]) -> list[Finding]:
    attack_platforms = {_norm(p): p for t in techniques for p in t.platforms}
    listing = "; ".join(f"{t.attack_id}: {', '.join(t.platforms) or 'none'}" for t in techniques)
    findings = []
    for written in _split_names(strategy.platforms):
        # "PRE (Privileged Remote Environment)": the platform is the token before the parentheses.
        token, _, gloss = written.partition("(")
        key = _norm(token)
        if key in attack_platforms:
            meaning = _PLATFORM_MEANINGS.get(key)
            if gloss and meaning and meaning[0] not in gloss.lower():
                findings.append(
                    Finding(
                        "warning",
                        "platform-gloss",
                        CATEGORIZATION,
                        f'Platform "{written}" names ATT&CK\'s {attack_platforms[key]} platform but explains it '
                        f"wrongly: in ATT&CK, {meaning[1]}.",
                        f"Write {attack_platforms[key]}.",
                    )
                )
            continue
        hint = _PLATFORM_HINTS.get(key)
        suggestion = f'ATT&CK v18 calls this platform "{hint}".' if hint else "Use ATT&CK's platform names."
        findings.append(
            Finding(
                "warning",
                "platform-mismatch",
                CATEGORIZATION,
                f'Platform "{written}" is not a platform of the mapped technique in ATT&CK ({listing}).',
                suggestion,
            )
        )
    for technique in techniques:
        if technique.platforms == ["PRE"]:
            findings.append(
                Finding(
                    "warning",
                    "technique-pre-compromise",
                    CATEGORIZATION,
                    f"{_label(technique)} is a pre-compromise (PRE) technique: it happens on infrastructure the "
                    "adversary acquires or controls, mostly outside the defender's telemetry.",
                    "Detect what the adversary does with it inside your environment, and map that technique.",
                )
            )
    return findings


def _check_fit(strategy: Strategy, techniques: list[Technique]) -> list[Finding]:
    """Warn when the document's own words point far away from the technique it maps."""
    scored = score_techniques(strategy)
    if not scored:
        return []
    rank = {pk: (i + 1, score) for i, (pk, score, _) in enumerate(scored)}
    best_pk, best_score, _ = scored[0]
    findings = []
    for technique in techniques:
        position, score = rank.get(technique.pk, (len(scored) + 1, 0.0))
        if position > _WEAK_FIT_RANK and score < best_score * _WEAK_FIT_RATIO:
            best = Technique.objects.get(pk=best_pk)
            findings.append(
                Finding(
                    "warning",
                    "mapping-weak-fit",
                    CATEGORIZATION,
                    f"The document's text is far from {_label(technique)} (similarity {score:.2f}, rank {position} "
                    f"of {len(scored)}); the closest technique is {_label(best)} ({best_score:.2f}).",
                    "Check that the mapping describes the behaviour the document detects (see the suggestions).",
                )
            )
    return findings
