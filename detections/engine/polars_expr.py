"""Boolean trees (compiler.Node) as polars expressions over one batch's schema.

Value semantics (Sigma spec, and what pySigma-backend-sqlite emits over a Zircolite-style
table of NOCASE columns, which the differential test holds us to):
- strings compare case-insensitively (values and column lower-cased), |cased and |re do not
  (|re|i adds the flag); `*` / `?` are wildcards, `\\*` `\\?` literal;
- a non-string column is read as its string form for string matches (5 -> "5", true -> "true");
- numbers (`field: 5`, |lt |lte |gt |gte) compare numerically, strings cast with strict=False
  so a non-number never matches;
- every leaf on an absent or null value is false (fill_null(False)), so `not` stays two-valued:
  Sigma reads a condition on a missing field as false, as the sqlite backend's COALESCE does;
- a list value matches when any element matches.

Not for: choosing which rules or rows to evaluate (ruleset.py, prefilter.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import polars as pl

from detections.engine.compiler import ANY, ONE, And, Const, Leaf, Node, Not, Or, Pattern

_STRING_SHAPES = ("eq", "contains", "startswith", "endswith")


def pattern_regex(pattern: Pattern) -> str:
    """An anchored regex for a wildcard pattern; (?s) so `*` also spans newlines, like LIKE's %."""
    out = []
    for part in pattern.parts:
        if part == ANY:
            out.append(".*")
        elif part == ONE:
            out.append(".")
        else:
            out.append(re.escape(part))
    return "(?s)^" + "".join(out) + "$"


class ExprBuilder:
    """Builds polars expressions for trees, given the batch's column dtypes.

    `lowered` names, per column, a column of the frame that already holds its lower-cased
    string form (computed once per batch by the caller); without it the expression lowers.
    """

    def __init__(self, schema: dict[str, pl.DataType], lowered: dict[str, str] | None = None):
        self.schema = schema
        self.lowered = lowered or {}

    # --- trees -----------------------------------------------------------------------
    def node(self, node: Node) -> pl.Expr:
        if isinstance(node, Leaf):
            return self.leaf(node)
        if isinstance(node, Not):
            return ~self.node(node.arg)
        if isinstance(node, And):
            return pl.all_horizontal([self.node(arg) for arg in node.args])
        if isinstance(node, Or):
            return pl.any_horizontal(self._or_args(node.args))
        if isinstance(node, Const):
            return pl.lit(node.value)
        raise TypeError(node)

    def _or_args(self, args: tuple[Node, ...]) -> list[pl.Expr]:
        """Or of many same-column string leaves (Sigma value lists) as one is_in/contains_any."""
        grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        rest: list[pl.Expr] = []
        for arg in args:
            if (
                isinstance(arg, Leaf)
                and arg.kind in ("str", "cased")
                and arg.value.shape in _STRING_SHAPES
                and not self._is_list(arg.column)
            ):
                literal = arg.value.literal.lower() if arg.kind == "str" else arg.value.literal
                grouped[(arg.column, arg.kind, arg.value.shape)].append(literal)
            else:
                rest.append(self.node(arg))
        for (column, kind, shape), literals in grouped.items():
            x = self.lower(column) if kind == "str" else self.string(column)
            literals = sorted(set(literals))
            if len(literals) == 1:
                rest.append(_shape_expr(x, shape, literals[0]))
            elif shape == "eq":
                rest.append(x.is_in(literals).fill_null(False))
            elif shape == "contains":
                rest.append(x.str.contains_any(literals).fill_null(False))
            else:
                rest.extend(_shape_expr(x, shape, literal) for literal in literals)
        return rest

    # --- columns ---------------------------------------------------------------------
    def dtype(self, column: str) -> pl.DataType:
        return self.schema.get(column, pl.Null())

    def _is_list(self, column: str) -> bool:
        return isinstance(self.dtype(column), pl.List)

    def string(self, column: str) -> pl.Expr:
        dtype = self.dtype(column)
        if dtype == pl.String:
            return pl.col(column)
        if dtype == pl.Null:
            return pl.lit(None, dtype=pl.String)
        return pl.col(column).cast(pl.String)

    def lower(self, column: str) -> pl.Expr:
        if column in self.lowered:
            return pl.col(self.lowered[column])
        return self.string(column).str.to_lowercase()

    # --- leaves ----------------------------------------------------------------------
    def leaf(self, leaf: Leaf) -> pl.Expr:
        column = leaf.column
        if leaf.kind == "null":
            return pl.col(column).is_null() if column in self.schema else pl.lit(True)
        if leaf.kind == "exists":
            present = pl.col(column).is_not_null() if column in self.schema else pl.lit(False)
            return present if leaf.value else ~present
        dtype = self.dtype(column)
        if isinstance(dtype, pl.List):
            inner = dtype.inner
            expr = _leaf_on(leaf, pl.element(), inner, lowered=None, other=None)
            return pl.col(column).list.eval(expr).list.any().fill_null(False)
        other = None
        if leaf.kind == "fieldref":
            other = self.lower(leaf.value[0])
        lowered = self.lower(column) if leaf.kind in ("str", "fieldref") else None
        base = pl.col(column) if column in self.schema and dtype != pl.Null else pl.lit(None, dtype=pl.String)
        return _leaf_on(leaf, base, dtype, lowered=lowered, other=other).fill_null(False)


def _as_string(x: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return x if dtype in (pl.String, pl.Null) else x.cast(pl.String)


def _as_number(x: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return x.cast(pl.Float64)
    if dtype == pl.Boolean:
        return pl.lit(None, dtype=pl.Float64)
    return _as_string(x, dtype).str.strip_chars().cast(pl.Float64, strict=False)


def _shape_expr(x: pl.Expr, shape: str, literal: str) -> pl.Expr:
    if shape == "eq":
        return x == literal
    if shape == "contains":
        return x.str.contains(literal, literal=True)
    if shape == "startswith":
        return x.str.starts_with(literal)
    return x.str.ends_with(literal)


def _pattern_expr(x: pl.Expr, pattern: Pattern) -> pl.Expr:
    shape = pattern.shape
    if shape in _STRING_SHAPES:
        return _shape_expr(x, shape, pattern.literal)
    if shape == "any":
        return x.is_not_null()
    return x.str.contains(pattern_regex(pattern))


def _leaf_on(leaf: Leaf, x: pl.Expr, dtype: pl.DataType, *, lowered: pl.Expr | None, other: pl.Expr | None) -> pl.Expr:
    kind, value = leaf.kind, leaf.value
    if kind == "str":
        xl = lowered if lowered is not None else _as_string(x, dtype).str.to_lowercase()
        return _pattern_expr(xl, value.lower())
    if kind == "cased":
        return _pattern_expr(_as_string(x, dtype), value)
    if kind == "regex":
        return _as_string(x, dtype).str.contains(value)
    if kind == "num":
        return _as_number(x, dtype) == float(value)
    if kind == "cmp":
        op, number = value
        n = _as_number(x, dtype)
        return {"<": n < number, "<=": n <= number, ">": n > number, ">=": n >= number, "!=": n != number}[op]
    if kind == "bool":
        if dtype == pl.Boolean:
            return x == value
        if dtype.is_numeric():
            return x == int(value)
        return _as_string(x, dtype).str.to_lowercase() == ("true" if value else "false")
    if kind == "tspart":
        part, number = value
        if isinstance(dtype, pl.Datetime | pl.Date):
            return x.dt.strftime(_TIMESTAMP_FORMATS[part]).cast(pl.Int64) == number
        return _as_string(x, dtype).map_batches(_timestamp_part_matcher(part, number), return_dtype=pl.Boolean)
    if kind == "cidr":
        return _as_string(x, dtype).map_batches(_cidr_matcher(value), return_dtype=pl.Boolean)
    if kind == "fieldref":
        xl = lowered if lowered is not None else _as_string(x, dtype).str.to_lowercase()
        assert other is not None, "fieldref inside a list column is not supported"
        _, starts_with, ends_with = value
        if starts_with and ends_with:
            return xl.str.contains(other, literal=True)
        if starts_with:
            return xl.str.starts_with(other)
        if ends_with:
            return xl.str.ends_with(other)
        return xl == other
    raise TypeError(f"unknown leaf kind {kind}")


# As SQLite's strftime (the reference backend's |minute ... conversion): %W counts weeks from
# the first Monday, 00-53, unlike ISO weeks.
_TIMESTAMP_FORMATS = {"minute": "%M", "hour": "%H", "day": "%d", "week": "%W", "month": "%m", "year": "%Y"}


def _timestamp_part_matcher(part: str, number: int):
    """A time part of ISO-8601 text (offsets converted to UTC), decided per distinct value."""
    fmt = _TIMESTAMP_FORMATS[part]

    def matches(values: pl.Series) -> pl.Series:
        hits = []
        for text in values.drop_nulls().unique().to_list():
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                continue
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
            if int(moment.strftime(fmt)) == number:
                hits.append(text)
        return values.is_in(hits).fill_null(False)

    return matches


def _cidr_matcher(network: Any):
    """IP membership, decided once per distinct value (an address column repeats a lot)."""

    def in_network(values: pl.Series) -> pl.Series:
        hits = []
        for text in values.drop_nulls().unique().to_list():
            try:
                address = ipaddress.ip_address(text.strip())
            except ValueError:
                continue
            if address.version == network.version and address in network:
                hits.append(text)
        return values.is_in(hits).fill_null(False)

    return in_network
