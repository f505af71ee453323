"""The reference the engine is measured against: pySigma-backend-sqlite over an in-memory table.

Events are loaded as Zircolite does (one row per event, one NOCASE column per field) with one
deliberate difference: the columns carry no type affinity, so an integer stays an integer and
`|gt 9` compares numbers, as Sigma means (Zircolite's TEXT columns compare '12' > '9' as
text). Keyword rules read `FULLTEXT_FIELD`, filled with the engine's keyword text definition:
the event's string values in column order joined by a newline. REGEXP is Python's re.search.

Used by tests/detections/test_engine_differential.py and bench/engine.py; not for production.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sigma.rule import SigmaRule

from detections.engine.compiler import FULLTEXT_SEPARATOR
from detections.engine.frame import flatten_event

TABLE = "logs"
FULLTEXT_FIELD = "sigma_fulltext"


def make_backend():
    from sigma.backends.sqlite import sqliteBackend

    return sqliteBackend(table=TABLE, fulltext_field=FULLTEXT_FIELD, collect_errors=True)


def convert(rule: SigmaRule, backend=None) -> list[str]:
    """SQL queries selecting the matching rowids (1-based) of a rule; raises SigmaError."""
    backend = backend or make_backend()
    queries = backend.convert_rule(rule)
    if backend.errors:
        _, error = backend.errors.pop()
        backend.errors.clear()
        raise error
    head = f"SELECT * FROM {TABLE} WHERE "  # noqa: S608 - constant table name, backend-made SQL
    out = []
    for query in queries:
        if not isinstance(query, str) or not query.startswith(head):
            raise ValueError(f"unexpected query shape: {query!r}")
        out.append(f"SELECT rowid FROM {TABLE} WHERE " + query[len(head) :])  # noqa: S608
    return out


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    return _compiled(pattern).search(str(value)) is not None


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, sort_keys=True)
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_events(events: Sequence[dict[str, Any]], extra_columns: Sequence[str] = ()) -> sqlite3.Connection:
    """An in-memory database with `logs`: rowid = event index + 1.

    The keyword text follows the engine's frame typing: a column with any string value is a
    string column (its numbers as text), other columns are not searched.
    """
    rows = [flatten_event(event) for event in events]
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    string_columns = {name for name in columns if any(isinstance(row.get(name), str) for row in rows)}
    names: dict[str, str] = {}  # SQLite names are case-insensitive: first spelling wins
    for name in [*columns, *extra_columns]:
        names.setdefault(name.lower(), name)
    connection = sqlite3.connect(":memory:")
    connection.create_function("regexp", 2, _regexp, deterministic=True)
    defs = ", ".join(f"{_quote(name)} COLLATE NOCASE" for name in names.values())
    connection.execute(f"CREATE TABLE {TABLE} ({defs}{', ' if defs else ''}{FULLTEXT_FIELD} TEXT)")
    ordered = list(names.values())
    placeholders = ", ".join("?" for _ in range(len(ordered) + 1))
    column_list = ", ".join([*map(_quote, ordered), FULLTEXT_FIELD])
    insert = f"INSERT INTO {TABLE} ({column_list}) VALUES ({placeholders})"  # noqa: S608 - quoted identifiers
    data = []
    for row in rows:
        lowered = {key.lower(): value for key, value in row.items()}
        fulltext = FULLTEXT_SEPARATOR.join(
            _text(row[name]) for name in columns if name in string_columns and row.get(name) is not None
        )
        data.append([_cell(lowered.get(name.lower())) for name in ordered] + [fulltext])
    connection.executemany(insert, data)
    return connection


def run(connection: sqlite3.Connection, queries: Sequence[str]) -> set[int]:
    """0-based event indexes matched by any of the queries."""
    found: set[int] = set()
    for query in queries:
        found.update(rowid - 1 for (rowid,) in connection.execute(query))
    return found


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
