"""From a parsed pySigma rule to a small boolean tree (`Node`) over event columns.

pySigma has already applied the value modifiers (wildcards as SpecialChars, |re, |cidr,
|base64offset and |windash expansions, |exists, |fieldref, |cased, ...) and parsed the
condition; this module walks `rule.detection.parsed_condition[*].parsed` the way pySigma's
base backend does (sigma/conversion/base.py `convert_condition`) and produces `Leaf`, `And`,
`Or` and `Not` nodes. `detections.engine.polars_expr` turns that tree into polars
expressions and `detections.engine.prefilter` derives required literals from it.

Not for: evaluation (ruleset.py) or reading rule files (hunt.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

# Sigma spec: `utf16le` is another name for `wide`; pySigma 2.0.1 only knows `wide`.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)

# The column keyword (field-less) values are searched in: the event's string values joined by
# a newline, built per batch only when a keyword rule runs. The diff test builds the SQLite
# backend's `fulltext_field` the same way, so both engines read one definition.
FULLTEXT_COLUMN = "\x00fulltext"
FULLTEXT_SEPARATOR = "\n"

# Rust's regex crate matches in linear time, so pattern length only bounds compile time and
# memory; this is generous for real rules (SigmaHQ's longest |re is < 600 characters).
MAX_REGEX_CHARS = 4096

# Wildcard markers inside a Pattern's parts (literal parts are str).
ANY = 0  # Sigma `*`
ONE = 1  # Sigma `?`


class CompileError(Exception):
    """A rule the engine cannot run; becomes a RuleError naming the rule."""


@dataclass(frozen=True)
class RuleError:
    """A rule that failed to parse or compile. A broken rule never stops the others."""

    rule_id: str
    title: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class Leaf:
    """One predicate on one column (two for |fieldref).

    kind / value:
      str       Pattern, case-insensitive (Sigma's default for strings)
      cased     Pattern, case-sensitive (|cased)
      regex     (pattern with inline flags, case-sensitive unless |re|i)
      cidr      ipaddress network
      num       int | float, numeric equality
      cmp       (operator "<" "<=" ">" ">=" "!=", number)
      bool      bool
      null      None: the field is absent or null
      exists    bool
      fieldref  (other column, starts_with, ends_with)
      tspart    (minute|hour|day|week|month|year, number): |minute ... of an ISO-8601 time
    """

    column: str
    kind: str
    value: Any = None


@dataclass(frozen=True)
class Pattern:
    """A Sigma string: literal parts and ANY / ONE wildcards."""

    parts: tuple[str | int, ...]

    @property
    def shape(self) -> str:
        """eq, contains, startswith, endswith, any (`*` alone) or wildcard (anything else)."""
        parts = self.parts
        wild = [p for p in parts if not isinstance(p, str)]
        if not wild:
            return "eq"
        if ONE in wild:
            return "wildcard"
        lits = [p for p in parts if isinstance(p, str)]
        if not lits:
            return "any"
        if len(lits) > 1:
            return "wildcard"
        if parts == (ANY, lits[0], ANY):
            return "contains"
        if parts == (lits[0], ANY):
            return "startswith"
        if parts == (ANY, lits[0]):
            return "endswith"
        return "wildcard"

    @property
    def literal(self) -> str:
        """The single literal of eq/contains/startswith/endswith shapes."""
        return "".join(p for p in self.parts if isinstance(p, str))

    def literals(self) -> list[str]:
        return [p for p in self.parts if isinstance(p, str)]

    def lower(self) -> Pattern:
        return Pattern(tuple(p.lower() if isinstance(p, str) else p for p in self.parts))


@dataclass(frozen=True)
class And:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    arg: Node


@dataclass(frozen=True)
class Const:
    value: bool


Node = Leaf | And | Or | Not | Const


@dataclass
class CompiledRule:
    """A single-event Sigma rule ready to run: its metadata and its boolean tree."""

    rule_id: str
    title: str
    level: str
    logsource: tuple[str | None, str | None, str | None]
    tags: list[str]
    sigma_rule: SigmaRule
    tree: Node
    columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def uses_keywords(self) -> bool:
        return FULLTEXT_COLUMN in self.columns


def rule_identity(rule: SigmaRule) -> str:
    return str(rule.id) if rule.id else (rule.title or "")


def compile_rule(rule: SigmaRule, field_mapping: dict[str, str] | None = None) -> CompiledRule:
    """The boolean tree of one (already pipeline-processed) rule; raises CompileError."""
    mapping = field_mapping or {}
    conditions = rule.detection.parsed_condition
    if not conditions:
        raise CompileError("rule has no condition")
    trees = [_convert(condition.parsed, mapping) for condition in conditions]
    # Sigma: a list of conditions is an alternative (pySigma emits one query per condition).
    tree = simplify(trees[0] if len(trees) == 1 else Or(tuple(trees)))
    logsource = rule.logsource
    return CompiledRule(
        rule_id=rule_identity(rule),
        title=rule.title or "",
        level=rule.level.name.lower() if rule.level else "",
        logsource=(logsource.product, logsource.category, logsource.service),
        tags=[str(tag) for tag in rule.tags or []],
        sigma_rule=rule,
        tree=tree,
        columns=frozenset(columns_of(tree)),
    )


def _convert(cond: Any, mapping: dict[str, str]) -> Node:
    if isinstance(cond, ConditionAND):
        return And(tuple(_convert(arg, mapping) for arg in cond.args))
    if isinstance(cond, ConditionOR):
        return Or(tuple(_convert(arg, mapping) for arg in cond.args))
    if isinstance(cond, ConditionNOT):
        return Not(_convert(cond.args[0], mapping))
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return _field_value(mapping.get(cond.field, cond.field), cond.value, mapping)
    if isinstance(cond, ConditionValueExpression):
        return _keyword_value(cond.value)
    raise CompileError(f"unsupported condition element {type(cond).__name__}")


def _field_value(column: str, value: Any, mapping: dict[str, str]) -> Node:
    if isinstance(value, SigmaExpansion):
        return Or(tuple(_field_value(column, v, mapping) for v in value.values))
    if isinstance(value, SigmaCasedString):
        return Leaf(column, "cased", _pattern(value))
    if isinstance(value, SigmaString):
        return Leaf(column, "str", _pattern(value))
    if isinstance(value, SigmaRegularExpression):
        return Leaf(column, "regex", _regex(value))
    if isinstance(value, SigmaCIDRExpression):
        return Leaf(column, "cidr", ipaddress.ip_network(value.network, strict=False))
    if isinstance(value, SigmaCompareExpression):
        ops = {
            CompareOperators.LT: "<",
            CompareOperators.LTE: "<=",
            CompareOperators.GT: ">",
            CompareOperators.GTE: ">=",
            CompareOperators.NEQ: "!=",
        }
        return Leaf(column, "cmp", (ops[value.op], value.number.number))
    if isinstance(value, SigmaTimestampPart):
        return Leaf(column, "tspart", (value.timestamp_part.name.lower(), value.number))
    if isinstance(value, SigmaBool):
        return Leaf(column, "bool", bool(value.boolean))
    if isinstance(value, SigmaNumber):
        return Leaf(column, "num", value.number)
    if isinstance(value, SigmaNull):
        return Leaf(column, "null")
    if isinstance(value, SigmaExists):
        return Leaf(column, "exists", bool(value.exists))
    if isinstance(value, SigmaFieldReference):
        other = mapping.get(value.field, value.field)
        return Leaf(column, "fieldref", (other, value.starts_with, value.ends_with))
    raise CompileError(f"unsupported value type {type(value).__name__} for field {column}")


def _keyword_value(value: Any) -> Node:
    """Sigma keywords: the value appears anywhere in the event's text (fulltext contains)."""
    if isinstance(value, SigmaExpansion):
        return Or(tuple(_keyword_value(v) for v in value.values))
    if isinstance(value, SigmaString):
        kind = "cased" if isinstance(value, SigmaCasedString) else "str"
        return Leaf(FULLTEXT_COLUMN, kind, Pattern((ANY, *_pattern(value).parts, ANY)))
    if isinstance(value, SigmaNumber) and not isinstance(value, SigmaTimestampPart):
        return Leaf(FULLTEXT_COLUMN, "str", Pattern((ANY, str(value.number), ANY)))
    if isinstance(value, SigmaRegularExpression):
        return Leaf(FULLTEXT_COLUMN, "regex", _regex(value))
    raise CompileError(f"unsupported keyword value type {type(value).__name__}")


def _pattern(value: SigmaString) -> Pattern:
    parts: list[str | int] = []
    for part in value.s:
        if isinstance(part, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] += part
            else:
                parts.append(part)
        elif part == SpecialChars.WILDCARD_MULTI:
            if not (parts and parts[-1] == ANY):  # `**` is `*`
                parts.append(ANY)
        elif part == SpecialChars.WILDCARD_SINGLE:
            parts.append(ONE)
        elif isinstance(part, Placeholder):
            raise CompileError(
                f"placeholder %{part.name}% is not resolved (|expand needs a processing pipeline that defines it)"
            )
        else:
            raise CompileError(f"unsupported string part {part!r}")
    return Pattern(tuple(parts))


def _regex(value: SigmaRegularExpression) -> str:
    pattern = value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
    if len(pattern) > MAX_REGEX_CHARS:
        raise CompileError(f"regular expression is longer than {MAX_REGEX_CHARS} characters")
    flags = ""
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags += "i"
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags += "m"
    if SigmaRegularExpressionFlag.DOTALL in value.flags:
        flags += "s"
    full = f"(?{flags}){pattern}" if flags else pattern
    validate_regex(full)
    return full


def validate_regex(pattern: str) -> None:
    """Reject what polars' regex engine (Rust `regex`: linear time, no backreferences or
    lookaround) cannot compile, so a rule never fails at match time."""
    import polars as pl

    try:
        pl.Series("probe", ["probe"], dtype=pl.String).str.contains(pattern)
    except Exception as error:  # polars raises ComputeError; the message names the problem
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CompileError(f"regular expression {pattern!r} is not supported by the engine: {first_line}") from None


def simplify(node: Node) -> Node:
    """Flatten nested And/Or, drop constants, remove double negation."""
    if isinstance(node, Leaf | Const):
        return node
    if isinstance(node, Not):
        inner = simplify(node.arg)
        if isinstance(inner, Not):
            return inner.arg
        if isinstance(inner, Const):
            return Const(not inner.value)
        return Not(inner)
    kind = type(node)
    absorbing = isinstance(node, Or)  # True absorbs Or, False absorbs And
    args: list[Node] = []
    for arg in node.args:
        arg = simplify(arg)
        if isinstance(arg, Const):
            if arg.value == absorbing:
                return Const(absorbing)
            continue
        if type(arg) is kind:
            args.extend(arg.args)
        else:
            args.append(arg)
    if not args:
        return Const(not absorbing)
    if len(args) == 1:
        return args[0]
    return kind(tuple(args))


def columns_of(node: Node) -> set[str]:
    if isinstance(node, Leaf):
        cols = {node.column}
        if node.kind == "fieldref":
            cols.add(node.value[0])
        return cols
    if isinstance(node, Not):
        return columns_of(node.arg)
    if isinstance(node, And | Or):
        out: set[str] = set()
        for arg in node.args:
            out |= columns_of(arg)
        return out
    return set()
