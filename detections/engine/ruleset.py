"""`compile_rules()` and `CompiledRuleSet.match()`: the engine's public entry points.

Parsing reads the text with the bounded loader (detections.rule_yaml), then pySigma (RE2
validation of |re included); each rule becomes a boolean tree (compiler.py) that is turned into polars expressions per batch schema (polars_expr.py).
`match()` evaluates all routed rules over a batch in as few polars passes as it can
(evaluation.py): a literal prefilter picks the rows a rule could possibly match, and only those
rows are evaluated exactly.

Not for: correlation rules (returned parsed in `ruleset.correlations`), storing matches.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from detections.engine.compiler import (
    CompiledRule,
    CompileError,
    RuleError,
    compile_rule,
    rule_identity,
)
from detections.engine.evaluation import BatchEvaluator, to_frame
from detections.rule_yaml import RuleYamlError, load_rule_documents

logger = logging.getLogger(__name__)

LogSourceKey = tuple[str | None, str | None, str | None]

# Per-row routing (route_by_logsource=True without a batch logsource) reads these columns.
LOGSOURCE_COLUMNS = ("logsource_product", "logsource_category", "logsource_service")
ROUTE_ROW = "\x00route"


class CompiledRuleSet:
    """Compiled single-event rules plus what could not be compiled.

    rules         CompiledRule list (rule_id, title, level, logsource, tags, sigma_rule)
    errors        RuleError list: rules that failed to parse or compile (or, rarely, to run)
    correlations  parsed pySigma SigmaCorrelationRule objects, for the correlation layer
    """

    def __init__(
        self,
        rules: list[CompiledRule],
        errors: list[RuleError],
        correlations: list[SigmaCorrelationRule],
    ):
        self.rules = rules
        self.errors = errors
        self.correlations = correlations
        self._evaluator = BatchEvaluator(rules, on_rule_failure=self._rule_failed)
        self._failed: set[int] = set()

    def __len__(self) -> int:
        return len(self.rules)

    def _rule_failed(self, index: int, error: Exception) -> None:
        rule = self.rules[index]
        self._failed.add(index)
        logger.warning("rule %s failed at match time and is disabled: %s", rule.rule_id, error)
        self.errors.append(RuleError(rule.rule_id, rule.title, f"rule failed at match time: {error}", None))

    # --- routing ---------------------------------------------------------------------
    def rules_for_logsource(self, logsource: Sequence[str | None] | None) -> list[int]:
        """Indexes of rules whose logsource is compatible (an absent part matches anything)."""
        indexes = [i for i in range(len(self.rules)) if i not in self._failed]
        if logsource is None:
            return indexes
        wanted = tuple((part or "").lower() or None for part in (*logsource, None, None, None)[:3])
        return [i for i in indexes if _compatible(self.rules[i].logsource, wanted)]

    # --- matching --------------------------------------------------------------------
    def match_by_rule(
        self,
        frame: pl.DataFrame | Iterable[dict[str, Any]],
        *,
        logsource: Sequence[str | None] | None = None,
        route_by_logsource: bool = False,
    ) -> dict[str, list[int]]:
        """{rule_id: [row_index, ...]} for every rule with at least one match (rows ascending)."""
        out: dict[str, list[int]] = {}
        for index, rows in self._match_arrays(frame, logsource, route_by_logsource):
            out.setdefault(self.rules[index].rule_id, []).extend(rows.to_list())
        for rule_id, rows in out.items():
            out[rule_id] = sorted(set(rows))
        return out

    def match(
        self,
        frame: pl.DataFrame | Iterable[dict[str, Any]],
        *,
        logsource: Sequence[str | None] | None = None,
        route_by_logsource: bool = False,
    ) -> list[tuple[str, int]]:
        """(rule_id, row_index) pairs in row order (rules in ruleset order within a row).

        logsource=(product, category, service): only rules compatible with the batch's logsource
        run. route_by_logsource=True without one: each row is matched only by rules whose
        logsource agrees with the row's logsource_product/_category/_service columns (a null or
        missing column agrees with anything). Neither: every rule runs on every row (hunt mode).
        """
        parts = [
            pl.DataFrame({"rule": pl.repeat(index, len(rows), dtype=pl.Int64, eager=True), "row": rows.cast(pl.Int64)})
            for index, rows in self._match_arrays(frame, logsource, route_by_logsource)
        ]
        if not parts:
            return []
        pairs = pl.concat(parts).sort(["row", "rule"])
        ids = [rule.rule_id for rule in self.rules]
        return [(ids[r], w) for r, w in zip(pairs["rule"].to_list(), pairs["row"].to_list(), strict=True)]

    def _match_arrays(self, frame, logsource, route_by_logsource) -> list[tuple[int, pl.Series]]:
        indexes = self.rules_for_logsource(logsource)
        if not indexes:
            return []
        frame = to_frame(frame)
        routes = [c for c in LOGSOURCE_COLUMNS if c in frame.columns]
        if not (route_by_logsource and logsource is None and routes):
            return self._evaluator.evaluate(frame, indexes)
        # Per-row routing: each distinct (product, category, service) of the batch runs its
        # compatible rules on its own rows, with every fast path of a plain batch.
        found: list[tuple[int, pl.Series]] = []
        keyed = frame.with_row_index(ROUTE_ROW).with_columns(
            [pl.col(c).cast(pl.String).str.to_lowercase().alias(f"{ROUTE_ROW}{c}") for c in routes]
        )
        for key, part in keyed.group_by([f"{ROUTE_ROW}{c}" for c in routes]):
            values = dict(zip(routes, key, strict=True))
            wanted = tuple(values.get(c) for c in LOGSOURCE_COLUMNS)
            part_indexes = [i for i in indexes if _compatible(self.rules[i].logsource, wanted)]
            if not part_indexes:
                continue
            original_rows = part.get_column(ROUTE_ROW)
            events = part.drop([ROUTE_ROW, *(f"{ROUTE_ROW}{c}" for c in routes)])
            for index, rows in self._evaluator.evaluate(events, part_indexes):
                found.append((index, original_rows.gather(rows).sort()))
        return found


def _compatible(rule_logsource: LogSourceKey, wanted: LogSourceKey) -> bool:
    return all(
        mine is None or theirs is None or mine.lower() == theirs
        for mine, theirs in zip(rule_logsource, wanted, strict=True)
    )


def compile_rules(
    rule_texts: Iterable[str | SigmaRule | SigmaCorrelationRule],
    *,
    field_mapping: dict[str, str] | None = None,
    pipeline: ProcessingPipeline | None = None,
) -> CompiledRuleSet:
    """Compile Sigma rules (YAML texts, possibly multi-document, or parsed pySigma rules).

    field_mapping maps Sigma field names to event columns; pipeline is a pySigma processing
    pipeline applied to each rule first (its field mappings, value transformations, ...).
    A rule that fails to parse or compile lands in `errors`; the others still compile.
    """
    parsed: list[SigmaRule] = []
    correlations: list[SigmaCorrelationRule] = []
    errors: list[RuleError] = []
    for item in rule_texts:
        if isinstance(item, SigmaRule):
            parsed.append(copy.deepcopy(item) if pipeline is not None else item)
        elif isinstance(item, SigmaCorrelationRule):
            correlations.append(item)
        else:
            _parse_text(str(item), parsed, correlations, errors)

    rules: list[CompiledRule] = []
    for rule in parsed:
        try:
            if pipeline is not None:
                pipeline.apply(rule)
            rules.append(compile_rule(rule, field_mapping))
        except (CompileError, SigmaError) as error:
            errors.append(_rule_error(rule, error))
        except Exception as error:  # a pySigma bug on one odd rule must not stop the others
            logger.exception("unexpected error compiling rule %s", rule_identity(rule))
            errors.append(_rule_error(rule, error))

    if correlations:
        correlations = _resolve_correlations(parsed, correlations, errors)
    return CompiledRuleSet(rules, errors, correlations)


def _parse_text(
    text: str,
    parsed: list[SigmaRule],
    correlations: list[SigmaCorrelationRule],
    errors: list[RuleError],
) -> None:
    try:
        documents = load_rule_documents(text)
    except RuleYamlError as error:
        rule_id, title = _identity_from_text(text)
        errors.append(RuleError(rule_id, title, error.problem, error.line))
        return
    try:
        collection = SigmaCollection.from_dicts(documents, collect_errors=True, resolve_references=False)
    except SigmaError as error:
        rule_id, title = _identity_from_text(text)
        errors.append(RuleError(rule_id, title, str(error.args[0]) if error.args else str(error), _line(error)))
        return
    in_rules = set()
    for rule in collection.rules:
        if rule.errors:
            errors.append(_rule_error(rule, rule.errors[0]))
            in_rules.update(id(e) for e in rule.errors)
        elif isinstance(rule, SigmaCorrelationRule):
            correlations.append(rule)
        elif isinstance(rule, SigmaRule):
            parsed.append(rule)
    for error in collection.errors:
        if id(error) not in in_rules:
            rule_id, title = _identity_from_text(text)
            errors.append(RuleError(rule_id, title, _message(error), _line(error)))


def _resolve_correlations(
    rules: list[SigmaRule], correlations: list[SigmaCorrelationRule], errors: list[RuleError]
) -> list[SigmaCorrelationRule]:
    collection = SigmaCollection([*rules, *correlations], resolve_references=False)
    resolved = []
    for correlation in correlations:
        try:
            correlation.resolve_rule_references(collection)
            resolved.append(correlation)
        except SigmaError as error:
            errors.append(_rule_error(correlation, error))
    return resolved


def _rule_error(rule: Any, error: Exception) -> RuleError:
    return RuleError(rule_identity(rule), rule.title or "", _message(error), _line(error))


def _message(error: Exception) -> str:
    # SigmaError.__str__ appends " in <path>", which means nothing for a pasted rule.
    return str(error.args[0]) if getattr(error, "args", None) else type(error).__name__


def _line(error: Exception) -> int | None:
    source = getattr(error, "source", None)
    return getattr(source, "line", None)


# `id:` and `title:` at the top level, read as text: the rule may be one the loader refused.
_TOP_LEVEL_IDENTITY = re.compile(r"^(id|title):[ \t]*['\"]?(.*?)['\"]?[ \t]*$", re.MULTILINE)


def _identity_from_text(text: str) -> tuple[str, str]:
    found: dict[str, str] = {}
    for match in _TOP_LEVEL_IDENTITY.finditer(text):
        found.setdefault(match.group(1), match.group(2)[:200])
    title = found.get("title", "")
    return found.get("id") or title, title
