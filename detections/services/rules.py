"""Saving detection rules: Sigma rules (validated, with errors that name the line) and analytics.

`save_sigma_rule` is the one way a Sigma rule gets stored, from the admin form, the
API, an import command or a test: it parses the YAML with pySigma, runs the
validators that catch real mistakes, compiles the rule with our own engine (which
refuses regular expressions it cannot run: backreferences, lookaround, too large), then
upserts by the Sigma id. Regexes run in linear time (Rust `regex`), so patterns that
backtrack catastrophically elsewhere, like `(a+)+$`, are accepted: they are harmless here.

Not for: running rules (detections.services.detection) or routing them to sources
(detections.pipelines).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import transaction
from sigma import exceptions as sigma_exc
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from detections.models import DetectionRule, Strategy
from detections.pipelines import canonical_column, field_mapping_for_logsource, referenced_fields
from detections.rule_yaml import RuleYamlError, compose_rule_document, load_rule_mapping

logger = logging.getLogger(__name__)

_ATTACK_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
_LEVELS = set(DetectionRule.Level.values)
# pySigma validators whose findings make a rule wrong rather than untidy.
_BLOCKING_VALIDATORS = ("identifier_existence", "invalid_modifier_combinations", "dangling_condition")


class RuleValidationError(ValueError):
    """A rule that cannot be saved; `line` is the 1-based line in the YAML text the problem is on."""

    def __init__(self, problem: str, line: int | None = None):
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line else problem)


@dataclass(frozen=True)
class RuleWarning:
    """Something a stored rule should be checked for; it did not stop the save."""

    message: str
    line: int | None = None
    field: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ParsedSigmaRule:
    """What save_sigma_rule stores, read from the YAML."""

    rule_uid: str
    title: str
    kind: str
    name: str = ""
    level: str = DetectionRule.Level.MEDIUM
    description: str = ""
    logsource_product: str = ""
    logsource_category: str = ""
    logsource_service: str = ""
    attack_ids: list[str] = field(default_factory=list)
    sigma: Any = None
    warnings: list[RuleWarning] = field(default_factory=list)


# --------------------------------------------------------------------------- validation


def parse_sigma_rule(yaml_text: str) -> ParsedSigmaRule:
    """Parse and validate one Sigma rule or correlation; RuleValidationError names the line."""
    if not (yaml_text or "").strip():
        raise RuleValidationError("the rule is empty", 1)
    try:
        # The bounded loader first: nothing below may walk a text with aliases or deep nesting.
        data = load_rule_mapping(yaml_text)
    except RuleYamlError as exc:
        raise RuleValidationError(exc.problem, exc.line) from None
    locator = _Locator(yaml_text, data)
    if "correlation" in data:
        return _parse_correlation(data, locator)

    try:
        rule = SigmaRule.from_dict(data, collect_errors=True)
    except sigma_exc.SigmaError as exc:
        raise locator.error(exc)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise RuleValidationError(f"not a valid Sigma rule: {exc}", locator.line_of_key("detection") or 1)
    if rule.errors:
        raise locator.error(rule.errors[0])
    for condition in rule.detection.parsed_condition:
        try:
            condition.parse()
        except sigma_exc.SigmaError as exc:
            raise RuleValidationError(
                f"condition: {_message(exc)}",
                locator.line_of_key("detection.condition") or locator.line_of_key("detection"),
            )
    _run_validators(rule, locator)
    if not rule.id:
        raise RuleValidationError("the rule has no id (a UUID): rules are stored and updated by their id", 1)
    logsource = rule.logsource
    parsed = ParsedSigmaRule(
        rule_uid=str(rule.id),
        title=rule.title,
        kind=DetectionRule.Kind.SIGMA,
        name=rule.name or "",
        level=_level(rule.level),
        description=(rule.description or "").strip(),
        logsource_product=(logsource.product or "").lower(),
        logsource_category=(logsource.category or "").lower(),
        logsource_service=(logsource.service or "").lower(),
        attack_ids=attack_ids_from_tags(str(t) for t in rule.tags),
        sigma=rule,
    )
    _compile_with_engine(yaml_text, parsed, locator)
    parsed.warnings = _unmapped_field_warnings(rule, locator)
    return parsed


def _unmapped_field_warnings(rule: SigmaRule, locator: _Locator) -> list[RuleWarning]:
    """A warning per detection field with no canonical column for the rule's logsource.

    Such a field is still read, from each event's raw record by dotted path (SigmaHQ rules
    use fields we do not map), so the rule is stored; but a typo (CommandLien) looks the
    same and never matches, which is why the author is told.
    """
    logsource = rule.logsource
    mapping = field_mapping_for_logsource(
        (logsource.product or "").lower(), (logsource.category or "").lower(), (logsource.service or "").lower()
    )
    fields: set[str] = set()
    for detection in rule.detection.detections.values():
        fields |= referenced_fields(detection.detection_items)
    unmapped = [f for f in fields if canonical_column(f, mapping) is None]
    warnings = [
        RuleWarning(
            f"field {name!r} has no canonical column for this logsource: it is read from each event's raw "
            "record by that path, and never matches if no record has it (check the spelling)",
            locator.line_of_detection_field(name),
            name,
        )
        for name in unmapped
    ]
    return sorted(warnings, key=lambda w: (w.line or 0, w.field))


def _parse_correlation(data: dict, locator: _Locator) -> ParsedSigmaRule:
    try:
        rule = SigmaCorrelationRule.from_dict(data)
    except sigma_exc.SigmaError as exc:
        raise locator.error(exc)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise RuleValidationError(f"not a valid Sigma correlation: {exc}", locator.line_of_key("correlation") or 1)
    if not rule.id:
        raise RuleValidationError("the correlation has no id (a UUID): rules are stored and updated by their id", 1)
    return ParsedSigmaRule(
        rule_uid=str(rule.id),
        title=rule.title,
        kind=DetectionRule.Kind.SIGMA_CORRELATION,
        name=rule.name or "",
        level=_level(rule.level),
        description=(rule.description or "").strip(),
        attack_ids=attack_ids_from_tags(str(t) for t in (rule.tags or [])),
        sigma=rule,
    )


def _run_validators(rule: SigmaRule, locator: _Locator) -> None:
    from sigma.validators.core import validators

    for name in _BLOCKING_VALIDATORS:
        validator_class = validators.get(name)
        if validator_class is None:
            continue
        issues = list(validator_class().validate(rule) or [])
        if issues:
            issue = issues[0]
            detail = ", ".join(
                f"{k}={v}" for k, v in vars(issue).items() if k not in ("rules", "description", "severity") and v
            )
            problem = issue.description + (f" ({detail})" if detail else "")
            line = locator.line_for_message(detail) or locator.line_of_key("detection") or 1
            raise RuleValidationError(problem, line)


def _compile_with_engine(yaml_text: str, parsed: ParsedSigmaRule, locator: _Locator) -> None:
    """Our engine must accept the rule too: it refuses what it cannot run (e.g. a backreference)."""
    try:
        from detections.engine import compile_rules
    except ImportError:  # the engine is optional for saving; detection reports its absence loudly
        logger.info("detections.engine is not available; rule %s saved without an engine check", parsed.rule_uid)
        return
    mapping = field_mapping_for_logsource(parsed.logsource_product, parsed.logsource_category, parsed.logsource_service)
    ruleset = compile_rules([yaml_text], field_mapping=mapping)
    if ruleset.errors:
        error = ruleset.errors[0]
        line = (
            getattr(error, "line", None)
            or locator.line_for_message(error.message)
            # The engine quotes a regex with repr(), which doubles its backslashes.
            or locator.line_for_message(error.message.replace("\\\\", "\\"))
            or 1
        )
        raise RuleValidationError(_strip_line_prefix(error.message), line)


def _strip_line_prefix(message: str) -> str:
    return re.sub(r"^line \d+:\s*", "", str(message))


def _message(exc: Exception) -> str:
    # SigmaError.__str__ appends " in <path>", which means nothing for a pasted rule.
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _level(level: Any) -> str:
    name = getattr(level, "name", None) or (str(level) if level else "")
    name = name.lower()
    return name if name in _LEVELS else DetectionRule.Level.MEDIUM


def attack_ids_from_tags(tags: Iterable[str]) -> list[str]:
    """ATT&CK technique ids from Sigma tags: attack.t1059.001 -> T1059.001 (tactics are not ids)."""
    ids: list[str] = []
    for tag in tags:
        match = _ATTACK_TAG.match(str(tag).strip())
        if match and match.group(1).upper() not in ids:
            ids.append(match.group(1).upper())
    return ids


# Which YAML key a pySigma error is about, when its message does not quote the offending text.
_ERROR_KEYS: list[tuple[type, str]] = [
    (sigma_exc.SigmaTimespanError, "correlation.timespan"),
    (sigma_exc.SigmaCorrelationTypeError, "correlation.type"),
    (sigma_exc.SigmaCorrelationConditionError, "correlation.condition"),
    (sigma_exc.SigmaRuleNotFoundError, "correlation.rules"),
    (sigma_exc.SigmaCorrelationRuleError, "correlation"),
    (sigma_exc.SigmaConditionError, "detection.condition"),
    (sigma_exc.SigmaLevelError, "level"),
    (sigma_exc.SigmaStatusError, "status"),
    (sigma_exc.SigmaTitleError, "title"),
    (sigma_exc.SigmaIdentifierError, "id"),
    (sigma_exc.SigmaNameError, "name"),
    (sigma_exc.SigmaModifiedError, "modified"),
    (sigma_exc.SigmaDateError, "date"),
    (sigma_exc.SigmaLogsourceError, "logsource"),
    (sigma_exc.SigmaTagError, "tags"),
    (sigma_exc.SigmaRelatedError, "related"),
    (sigma_exc.SigmaAuthorError, "author"),
    (sigma_exc.SigmaDescriptionError, "description"),
    (sigma_exc.SigmaReferencesError, "references"),
    (sigma_exc.SigmaFalsePositivesError, "falsepositives"),
    (sigma_exc.SigmaFieldsError, "fields"),
    (sigma_exc.SigmaTaxonomyError, "taxonomy"),
    (sigma_exc.SigmaLicenseError, "license"),
    (sigma_exc.SigmaScopeError, "scope"),
    (sigma_exc.SigmaDetectionError, "detection"),
]


# Words of a pySigma message that say which key it is about, when its class does not.
_TOPIC_KEYS: list[tuple[str, str]] = [
    ("timespan", "correlation.timespan"),
    ("group-by", "correlation.group-by"),
    ("correlation", "correlation"),
    ("condition", "detection.condition"),
    ("logsource", "logsource"),
    ("tag", "tags"),
    ("title", "title"),
    ("level", "level"),
    ("status", "status"),
    ("modified", "modified"),
    ("date", "date"),
    ("related", "related"),
    ("author", "author"),
    ("reference", "references"),
    ("falsepositive", "falsepositives"),
    ("description", "description"),
    ("identifier", "id"),
    ("detection", "detection"),
]


class _Locator:
    """Finds the line of a key or of a quoted piece of text in a rule's YAML."""

    def __init__(self, text: str, data: dict | None = None):
        self.text = text
        self.data = data or {}
        self.key_lines: dict[str, int] = {}
        self.keys: list[tuple[str, int]] = []  # (key as written, line)
        self.scalars: list[tuple[str, int]] = []
        self.detection_keys: list[tuple[str, int]] = []  # keys under detection: (field|modifiers, line)
        try:
            root = compose_rule_document(text)
        except RuleYamlError:
            root = None
        if root is not None:
            self._walk(root, "")

    def _walk(self, node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = str(key.value)
                path = f"{prefix}.{name}" if prefix else name
                self.key_lines.setdefault(path, key.start_mark.line + 1)
                self.keys.append((name, key.start_mark.line + 1))
                if prefix.split(".", 1)[0] == "detection":
                    self.detection_keys.append((name, key.start_mark.line + 1))
                self._walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._walk(item, prefix)
        elif isinstance(node, yaml.ScalarNode):
            self.scalars.append((str(node.value), node.start_mark.line + 1))

    def line_of_key(self, path: str) -> int | None:
        return self.key_lines.get(path)

    def line_of_detection_field(self, name: str) -> int | None:
        """The line of the first detection item on field `name` (its key: field|modifiers)."""
        return next((line for key, line in self.detection_keys if key.split("|", 1)[0] == name), None)

    def line_for_message(self, message: str) -> int | None:
        """The line of the first key or value that a quoted token of the message names."""
        tokens = [t for t in re.findall(r"'([^']+)'|\"([^\"]+)\"", message or "") for t in t if t]
        tokens += [t.split("=", 1)[1] for t in re.split(r",\s*", message or "") if "=" in t]
        for token in tokens:
            for key, line in self.keys:
                if key == token or token in key.split("|") or f"|{token}" in key:
                    return line
            for value, line in self.scalars:
                if value == token:
                    return line
            for key, line in self.keys:
                if token in key:
                    return line
            for value, line in self.scalars:
                if token in value:
                    return line
        return None

    def error(self, exc: Exception) -> RuleValidationError:
        message = _message(exc)
        line = None
        if isinstance(exc, sigma_exc.SigmaModifierError | sigma_exc.SigmaValueError | sigma_exc.SigmaDetectionError):
            line = self.line_for_message(message) or self.failing_detection_line()
        if line is None:
            for error_class, key in _ERROR_KEYS:
                if isinstance(exc, error_class):
                    line = self.line_of_key(key) or self.line_of_key(key.split(".")[0]) or 1
                    break
        if line is None:
            line = self.line_for_message(message) or self.line_for_topic(message)
        return RuleValidationError(message, line or self.line_of_key("detection") or 1)

    def line_for_topic(self, message: str) -> int | None:
        """The line of the key a message is about ("Sigma tag must ...": tags); 1 when that key is absent."""
        lowered = message.lower()
        for word, key in _TOPIC_KEYS:
            if word in lowered:
                return self.line_of_key(key) or self.line_of_key(key.split(".")[0]) or 1
        return None

    def failing_detection_line(self) -> int | None:
        """The line of the first detection item pySigma refuses on its own (its key: field|modifiers)."""
        from sigma.rule.detection import SigmaDetectionItem

        detection = self.data.get("detection")
        if not isinstance(detection, dict):
            return None
        for name, definition in detection.items():
            if name == "condition":
                continue
            maps = definition if isinstance(definition, list) else [definition]
            for mapping in maps:
                if not isinstance(mapping, dict):
                    continue
                for key, value in mapping.items():
                    try:
                        SigmaDetectionItem.from_mapping(key, value)
                    except (sigma_exc.SigmaError, ValueError, TypeError):
                        return self.line_of_key(f"detection.{name}.{key}")
        return None


# --------------------------------------------------------------------------- saving


def _strategies(items: Iterable[Any]) -> list[Strategy]:
    chosen: list[Strategy] = []
    for item in items or ():
        if isinstance(item, Strategy):
            chosen.append(item)
        elif isinstance(item, int):
            chosen.append(Strategy.objects.get(pk=item))
        else:
            chosen.append(Strategy.objects.get(slug=str(item)))
    return chosen


def save_sigma_rule(
    *,
    yaml_text: str,
    strategies: Iterable[Any] = (),
    status: str | None = None,
    source_path: str = "",
    user=None,
) -> DetectionRule:
    """Validate and store a Sigma rule or correlation, updating the rule with the same Sigma id.

    `status` is our deployment state (test / enabled / disabled), not Sigma's maturity
    field: None keeps an existing rule's status and enables a new one. `strategies`
    (Strategy objects, ids or slugs) are added to the rule's links; none are removed.
    The returned rule carries `warnings` (RuleWarning list, not stored): what the author
    should check although the rule was saved, such as fields with no canonical column.
    """
    parsed = parse_sigma_rule(yaml_text)
    if status is not None and status not in DetectionRule.Status.values:
        raise RuleValidationError(f"unknown status {status!r}; one of {', '.join(DetectionRule.Status.values)}")
    linked = _strategies(strategies)
    with transaction.atomic():
        rule = DetectionRule.objects.select_for_update().filter(rule_uid=parsed.rule_uid).first()
        if rule is None:
            rule = DetectionRule(rule_uid=parsed.rule_uid)
        rule.kind = parsed.kind
        rule.title = parsed.title[:255]
        rule.name = parsed.name[:255]
        rule.level = parsed.level
        rule.description = parsed.description
        rule.logsource_product = parsed.logsource_product[:64]
        rule.logsource_category = parsed.logsource_category[:64]
        rule.logsource_service = parsed.logsource_service[:64]
        rule.attack_ids = parsed.attack_ids
        rule.sigma_yaml = yaml_text
        if status is not None:
            rule.status = status
        if source_path:
            rule.source_path = source_path[:512]
        if user is not None:
            rule._history_user = user
        rule.save()
        if linked:
            # Replaced, and added one by one: the first strategy listed is the primary one of its alerts.
            rule.strategies.clear()
            for strategy in linked:
                rule.strategies.add(strategy)
    rule.warnings = parsed.warnings
    return rule


def save_analytic_rule(
    *,
    uid: str,
    title: str,
    analytic_type: str,
    parameters: dict | None = None,
    level: str = DetectionRule.Level.MEDIUM,
    strategies: Iterable[Any] = (),
    description: str = "",
    status: str | None = None,
    attack_ids: Iterable[str] | None = None,
) -> DetectionRule:
    """Store an analytic (beaconing, ICMP tunnelling, ...) as a rule so it has matches and alerts.

    `attack_ids` (T1071, T1095.001, ...) replace the stored ones when given; None keeps them.
    """
    if level not in _LEVELS:
        raise RuleValidationError(f"unknown level {level!r}; one of {', '.join(sorted(_LEVELS))}")
    if parameters is not None and not isinstance(parameters, dict):
        raise RuleValidationError("parameters must be a mapping")
    if status is not None and status not in DetectionRule.Status.values:
        raise RuleValidationError(f"unknown status {status!r}; one of {', '.join(DetectionRule.Status.values)}")
    linked = _strategies(strategies)
    with transaction.atomic():
        rule, _ = DetectionRule.objects.select_for_update().get_or_create(
            rule_uid=uid, defaults={"title": title[:255], "kind": DetectionRule.Kind.ANALYTIC}
        )
        rule.kind = DetectionRule.Kind.ANALYTIC
        rule.title = title[:255]
        rule.analytic_type = analytic_type
        rule.parameters = parameters or {}
        rule.level = level
        rule.description = description
        if status is not None:
            rule.status = status
        if attack_ids is not None:
            rule.attack_ids = [str(a).strip().upper() for a in attack_ids if str(a).strip()]
        rule.save()
        if linked:
            # Replaced, and added one by one: the first strategy listed is the primary one of its alerts.
            rule.strategies.clear()
            for strategy in linked:
                rule.strategies.add(strategy)
    return rule
