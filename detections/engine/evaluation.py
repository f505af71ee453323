"""Evaluating many compiled rules over one batch of events.

Not for: compiling rules (compiler.py) or the public API (ruleset.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl

from detections.engine.compiler import FULLTEXT_COLUMN, FULLTEXT_SEPARATOR, CompiledRule
from detections.engine.frame import EMPTY_COLUMN, events_to_frame, unnest_structs
from detections.engine.polars_expr import ExprBuilder


def to_frame(frame: pl.DataFrame | Iterable[dict[str, Any]]) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return unnest_structs(frame)
    return events_to_frame(frame)


def fulltext_expr(columns: dict[str, pl.DataType]) -> pl.Expr:
    """Keyword search text: the event's string values, in column order, joined by a newline."""
    strings = [pl.col(name) for name, dtype in columns.items() if dtype == pl.String and name != EMPTY_COLUMN]
    if not strings:
        return pl.lit(None, dtype=pl.String)
    return pl.concat_str(strings, separator=FULLTEXT_SEPARATOR, ignore_nulls=True)


class BatchEvaluator:
    def __init__(self, rules: list[CompiledRule], on_rule_failure: Callable[[int, Exception], None]):
        self.rules = rules
        self.on_rule_failure = on_rule_failure

    def prepare(self, frame: pl.DataFrame, indexes: Sequence[int]) -> pl.DataFrame:
        needed: set[str] = set()
        keywords = False
        for i in indexes:
            needed |= self.rules[i].columns
            keywords = keywords or self.rules[i].uses_keywords
        needed.discard(FULLTEXT_COLUMN)
        extra = [pl.lit(None, dtype=pl.String).alias(c) for c in sorted(needed - set(frame.columns))]
        if keywords:
            extra.append(fulltext_expr(dict(frame.schema)).alias(FULLTEXT_COLUMN))
        return frame.with_columns(extra) if extra else frame

    def evaluate(
        self,
        frame: pl.DataFrame | Iterable[dict[str, Any]],
        indexes: Sequence[int],
        *,
        row_routes: dict[int, tuple] | None = None,
        route_columns: Sequence[str] = (),
    ) -> list[tuple[int, pl.Series]]:
        frame = self.prepare(to_frame(frame), indexes)
        if frame.height == 0:
            return []
        builder = ExprBuilder(dict(frame.schema))
        exprs = {}
        for i in indexes:
            try:
                expr = builder.node(self.rules[i].tree)
                if row_routes is not None:
                    expr = expr & _route_expr(row_routes[i], route_columns, frame.schema)
                exprs[i] = expr.alias(f"r{i}")
            except Exception as error:  # noqa: BLE001 - one rule must not stop the batch
                self.on_rule_failure(i, error)
        return self._run(frame, exprs)

    def _run(self, frame: pl.DataFrame, exprs: dict[int, pl.Expr]) -> list[tuple[int, pl.Series]]:
        if not exprs:
            return []
        try:
            out = frame.lazy().select(list(exprs.values())).collect()
            results = {i: out.get_column(f"r{i}") for i in exprs}
        except Exception:  # noqa: BLE001 - find the failing rule, keep the others
            results = {}
            for i, expr in exprs.items():
                try:
                    results[i] = frame.select(expr).to_series()
                except Exception as error:  # noqa: BLE001
                    self.on_rule_failure(i, error)
        found = []
        for i, series in results.items():
            rows = series.arg_true()
            if len(rows):
                found.append((i, rows))
        return found


def _route_expr(logsource: tuple, columns: Sequence[str], schema: dict[str, pl.DataType]) -> pl.Expr:
    conditions = []
    for part, column in zip(logsource, columns, strict=True):
        if part is None or column not in schema:
            continue
        value = pl.col(column).cast(pl.String)
        conditions.append(value.is_null() | (value.str.to_lowercase() == part.lower()))
    return pl.all_horizontal(conditions) if conditions else pl.lit(True)
