"""Required literals: which rows a rule could possibly match, found without evaluating it.

For a rule tree, `required_literals()` gives a set of (column, lower-cased literal) pairs of
which at least one must occur in the row (as a substring of the column's lower-cased string
form) for the rule to match, or None when no such set can be derived (a rule made only of
|cidr, numbers, `not`, keywords, regexes without plain runs...). Every string leaf implies
its longest literal part, a regex the plain runs of its mandatory sequence; And keeps the
most selective argument's set; Or needs a set for every argument.

`candidate_pairs()` finds, per column, which distinct values contain which literals with one
Aho-Corasick pass (polars `str.extract_many`) over the column's distinct lower-cased values,
and joins that back to rows: the exact rule is then evaluated only on its candidate rows.

Not for: deciding a match (the exact expression always does).
"""

from __future__ import annotations

import re
from collections import defaultdict

import polars as pl

from detections.engine.compiler import FULLTEXT_COLUMN, And, Const, Leaf, Node, Not, Or

Literals = frozenset[tuple[str, str]]

# Literals shorter than this select too many rows to be worth a prefilter pass.
MIN_LITERAL_CHARS = 3


def required_literals(node: Node) -> Literals | None:
    if isinstance(node, Leaf):
        if node.column == FULLTEXT_COLUMN:
            return None
        if node.kind == "regex":
            found = regex_literals(node.value)
            return None if found is None else frozenset((node.column, lit) for lit in found)
        if node.kind not in ("str", "cased"):
            return None
        literals = node.value.literals()
        if not literals:
            return None
        best = max(literals, key=len).lower()
        if len(best) < MIN_LITERAL_CHARS:
            return None
        return frozenset({(node.column, best)})
    if isinstance(node, Or):
        out: set[tuple[str, str]] = set()
        for arg in node.args:
            sub = required_literals(arg)
            if sub is None:
                return None
            out |= sub
        return frozenset(out)
    if isinstance(node, And):
        options = [sub for sub in map(required_literals, node.args) if sub is not None]
        if not options:
            return None
        return max(options, key=_selectivity)
    if isinstance(node, Const):
        return frozenset() if not node.value else None
    if isinstance(node, Not):
        return None
    return None


# Under (?i), Unicode case folding lets `k` match KELVIN SIGN and `s` match LONG S, which do not
# lower-case to ASCII; a case-insensitive regex's literal is cut at those letters.
_FOLDS_OUTSIDE_ASCII = re.compile("[ks]")


def regex_literals(pattern: str) -> frozenset[str] | None:
    """Lower-cased literals one of which every match contains, read from the regex's parse
    tree (runs of plain characters in the mandatory top-level sequence; a top-level
    alternation needs one per branch). None when unsure."""
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]

        parsed = sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - a pattern Python cannot read: no prefilter, still exact
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    items = list(parsed)
    if len(items) == 1 and str(items[0][0]) == "BRANCH":
        branches = items[0][1][1]
    else:
        branches = [items]
    out = set()
    for branch in branches:
        best = _longest_run(list(branch), ignore_case)
        if best is None:
            return None
        out.add(best)
    return frozenset(out)


def _longest_run(items, ignore_case: bool) -> str | None:
    runs, current = [], []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            current.append(chr(av))
        elif name == "AT":  # anchors are zero-width
            continue
        else:
            runs.append("".join(current))
            current = []
    runs.append("".join(current))
    pieces = []
    for run in runs:
        run = run.lower()
        pieces.extend(_FOLDS_OUTSIDE_ASCII.split(run) if ignore_case else [run])
    best = max(pieces, key=len, default="")
    return best if len(best) >= MIN_LITERAL_CHARS else None


def _selectivity(literals: Literals) -> tuple[int, int]:
    """Higher is better: longer shortest literal, then fewer alternatives."""
    if not literals:
        return (10**6, 0)
    return (min(len(lit) for _, lit in literals), -len(literals))


# Below this many rows, all columns go through one long-format (row, column, value) pass: one
# query plan instead of one per column, which is what a small batch's time is spent on.
LONG_FORMAT_MAX_ROWS = 100_000


def candidate_pairs(frame: pl.DataFrame, wanted: dict[int, Literals], row_column: str) -> dict[int, pl.Series]:
    """{rule index: candidate row indexes (sorted)} for rules with required literals.

    `frame` must carry `row_column` (the row index) and every column named in `wanted`.
    Rules absent from the result have no candidate row.
    """
    by_column: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for rule, literals in wanted.items():
        for column, literal in literals:
            by_column[column][literal].append(rule)
    parts: list[pl.LazyFrame] = []
    searchable: dict[str, dict[str, list[int]]] = {}
    for column, literal_rules in by_column.items():
        dtype = frame.schema[column]
        if dtype == pl.Null:
            continue  # no value: no string leaf can hold
        if isinstance(dtype, pl.List | pl.Array | pl.Struct):
            # no substring index over nested values: every row is a candidate for these rules
            rules = sorted({r for rs in literal_rules.values() for r in rs})
            parts.append(
                frame.lazy()
                .select(pl.col(row_column).alias("row"))
                .join(pl.LazyFrame({"rule": rules}, schema={"rule": pl.Int64}), how="cross")
            )
        else:
            searchable[column] = literal_rules
    if searchable:
        if frame.height <= LONG_FORMAT_MAX_ROWS:
            parts.append(_long_format_pairs(frame, searchable, row_column))
        else:
            parts.extend(
                _column_pairs(frame, column, literal_rules, row_column) for column, literal_rules in searchable.items()
            )
    if not parts:
        return {}
    pairs = pl.concat(parts).unique().sort(["rule", "row"]).collect()
    return {int(rule): group.get_column("row") for (rule,), group in pairs.group_by("rule", maintain_order=True)}


def _as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    return pl.col(column) if frame.schema[column] == pl.String else pl.col(column).cast(pl.String)


def _column_pairs(
    frame: pl.DataFrame, column: str, literal_rules: dict[str, list[int]], row_column: str
) -> pl.LazyFrame:
    """One column: Aho-Corasick over its distinct lower-cased values, joined back to rows."""
    literals = sorted(literal_rules)
    value = _as_text(frame, column)
    distinct = (
        frame.lazy()
        .select(value.alias("v"))
        .unique()
        .drop_nulls()
        .with_columns(pl.col("v").str.to_lowercase().str.extract_many(literals, overlapping=True).alias("lit"))
        .filter(pl.col("lit").list.len() > 0)
        .explode("lit")
        .unique()
    )
    lookup = pl.LazyFrame(
        {
            "lit": [lit for lit in literals for _ in literal_rules[lit]],
            "rule": [rule for lit in literals for rule in literal_rules[lit]],
        },
        schema={"lit": pl.String, "rule": pl.Int64},
    )
    value_rules = distinct.join(lookup, on="lit").select("v", "rule").unique()
    return (
        frame.lazy()
        .select(pl.col(row_column).alias("row"), value.alias("v"))
        .join(value_rules, on="v")
        .select("row", "rule")
    )


def _long_format_pairs(
    frame: pl.DataFrame, searchable: dict[str, dict[str, list[int]]], row_column: str
) -> pl.LazyFrame:
    """All columns at once: (row, column, value) rows, one Aho-Corasick pass over the distinct
    (column, value) pairs with every literal, joined to the (column, literal) -> rule table."""
    columns = sorted(searchable)
    literals = sorted({lit for literal_rules in searchable.values() for lit in literal_rules})
    entries = [
        (column, lit, rule)
        for column, literal_rules in searchable.items()
        for lit, rules in literal_rules.items()
        for rule in rules
    ]
    lookup = pl.LazyFrame(
        {
            "column": [e[0] for e in entries],
            "lit": [e[1] for e in entries],
            "rule": [e[2] for e in entries],
        },
        schema={"column": pl.String, "lit": pl.String, "rule": pl.Int64},
    )
    long = (
        frame.lazy()
        .select(pl.col(row_column).alias("row"), *[_as_text(frame, c).alias(c) for c in columns])
        .unpivot(index="row", variable_name="column", value_name="v")
        .drop_nulls("v")
    )
    value_rules = (
        long.select("column", "v")
        .unique()
        .with_columns(pl.col("v").str.to_lowercase().str.extract_many(literals, overlapping=True).alias("lit"))
        .filter(pl.col("lit").list.len() > 0)
        .explode("lit")
        .unique()
        .join(lookup, on=["column", "lit"])
        .select("column", "v", "rule")
        .unique()
    )
    return long.join(value_rules, on=["column", "v"]).select("row", "rule")
