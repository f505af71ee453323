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
    """Dotted keys for nested objects. Through a list of objects, each dotted path below it
    collects the values of all items (`spec.containers.securityContext.privileged` is the list
    of every container's flag), so a Sigma value matches when any item matches."""
    out = {} if out is None else out
    for key, value in event.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if value:
                flatten_event(value, name + ".", out)
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            collected: dict[str, list[Any]] = {}
            for item in value:
                if not isinstance(item, dict):
                    continue
                for path, sub in flatten_event(item).items():
                    bucket = collected.setdefault(path, [])
                    if isinstance(sub, list):
                        bucket.extend(v for v in sub if v is not None)
                    elif sub is not None:
                        bucket.append(sub)
            for path, values in collected.items():
                out[f"{name}.{path}"] = values
        else:
            out[name] = value
    return out


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _column(values: list[Any]) -> pl.Series:
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
    if list in kinds:
        # a list anywhere makes a list column; a lone scalar is a one-item list
        items = [
            None
            if v is None
            else [
                i if isinstance(i, str) else _scalar_text(i)
                for i in (v if isinstance(v, list) else [v])
                if i is not None
            ]
            for v in values
        ]
        return pl.Series(items, dtype=pl.List(pl.String))
    return pl.Series(
        [None if v is None else (v if isinstance(v, str) else _scalar_text(v)) for v in values], dtype=pl.String
    )


def events_to_frame(events: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Fast path: polars builds the frame (nested objects as structs, then unnested); events
    polars cannot type (a field that is a string here and a list there, lists of objects)
    take the per-column path below."""
    events = events if isinstance(events, list) else list(events)
    try:
        frame = pl.DataFrame(events, infer_schema_length=None)
    except Exception:  # noqa: BLE001 - polars refuses mixed nested types: type them ourselves
        return _events_to_frame_by_column(events)
    if frame.width == 0 or frame.height != len(events) or any(map(_is_awkward, frame.schema.values())):
        return _events_to_frame_by_column(events)
    return unnest_structs(frame)


def _is_awkward(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.Struct):
        return not dtype.fields or any(_is_awkward(f.dtype) for f in dtype.fields)
    if isinstance(dtype, pl.List | pl.Array):
        return isinstance(dtype.inner, pl.List | pl.Array | pl.Struct)
    return dtype == pl.Object


def _events_to_frame_by_column(events: list[dict[str, Any]]) -> pl.DataFrame:
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
    """Struct columns become dotted columns, recursively (an existing flat column of the same
    dotted name wins; empty structs are dropped)."""
    while any(isinstance(dtype, pl.Struct) for dtype in frame.schema.values()):
        taken = {name for name, dtype in frame.schema.items() if not isinstance(dtype, pl.Struct)}
        exprs = []
        for name, dtype in frame.schema.items():
            if not isinstance(dtype, pl.Struct):
                exprs.append(pl.col(name))
                continue
            for f in dtype.fields:
                dotted = f"{name}.{f.name}"
                if dotted not in taken:
                    taken.add(dotted)
                    exprs.append(pl.col(name).struct.field(f.name).alias(dotted))
        frame = frame.select(exprs)
    return frame
