"""Query-string parameters shared by list pages and the API: ids and date-times, checked before any query.

An id past the database's integer range was a 500 (SQLite: OverflowError; PostgreSQL: out of
range), and an ISO-shaped date with no such day raised from parse_datetime. Both are the
client's mistake: BadParameter carries the sentence a 400 shows.
Not for: choices and free text (each view knows its own).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

# The largest id a BigAutoField (signed 64-bit) can hold.
MAX_ID = 2**63 - 1


class BadParameter(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def parse_id(name: str, text: str | None) -> int | None:
    """A database id from a query string ("" or None: no filter)."""
    text = (text or "").strip()
    if not text:
        return None
    # isdigit() alone accepts "²" and other Unicode digits int() refuses: ASCII only.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
        raise BadParameter(name, f"an id is a whole number from 1 to {MAX_ID}, not {text[:40]!r}")
    return int(text)


def parse_datetime_param(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date-time ("" or None: no filter); without a zone, UTC (the portal's time zone)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = parse_datetime(text.replace(" ", "+"))  # a "+" in a query string arrives as a space
    except ValueError:  # well formed but no such date or time (2026-13-45)
        value = None
    if value is None:
        raise BadParameter(name, f"not an ISO 8601 date-time: {text[:40]!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
