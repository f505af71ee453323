"""Evaluating many compiled rules over one batch of events.

Not for: compiling rules (compiler.py) or the public API (ruleset.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl

from detections.engine.compiler import FULLTEXT_COLUMN, FULLTEXT_SEPARATOR, CompiledRule
from detections.engine.frame import EMPTY_COLUMN, events_to_frame, unnest_structs
from detections.engine.polars_expr import ExprBuilder
from detections.engine.prefilter import candidate_pairs, required_literals


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


logger = logging.getLogger(__name__)

ROW = "\x00row"

# A rule group is evaluated on the distinct combinations of its columns (then joined back to
# rows) when there are at most this fraction as many combinations as rows: Image, ParentImage,
# User repeat a lot, so most predicates run on a few hundred values instead of every event.
DISTINCT_FRACTION = 0.5
EXPR_CACHE_SCHEMAS = 16


class BatchEvaluator:
    """Runs compiled rules over a batch in three ways, each exact:

    1. rules with required literals (prefilter.py): one Aho-Corasick pass per column over its
       distinct values finds candidate rows; each rule runs only on its candidates;
    2. other rules, grouped by the columns they read: run on the distinct combinations of
       those columns when that is much smaller than the batch, then joined back to rows;
    3. otherwise: one select over the whole batch for the remaining rules (polars runs the
       expressions in parallel).
    """

    def __init__(self, rules: list[CompiledRule], on_rule_failure: Callable[[int, Exception], None]):
        self.rules = rules
        self.on_rule_failure = on_rule_failure
        self.literals = [required_literals(rule.tree) for rule in rules]
        self.use_prefilter = True
        self.use_distinct = True
        self._expr_cache: dict[tuple, dict[int, pl.Expr]] = {}

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
    ) -> list[tuple[int, pl.Series]]:
        frame = self.prepare(to_frame(frame), indexes)
        if frame.height == 0:
            return []
        exprs = self._expressions(frame.schema, indexes)

        found: list[tuple[int, pl.Series]] = []
        rest = dict(exprs)
        if self.use_prefilter:
            wanted = {i: self.literals[i] for i in exprs if self.literals[i] is not None}
            if wanted:
                frame_rows = frame.with_row_index(ROW)
                try:
                    candidates = candidate_pairs(frame_rows, wanted, ROW)
                except Exception:  # a speed-up only: evaluate these rules the plain way instead
                    logger.exception("literal prefilter failed; evaluating without it")
                else:
                    for i in wanted:
                        rest.pop(i)
                    found.extend(self._run_on_candidates(frame_rows, {i: exprs[i] for i in candidates}, candidates))
        if self.use_distinct and rest:
            try:
                distinct_found, rest = self._run_distinct(frame, rest)
            except Exception:  # a speed-up only
                logger.exception("distinct-value evaluation failed; evaluating without it")
            else:
                found.extend(distinct_found)
        found.extend(self._run_full(frame, rest))
        return found

    def _expressions(self, schema: pl.Schema, indexes: Sequence[int]) -> dict[int, pl.Expr]:
        """Each rule's expression for this schema; cached, since batches of one source share it."""
        key = tuple((name, repr(dtype)) for name, dtype in schema.items())
        cache = self._expr_cache.get(key)
        if cache is None:
            if len(self._expr_cache) >= EXPR_CACHE_SCHEMAS:
                self._expr_cache.pop(next(iter(self._expr_cache)))
            cache = self._expr_cache[key] = {}
        builder = ExprBuilder(dict(schema))
        exprs: dict[int, pl.Expr] = {}
        for i in indexes:
            if i in cache:
                exprs[i] = cache[i]
                continue
            try:
                exprs[i] = cache[i] = builder.node(self.rules[i].tree).fill_null(False)
            except Exception as error:  # noqa: BLE001 - one rule must not stop the batch
                self.on_rule_failure(i, error)
        return exprs

    def _run_on_candidates(
        self, frame: pl.DataFrame, exprs: dict[int, pl.Expr], candidates: dict[int, pl.Series]
    ) -> list[tuple[int, pl.Series]]:
        if not exprs:
            return []
        queries = {i: frame[candidates[i]].lazy().filter(expr).select(ROW) for i, expr in exprs.items()}
        return self._collect(queries, lambda df: df.get_column(ROW))

    def _run_distinct(
        self, frame: pl.DataFrame, exprs: dict[int, pl.Expr]
    ) -> tuple[list[tuple[int, pl.Series]], dict[int, pl.Expr]]:
        """Rules run on distinct column combinations; returns what matched and the rules left
        for a plain select (too many combinations, list columns, or an error)."""
        groups: dict[frozenset[str], list[int]] = defaultdict(list)
        for i in exprs:
            groups[self.rules[i].columns].append(i)
        found: list[tuple[int, pl.Series]] = []
        leftovers: dict[int, pl.Expr] = {}
        for columns, members in groups.items():
            names = sorted(columns)
            if not names or any(isinstance(frame.schema[n], pl.List) for n in names):
                leftovers.update({i: exprs[i] for i in members})
                continue
            distinct = frame.select(names).unique()
            if distinct.height > DISTINCT_FRACTION * frame.height:
                leftovers.update({i: exprs[i] for i in members})
                continue
            try:
                flags = distinct.with_columns([exprs[i].alias(f"r{i}") for i in members])
            except Exception:  # noqa: BLE001 - find the failing rule below
                leftovers.update({i: exprs[i] for i in members})
                continue
            keep = pl.any_horizontal([pl.col(f"r{i}") for i in members])
            flags = flags.filter(keep)
            if flags.height == 0:
                continue
            joined = frame.select(names).with_row_index(ROW).join(flags, on=names, how="inner", nulls_equal=True)
            for i in members:
                rows = joined.filter(pl.col(f"r{i}")).get_column(ROW).sort()
                if len(rows):
                    found.append((i, rows))
        return found, leftovers

    def _run_full(self, frame: pl.DataFrame, exprs: dict[int, pl.Expr]) -> list[tuple[int, pl.Series]]:
        if not exprs:
            return []
        try:
            out = frame.lazy().select([expr.alias(f"r{i}") for i, expr in exprs.items()]).collect()
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

    def _collect(self, queries: dict[int, pl.LazyFrame], extract) -> list[tuple[int, pl.Series]]:
        keys = list(queries)
        try:
            frames = pl.collect_all([queries[i] for i in keys])
        except Exception:  # noqa: BLE001 - find the failing rule, keep the others
            frames = []
            for i in keys:
                try:
                    frames.append(queries[i].collect())
                except Exception as error:  # noqa: BLE001
                    self.on_rule_failure(i, error)
                    frames.append(None)
        found = []
        for i, df in zip(keys, frames, strict=True):
            if df is not None and df.height:
                found.append((i, extract(df)))
        return found
