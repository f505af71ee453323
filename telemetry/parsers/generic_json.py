"""Any JSON producer, mapped by a Source's field_map {canonical_field: "dotted.path"}.

For producers without a dedicated parser. A path is looked up as a literal key
first ("id.orig_h" as Zeek writes it), then as nested keys; a value starting
with "=" is a constant ("kind": "=network"). `time` defaults to the first of
time/@timestamp/timestamp when the map does not name it; `kind` to "other".
"""

from __future__ import annotations

from typing import Any

from telemetry import schema

from .base import Parser, RecordRejected, build_event, dig

_DEFAULT_TIME_PATHS = ("time", "@timestamp", "timestamp")


def lookup(record: dict[str, Any], path: str) -> Any:
    if path.startswith("="):
        return path[1:]
    if path in record:
        return record[path]
    return dig(record, path)


class GenericJsonParser(Parser):
    format_name = "generic_json"

    def __init__(self, field_map: dict[str, str] | None = None) -> None:
        super().__init__(field_map)
        if not isinstance(self.field_map, dict):
            raise ValueError("field_map must be an object {canonical_field: 'dotted.path'}")
        unknown = sorted(name for name in self.field_map if name not in schema.CANONICAL_FIELDS or name == "raw")
        if unknown:
            raise ValueError(
                f"field_map names unknown canonical field(s): {', '.join(unknown)}; "
                f"known: {', '.join(name for name in schema.CANONICAL_FIELDS)}"
            )
        bad_paths = sorted(name for name, path in self.field_map.items() if not isinstance(path, str) or not path)
        if bad_paths:
            raise ValueError(f"field_map paths must be non-empty strings: {', '.join(bad_paths)}")

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        time_path = self.field_map.get("time")
        if time_path:
            time_value = lookup(record, time_path)
        else:
            time_value = next((record[p] for p in _DEFAULT_TIME_PATHS if record.get(p) not in (None, "")), None)
        if time_value in (None, ""):
            raise RecordRejected(f"missing required field time ({time_path or '/'.join(_DEFAULT_TIME_PATHS)})")
        kind = lookup(record, self.field_map["kind"]) if "kind" in self.field_map else "other"
        if kind not in schema.KINDS:
            raise RecordRejected(f"kind {kind!r} is not one of {', '.join(schema.KINDS)}")
        fields = {name: lookup(record, path) for name, path in self.field_map.items() if name not in ("time", "kind")}
        return [build_event(time=time_value, kind=kind, raw=record, **fields)]
