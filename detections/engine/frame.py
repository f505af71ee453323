"""Events as a polars DataFrame: one row per event, one column per (dotted) field.

Nested objects are flattened to dotted names (`objectRef.subresource`) so Sigma's dotted
field names find them; a key that itself contains dots (Zeek's `id.orig_h`) stays as it is.
Types: a column whose values are all int / float / bool keeps that type; any mix with strings
becomes strings (Sigma compares text; |lt |gt cast back to numbers). Lists of scalars become
list columns (a Sigma value matches when any element matches).

Not for: parsing producers' formats (telemetry.parsers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import polars as pl

EMPTY_COLUMN = "\x00empty"


def flatten_event(event: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in event.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if value:
                flatten_event(value, name + ".", out)
        else:
            out[name] = value
    return out


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _column(values: list[Any]) -> pl.Series | list[Any]:
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pl.Series(values, dtype=pl.String)
    if kinds == {str}:
        return pl.Series(values, dtype=pl.String)
    if kinds == {bool}:
        return pl.Series(values, dtype=pl.Boolean)
    if kinds <= {int}:
        try:
            return pl.Series(values, dtype=pl.Int64)
        except (OverflowError, TypeError, ValueError):
            return pl.Series([None if v is None else str(v) for v in values], dtype=pl.String)
    if kinds <= {int, float}:
        return pl.Series([None if v is None else float(v) for v in values], dtype=pl.Float64)
    if kinds == {list}:
        items = [
            None
            if v is None
            else [None if i is None else (i if isinstance(i, str) else _scalar_text(i)) for i in v]
            for v in values
        ]
        return pl.Series(items, dtype=pl.List(pl.String))
    return pl.Series([None if v is None else (v if isinstance(v, str) else _scalar_text(v)) for v in values], dtype=pl.String)


def events_to_frame(events: Iterable[dict[str, Any]]) -> pl.DataFrame:
    rows = [flatten_event(event) for event in events]
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    data = {name: _column([row.get(name) for row in rows]) for name in columns}
    if not data:
        # A frame without columns has no rows in polars; keep the event count in a filler.
        return pl.DataFrame({EMPTY_COLUMN: pl.Series([None] * len(rows), dtype=pl.String)})
    return pl.DataFrame(data)


def unnest_structs(frame: pl.DataFrame) -> pl.DataFrame:
    """Struct columns become dotted columns, recursively."""
    while any(isinstance(dtype, pl.Struct) for dtype in frame.schema.values()):
        exprs = []
        for name, dtype in frame.schema.items():
            if isinstance(dtype, pl.Struct):
                exprs.extend(pl.col(name).struct.field(f.name).alias(f"{name}.{f.name}") for f in dtype.fields)
            else:
                exprs.append(pl.col(name))
        frame = frame.select(exprs)
    return frame
