"""Telemetry state changes: register sources, ingest deliveries, rotate tokens, purge old events.

`ingest_stream` is the one way events get stored, whatever the channel (REST API,
CLI, web upload, validation replay). It reads a delivery (gzip sniffed and
bounded), hands it to the source's pure parser (telemetry.parsers), fingerprints
each record, stores the events in chunks and records one IngestBatch with what
became of every record. Once the batch is committed, it is handed to detection
by task *name*: telemetry never imports detections (data flows one way).

Not for: parsing formats (telemetry.parsers), read paths (telemetry.selectors),
HTTP concerns (telemetry.api.views).

Redelivery is a no-op: an event's fingerprint is sha256(source name + canonical
JSON of its raw record), unique per source. A consequence, on purpose: two
identical raw records are one event, even within one file (the second one is
counted as a duplicate). A producer that needs two identical lines stored twice
must make them differ (a sequence number, a timestamp).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import math
import queue
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from ads_portal.celery import send_downstream
from telemetry import schema
from telemetry.models import Event, IngestBatch, Source, new_ingest_token
from telemetry.parsers import ParsedRecord, RecordError, get_parser

logger = logging.getLogger(__name__)

DETECT_BATCH_TASK = "detections.tasks.detect_batch"
# Rows per database round trip: large enough to amortise COPY/INSERT overhead,
# small enough that a chunk's rows and SQL stay a few MiB.
CHUNK_SIZE = 5000
# A batch keeps the first rejections with their line numbers; `rejected` counts them all.
MAX_REPORTED_REJECTIONS = 1000
# gzip inside gzip is legal (and a classic bomb shape); deeper than this is not telemetry.
MAX_GZIP_LAYERS = 3
GZIP_MAGIC = b"\x1f\x8b"
# Sentinel: "use settings.INGEST_MAX_DECOMPRESSED_BYTES"; None means unbounded (trusted local files).
_FROM_SETTINGS: Any = object()


class IngestError(Exception):
    """The delivery as a whole could not be ingested; nothing of it was stored."""


class DeliveryTooLarge(IngestError):
    """The delivery (or its decompressed content) is larger than the configured bound."""


class DeliveryUnreadable(IngestError):
    """The delivery could not be read (broken gzip, I/O error)."""


class SourceDisabled(IngestError):
    """The source is disabled: its deliveries are refused."""


@dataclass
class IngestReport:
    """What became of one delivery. `rejections` is capped; `rejected` counts every rejection."""

    batch_id: int
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    # Repairs made to what was stored (invalid UTF-8), with the first line they concern.
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rejections_truncated(self) -> bool:
        return self.rejected > len(self.rejections)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejections": self.rejections,
            "rejections_truncated": self.rejections_truncated,
            "warnings": self.warnings,
        }


# --------------------------------------------------------------------------- sources


def register_source(
    *,
    name: str,
    format: str,  # noqa: A002 - the model's field name
    expected_cadence_seconds: int | None = None,
    field_map: dict[str, str] | None = None,
    description: str = "",
) -> Source:
    """Create a source; the field map is validated by building the format's parser with it."""
    if format not in Source.Format.values:
        raise ValidationError({"format": f"unknown format {format!r}; known: {', '.join(Source.Format.values)}"})
    if field_map is not None and not isinstance(field_map, dict):
        raise ValidationError({"field_map": "must be a JSON object: canonical field -> dotted path"})
    try:
        get_parser(format, field_map=field_map or {})
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError({"field_map": str(exc)})
    source = Source(
        name=name,
        format=format,
        expected_cadence_seconds=expected_cadence_seconds,
        field_map=field_map or {},
        description=description,
    )
    source.full_clean()
    source.save()
    return source


def rotate_ingest_token(*, source: Source) -> str:
    """Give the source a new ingest token; the old one stops working at once."""
    source.ingest_token = new_ingest_token()
    source.save(update_fields=["ingest_token"])
    return source.ingest_token


def purge_events(*, older_than: datetime, chunk_size: int = 10_000) -> int:
    """Delete events past retention, in chunks; returns how many were deleted.

    Past retention means both: the event happened before `older_than` AND it was stored
    before it. Event time alone would purge a replay of old logs the hour it arrives (and
    with it the fingerprints that make redelivery a no-op). Events that are evidence of a
    rule match are kept: alerts must not lose their evidence to retention. Chunked so a
    retention run never holds one huge transaction (or lock) on the event table.
    """
    deleted = 0
    expired = Event.objects.filter(time__lt=older_than, ingested_at__lt=older_than, matches__isnull=True)
    while True:
        ids = list(expired.order_by().values_list("id", flat=True)[:chunk_size])
        if not ids:
            return deleted
        with transaction.atomic():
            Event.objects.filter(id__in=ids).delete()
        deleted += len(ids)


# --------------------------------------------------------------------------- reading deliveries


GZIP_READ_BYTES = 16 * 1024
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*(?=\n)")


@dataclass
class DeliveryBounds:
    """The work one delivery may cost beyond its bytes: lines, blank lines, wall time (None: unbounded).

    A few KiB of gzip can expand to a billion newlines, which cost no storage but minutes of
    parsing while the delivery holds its transaction (on SQLite, the database's write lock).
    Counted on the plain bytes as they are read, so the delivery is cut off as soon as a
    bound is passed, not after it was all read.
    """

    max_lines: int | None = None
    max_blank_lines: int | None = None
    max_seconds: float | None = None
    started: float = field(default_factory=time.monotonic)
    lines: int = 0
    blank_lines: int = 0
    _tail_blank: bool = True  # the text since the last newline is blank so far
    exceeded: str | None = None

    def count(self, chunk: bytes) -> None:
        newlines = chunk.count(b"\n")
        if newlines:
            self.lines += newlines
            first = chunk.find(b"\n")
            blank = len(_BLANK_LINE.findall(chunk))
            if self._tail_blank and not chunk[:first].strip():
                blank += 1  # a blank line that began in an earlier chunk (or at the start)
            self.blank_lines += blank
            self._tail_blank = not chunk[chunk.rfind(b"\n") + 1 :].strip()
        elif chunk.strip():
            self._tail_blank = False
        if self.max_lines is not None and self.lines > self.max_lines:
            self.fail(f"the delivery has more than {self.max_lines} lines; send it in smaller parts")
        if self.max_blank_lines is not None and self.blank_lines > self.max_blank_lines:
            self.fail(f"the delivery has more than {self.max_blank_lines} blank lines")
        self.check_time()

    def restart(self) -> None:
        """Count lines afresh (what was counted was compressed bytes, not lines)."""
        self.lines, self.blank_lines, self._tail_blank = 0, 0, True

    def check_time(self) -> None:
        if self.max_seconds is not None and time.monotonic() - self.started > self.max_seconds:
            self.fail(f"the delivery took longer than {self.max_seconds} seconds to read; send it in smaller parts")

    def fail(self, reason: str) -> None:
        self.exceeded = reason
        raise DeliveryTooLarge(reason)


class MeteredReader(io.RawIOBase):
    """Reads from `inner`, counting bytes: reports progress and enforces a size bound.

    Errors are re-raised as IngestError subclasses, which are not OSError, so a
    parser that turns read errors into one rejected line cannot swallow them.
    """

    def __init__(
        self,
        inner: IO[bytes],
        *,
        limit: int | None,
        what: str,
        on_read: Callable[[int], Any] | None = None,
        corrupt_ends_input: bool = False,
        bounds: DeliveryBounds | None = None,
    ):
        super().__init__()
        self.bounds = bounds  # set on the layer that yields the plain bytes
        self._inner = inner
        self.limit = limit
        self.what = what
        # A truncated or corrupt gzip layer ends the input where it breaks (and says so) instead of
        # failing the delivery: the records decoded before the break are good and are kept.
        self.corrupt_ends_input = corrupt_ends_input
        self.corruption: str | None = None
        self._on_read = on_read
        self.count = 0
        self.exceeded = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            # A gzip layer is read in small pieces: when the stream breaks, gzip discards what it
            # decompressed in the failing call, so small calls keep all but the last piece.
            chunk = self._inner.read(min(len(buffer), GZIP_READ_BYTES) if self.corrupt_ends_input else len(buffer))
        except IngestError:
            raise
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            if self.corrupt_ends_input:
                self.corruption = f"{self.what} is truncated or corrupt here, the rest was not read: {exc}"
                return 0
            raise DeliveryUnreadable(f"{self.what} could not be read: {exc}")
        size = len(chunk)
        buffer[:size] = chunk
        self.count += size
        if self.limit is not None and self.count > self.limit:
            self.exceeded = True
            raise DeliveryTooLarge(f"{self.what} is larger than {self.limit} bytes")
        if self._on_read is not None and size:
            self._on_read(size)
        if self.bounds is not None:
            self.bounds.count(chunk)
        return size


def open_delivery(
    stream: IO[bytes],
    *,
    max_decompressed_bytes: int | None,
    max_body_bytes: int | None = None,
    progress: Callable[[int], Any] | None = None,
    bounds: DeliveryBounds | None = None,
) -> tuple[IO[bytes], list[MeteredReader]]:
    """A buffered, plain-bytes view of a delivery: gzip layers removed, every layer's output bounded.

    `progress` is called with the number of bytes read from `stream` itself (compressed
    bytes for a .gz file), which is what a progress bar over a file's size needs.
    """
    # Lines are counted on the innermost layer: each layer counts until a gzip layer is found
    # inside it (the peek below reads up to a buffer's worth), then the count starts again.
    meters = [MeteredReader(stream, limit=max_body_bytes, what="delivery", on_read=progress, bounds=bounds)]
    reader: IO[bytes] = io.BufferedReader(meters[0], buffer_size=1 << 20)
    for _ in range(MAX_GZIP_LAYERS):
        if reader.peek(2)[:2] != GZIP_MAGIC:
            break
        decompressed = gzip.GzipFile(fileobj=reader, mode="rb")
        meters[-1].bounds = None
        if bounds is not None:
            bounds.restart()
        meters.append(
            MeteredReader(
                decompressed,
                limit=max_decompressed_bytes,
                what="decompressed delivery",
                corrupt_ends_input=True,
                bounds=bounds,
            )
        )
        reader = io.BufferedReader(meters[-1], buffer_size=1 << 20)
    else:
        if reader.peek(2)[:2] == GZIP_MAGIC:
            raise DeliveryUnreadable(f"more than {MAX_GZIP_LAYERS} nested gzip layers")
    return reader, meters


# --------------------------------------------------------------------------- fingerprints and rows


def canonical_json(raw: Any) -> bytes:
    """Sorted-key compact JSON of a raw record: the same record always gives the same bytes.

    PostgreSQL's jsonb refuses the NUL character (\\u0000), so NULs in strings become
    U+FFFD before anything is stored or hashed (deterministically, so redelivery still matches).
    """
    try:
        text = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers past 64 bits, non-string keys: the slower, wider encoder
        try:
            text = json.dumps(
                raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False
            ).encode()
        except ValueError:
            raise ValueError(NOT_JSON_NUMBER) from None
    else:
        # orjson writes inf and NaN as null: a lossy record whose fingerprint would collide
        # with other records'. Only a record with a null can hide one, so most skip the walk.
        if b"null" in text and _has_non_finite(raw):
            raise ValueError(NOT_JSON_NUMBER)
    if b"\\u0000" in text:
        return canonical_json(_without_nul(raw))
    return text


NOT_JSON_NUMBER = "the record holds a number JSON cannot represent (infinite or NaN); not stored"


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def fingerprint_prefix(source_name: str) -> hashlib._Hash:
    return hashlib.sha256(source_name.encode() + b"\n")


def _column_limits() -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Per canonical field: the longest string its column holds, or the integer range it holds."""
    str_limits: dict[str, int] = {}
    int_ranges: dict[str, tuple[int, int]] = {}
    for model_field in Event._meta.concrete_fields:
        name = model_field.name
        if name not in schema.CANONICAL_FIELDS or name == "time":
            continue
        if isinstance(model_field, models.CharField):
            str_limits[name] = model_field.max_length
        elif isinstance(model_field, models.TextField):
            str_limits[name] = schema.MAX_STR_LEN
        elif isinstance(model_field, models.SmallIntegerField):
            int_ranges[name] = (-(2**15), 2**15 - 1)
        elif isinstance(model_field, models.BigIntegerField):
            int_ranges[name] = (-(2**63), 2**63 - 1)
        elif isinstance(model_field, models.IntegerField):
            int_ranges[name] = (-(2**31), 2**31 - 1)
    return str_limits, int_ranges


_STR_LIMITS, _INT_RANGES = _column_limits()
# canonical field -> (type, its column's bound): one lookup per field in the hot loop.
_FIELD_RULES: dict[str, tuple[type, Any]] = {
    **{name: (str, limit) for name, limit in _STR_LIMITS.items() if name != "kind"},
    **{name: (int, bounds) for name, bounds in _INT_RANGES.items()},
    **dict.fromkeys(schema.BOOL_FIELDS, (bool, None)),
    **dict.fromkeys(schema.FLOAT_FIELDS, (float, None)),
}
# Event columns an ingest may fill, in a fixed order (id, source, batch, ingested_at are set per batch).
_OPTIONAL_COLUMNS = tuple(
    f.name for f in Event._meta.concrete_fields if f.name in schema.CANONICAL_FIELDS and f.name not in ("time", "kind")
)


@dataclass(frozen=True)
class TimeWindow:
    """The event times a delivery may carry: from a hard floor to a little past its receipt.

    A year-9999 event would become the source's last event for ever (and hide a source that
    went quiet); a year-1 or 1900 one is a broken clock or a forgery. Old logs are fine (a
    replay of 2017 data is a normal use), so the floor is a fixed date, not an age.
    """

    earliest: datetime
    latest: datetime

    @classmethod
    def for_receipt(cls, received_at: datetime) -> TimeWindow:
        earliest = datetime.fromisoformat(str(settings.INGEST_EARLIEST_EVENT_TIME).replace("Z", "+00:00"))
        if earliest.tzinfo is None:
            earliest = earliest.replace(tzinfo=UTC)
        return cls(earliest, received_at + timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS))

    def reason_against(self, when: datetime) -> str | None:
        if when < self.earliest:
            return f"time {when.isoformat()} is before {self.earliest.isoformat()}, the earliest accepted"
        if when > self.latest:
            return f"time {when.isoformat()} is in the future (after {self.latest.isoformat()}, the latest accepted)"
        return None


def _clean_event(event: dict[str, Any], window: TimeWindow | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """The event's canonical fields fitted to their columns, or a reason to reject it.

    Parsers already coerce types; this guards the columns themselves: a value that
    would make the database refuse a whole chunk (an over-long string, a port past
    int4, a NUL) must cost one record at most.
    """
    when = event.get("time")
    if not isinstance(when, datetime):
        return None, "missing or unparsable time"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if window is not None and (reason := window.reason_against(when)) is not None:
        return None, reason
    kind = event.get("kind")
    if not kind or not isinstance(kind, str):
        return None, "missing kind"
    cleaned: dict[str, Any] = {"time": when, "kind": kind[:16]}
    for name, value in event.items():
        rule = _FIELD_RULES.get(name)
        if rule is None or value is None:
            continue  # time, kind and raw are done; keys outside the schema stay in raw only
        category, limit = rule
        value_type = type(value)
        if category is str:
            if value_type is not str:
                value = str(value)
            if len(value) > limit:
                value = value[:limit]
            if "\x00" in value:
                value = value.replace("\x00", "\ufffd")
        elif category is int:
            if value_type is not int:
                return None, f"{name} is not an integer: {str(value)[:40]!r}"
            if not limit[0] <= value <= limit[1]:
                return None, f"{name} out of range: {value}"
        elif category is bool:
            if value_type is not bool:
                return None, f"{name} is not a boolean: {str(value)[:40]!r}"
        elif value_type is not float:
            if value_type is not int or value != value:
                return None, f"{name} is not a number: {str(value)[:40]!r}"
            value = float(value)
        cleaned[name] = value
    return cleaned, None


@dataclass(slots=True)
class _Row:
    fingerprint: str
    raw_json: str
    raw: Any
    fields: dict[str, Any]
    params: tuple | None = None


# --------------------------------------------------------------------------- storing chunks
#
# A writer stores chunks of rows in two steps: `encode` (pure Python, run in the
# parsing thread, no database) and `write` (the database round trips, run in the
# thread that owns the connection). Splitting them lets the next chunk be parsed
# and encoded while the database works on the current one.

# COPY text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if type(value) is str:
        if _COPY_SPECIAL.search(value) is None:
            return value
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class _PostgresWriter:
    """COPY a chunk into a temporary stage table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING.

    COPY is the fast path into PostgreSQL; the stage lets the final insert skip
    fingerprints already stored (redelivery) with the unique constraint doing the
    work, and RETURNING tells how many rows were new and their latest time. The
    COPY payload is built as text by `encode`, so the connection's thread only
    sends bytes (and holds the GIL briefly: the parsing thread keeps running).
    """

    STAGE = "telemetry_event_stage"
    needs_raw = False

    def __init__(self, *, source: Source, batch: IngestBatch, ingested_at: datetime):
        self.source = source
        self.batch = batch
        self.ingested_at = ingested_at
        table = Event._meta.db_table
        columns = ["fingerprint", "time", "kind", "raw", *_OPTIONAL_COLUMNS]
        qn = connection.ops.quote_name
        self._quoted = {c: qn(c) for c in columns}
        self._cursor = connection.cursor()
        self._cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.STAGE} ON COMMIT DROP AS "  # noqa: S608 - names from the model
            f"SELECT {', '.join(qn(c) for c in columns)} FROM {qn(table)} WITH NO DATA"
        )
        selected = []
        for name in columns:
            if name in _STR_LIMITS and name != "kind":
                selected.append(f"COALESCE(s.{qn(name)}, '')")
            else:
                selected.append(f"s.{qn(name)}")
        self._insert_sql = (
            f"WITH inserted AS ("  # noqa: S608 - names from the model
            f"INSERT INTO {qn(table)} (source_id, batch_id, ingested_at, {', '.join(qn(c) for c in columns)}) "
            f"SELECT %s, %s, %s, {', '.join(selected)} FROM {self.STAGE} s "
            f"ON CONFLICT (source_id, fingerprint) DO NOTHING RETURNING time"
            f") SELECT count(*), max(time) FROM inserted"
        )
        # Django makes foreign keys DEFERRABLE INITIALLY DEFERRED, so the per-row checks
        # of event -> source and event -> batch (~8 us per event) would all run at
        # COMMIT, after the last chunk, while the parsing thread has nothing left to do.
        # Checked at the end of each INSERT instead, they overlap with the parsing of the
        # next chunk: the same checks, the same integrity, off the critical path.
        self._cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f' "
            "AND condeferrable AND confrelid IN (%s::regclass, %s::regclass) ORDER BY conname",
            [table, Source._meta.db_table, IngestBatch._meta.db_table],
        )
        self._foreign_keys = ", ".join(qn(name) for (name,) in self._cursor.fetchall())
        if self._foreign_keys:
            self._cursor.execute(f"SET CONSTRAINTS {self._foreign_keys} IMMEDIATE")

    def encode(self, rows: list[_Row]) -> tuple[str, bytes]:
        # Runs in the parsing thread: no `connection` here (it is per thread), names are quoted in advance.
        present: set[str] = set()
        for row in rows:
            present.update(row.fields)
        optional = [c for c in _OPTIONAL_COLUMNS if c in present]
        columns = ", ".join(self._quoted[c] for c in ("fingerprint", "time", "kind", "raw", *optional))
        # Each row fills only the cells of the fields it has (~10 of ~35 columns):
        # walking the row's fields rather than every column halves the encoding time.
        position = {name: index for index, name in enumerate(optional)}
        unset = ["\\N"] * len(optional)
        lines = []
        for row in rows:
            raw_json = row.raw_json
            if "\\" in raw_json:  # JSON text has no raw tab/newline, only backslash escapes
                raw_json = raw_json.replace("\\", "\\\\")
            cells = unset.copy()
            for name, value in row.fields.items():
                index = position.get(name)
                if index is None:
                    continue  # time and kind lead the line
                # _copy_text inlined for the common cases: this runs for every field of every event.
                value_type = type(value)
                if value_type is str and value.isprintable() and "\\" not in value:
                    cells[index] = value
                elif value_type is int:
                    cells[index] = str(value)
                else:
                    cells[index] = _copy_text(value)
            fields = row.fields
            lines.append(
                "\t".join((row.fingerprint, fields["time"].isoformat(), _copy_text(fields["kind"]), raw_json, *cells))
            )
        lines.append("")
        return columns, "\n".join(lines).encode("utf-8", "replace")

    def write(self, encoded: tuple[str, bytes]) -> tuple[int, datetime | None]:
        columns, payload = encoded
        cursor = self._cursor
        cursor.execute(f"TRUNCATE {self.STAGE}")
        raw_cursor = cursor.cursor  # psycopg 3 cursor under Django's wrapper
        with raw_cursor.copy(f"COPY {self.STAGE} ({columns}) FROM STDIN") as copy:
            copy.write(payload)
        cursor.execute(self._insert_sql, [self.source.pk, self.batch.pk, self.ingested_at])
        count, latest = cursor.fetchone()
        return count, latest

    def close(self) -> None:
        try:
            connection_state = self._cursor.cursor.connection.info.transaction_status
            if self._foreign_keys and connection_state != connection_state.INERROR:
                # Back to deferred for the rest of the transaction (an outer atomic block may
                # rely on it); rows already inserted were checked at their statement's end.
                # (A failed transaction is rolled back anyway, and refuses any statement.)
                self._cursor.execute(f"SET CONSTRAINTS {self._foreign_keys} DEFERRED")
        finally:
            self._cursor.close()


class _OrmWriter:
    """Databases without COPY: skip fingerprints already stored, then insert ignoring conflicts.

    Counting the stored fingerprints first tells accepted from duplicates (an
    ignored conflict is not reported back) and which rows are new (for the
    source's last event time); ignoring conflicts still covers a concurrent
    delivery of the same records.
    """

    # SQLite's default bound on query parameters is 999 on older builds.
    LOOKUP_BATCH = 900
    needs_raw = True  # bulk_create goes through JSONField, which wants the decoded record

    def __init__(self, *, source: Source, batch: IngestBatch, ingested_at: datetime):
        self.source = source
        self.batch = batch
        self.ingested_at = ingested_at

    def encode(self, rows: list[_Row]) -> list[_Row]:
        return rows

    def write(self, rows: list[_Row]) -> tuple[int, datetime | None]:
        fingerprints = [row.fingerprint for row in rows]
        stored: set[str] = set()
        for start in range(0, len(fingerprints), self.LOOKUP_BATCH):
            stored.update(
                Event.objects.filter(
                    source=self.source, fingerprint__in=fingerprints[start : start + self.LOOKUP_BATCH]
                ).values_list("fingerprint", flat=True)
            )
        new = [row for row in rows if row.fingerprint not in stored]
        inserted = self.insert(new) if new else 0
        latest = max((row.fields["time"] for row in new), default=None)
        return inserted, latest

    def insert(self, rows: list[_Row]) -> int:
        Event.objects.bulk_create(
            [
                Event(
                    source=self.source,
                    batch=self.batch,
                    ingested_at=self.ingested_at,
                    fingerprint=row.fingerprint,
                    raw=row.raw,
                    **row.fields,
                )
                for row in rows
            ],
            batch_size=500,
            ignore_conflicts=True,
        )
        return len(rows)

    def close(self) -> None:
        pass


class _SqliteWriter(_OrmWriter):
    """SQLite: INSERT ... ON CONFLICT DO NOTHING (duplicates only, unlike INSERT OR IGNORE), without the
    ORM's per-field work (5-10x faster), the canonical JSON reused as the stored raw text."""

    needs_raw = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        qn = connection.ops.quote_name
        columns = ["source_id", "batch_id", "ingested_at", "fingerprint", "time", "kind", "raw", *_OPTIONAL_COLUMNS]
        self._sql = (
            f"INSERT INTO {qn(Event._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            # Only an equal record already stored is skipped: OR IGNORE would also skip a row
            # failing a CHECK (raw not valid JSON) and count it as a duplicate, unseen.
            "ON CONFLICT (source_id, fingerprint) DO NOTHING"
        )
        # NOT NULL text columns take "" where the event has no value.
        self._pairs = tuple((c, "" if c in _STR_LIMITS else None) for c in _OPTIONAL_COLUMNS)
        self._adapt_datetime = connection.ops.adapt_datetimefield_value
        self._head = (self.source.pk, self.batch.pk, self._adapt_datetime(self.ingested_at))

    def encode(self, rows: list[_Row]) -> list[_Row]:
        adapt = self._adapt_datetime  # bound in __init__: `connection` is per thread
        for row in rows:
            fields = row.fields
            row.params = (
                *self._head,
                row.fingerprint,
                adapt(fields["time"]),
                fields["kind"],
                row.raw_json,
                *[fields.get(name, default) for name, default in self._pairs],
            )
        return rows

    def insert(self, rows: list[_Row]) -> int:
        with connection.cursor() as cursor:
            cursor.executemany(self._sql, [row.params for row in rows])
            return cursor.rowcount


# --------------------------------------------------------------------------- ingest


def ingest_stream(
    *,
    source: Source,
    stream: IO[bytes],
    channel: str,
    filename: str = "",
    user=None,
    progress: Callable[[int], Any] | None = None,
    max_decompressed_bytes: int | None = _FROM_SETTINGS,
    max_body_bytes: int | None = None,
    max_lines: int | None = _FROM_SETTINGS,
    max_blank_lines: int | None = _FROM_SETTINGS,
    max_seconds: float | None = _FROM_SETTINGS,
    hand_off: bool = True,
) -> IngestReport:
    """Parse a delivery with the source's parser and store its events; one IngestBatch per call.

    Malformed records are rejected with their line numbers while valid ones are
    stored; a record the parser chokes on costs that record only. The delivery as a
    whole fails (IngestError, nothing stored) only when it cannot be read or is too
    large (`max_body_bytes` bounds the bytes read from `stream`, `max_decompressed_bytes`
    what gzip expands them to; `max_lines`, `max_blank_lines` and `max_seconds` bound the
    work (DeliveryBounds); None is unbounded, the default is the INGEST_* setting). `progress(n)` is called with bytes read from `stream`. After commit the
    batch goes to detection (`hand_off=False` skips that, for benchmarks).
    """
    if not source.enabled:
        raise SourceDisabled(f"source {source.name} is disabled")
    if max_decompressed_bytes is _FROM_SETTINGS:
        max_decompressed_bytes = settings.INGEST_MAX_DECOMPRESSED_BYTES
    bounds = DeliveryBounds(
        max_lines=settings.INGEST_MAX_LINES if max_lines is _FROM_SETTINGS else max_lines,
        max_blank_lines=settings.INGEST_MAX_BLANK_LINES if max_blank_lines is _FROM_SETTINGS else max_blank_lines,
        max_seconds=settings.INGEST_MAX_SECONDS if max_seconds is _FROM_SETTINGS else max_seconds,
    )
    parser = get_parser(source.format, field_map=source.field_map or {})
    ingested_at = timezone.now()
    with transaction.atomic():
        batch = IngestBatch.objects.create(
            source=source, channel=channel, filename=(filename or "")[:255], uploaded_by=user, received_at=ingested_at
        )
        report = IngestReport(batch_id=batch.pk)
        reader, meters = open_delivery(
            stream,
            max_decompressed_bytes=max_decompressed_bytes,
            max_body_bytes=max_body_bytes,
            progress=progress,
            bounds=bounds,
        )
        writer_class = {"postgresql": _PostgresWriter, "sqlite": _SqliteWriter}.get(connection.vendor, _OrmWriter)
        writer = writer_class(source=source, batch=batch, ingested_at=ingested_at)
        latest_time: datetime | None = None
        lines_seen = [0]
        rows = _rows(
            source,
            parser.parse_stream(reader),
            report,
            keep_raw=writer.needs_raw,
            lines_seen=lines_seen,
            window=TimeWindow.for_receipt(ingested_at),
        )
        chunks = _Prefetched(_encoded_chunks(rows, writer))
        try:
            for size, encoded in chunks:
                bounds.check_time()  # parsing is bounded as it reads; storing is checked per chunk
                inserted, chunk_latest = writer.write(encoded)
                report.accepted += inserted
                report.duplicates += size - inserted
                if chunk_latest is not None and (latest_time is None or chunk_latest > latest_time):
                    latest_time = chunk_latest
        finally:
            chunks.close()
            writer.close()
        if bounds.exceeded:  # in case a parser swallowed the exception
            raise DeliveryTooLarge(bounds.exceeded)
        for meter in meters:  # in case a parser swallowed the exception
            if meter.exceeded:
                raise DeliveryTooLarge(f"{meter.what} is larger than {meter.limit} bytes")
            if meter.corruption:
                if not lines_seen[0]:  # broken from the start: nothing good to keep, the delivery is unreadable
                    raise DeliveryUnreadable(meter.corruption)
                _reject(report, lines_seen[0] + 1, meter.corruption)

        notes = getattr(parser, "notes", None)  # a Parser fills it; a stand-in parser may not
        if notes is not None and notes.invalid_utf8_lines:
            report.warnings.append(
                {
                    "line": notes.first_invalid_utf8_line,
                    "warning": f"invalid UTF-8 on {notes.invalid_utf8_lines} lines (first at line "
                    f"{notes.first_invalid_utf8_line}), stored as U+FFFD",
                }
            )
        batch.accepted, batch.duplicates, batch.rejected = report.accepted, report.duplicates, report.rejected
        batch.rejections = report.rejections
        batch.save(update_fields=["accepted", "duplicates", "rejected", "rejections"])
        _touch_source(source, ingested_at=ingested_at, latest_time=latest_time)
        if hand_off and report.accepted:
            batch_id = batch.pk
            transaction.on_commit(lambda: hand_batch_to_detection(batch_id), robust=True)
    return report


def _rows(
    source: Source,
    items: Iterable[ParsedRecord | RecordError],
    report: IngestReport,
    *,
    keep_raw: bool,
    lines_seen: list[int] | None = None,
    window: TimeWindow | None = None,
):
    """Valid records as rows to store; rejections recorded on the report (capped) as they come.

    Unless the writer needs it, a row keeps its raw record as JSON text only: parsed
    records are dozens of objects each, and holding thousands of them per chunk
    makes the cyclic garbage collector cost ~15% of the ingest.
    """
    prefix = fingerprint_prefix(source.name)
    last_line, last_raw, ordinal = -1, None, 0
    seen_line = 0
    iterator = iter(items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except IngestError:
            raise
        except Exception as exc:  # a parser bug must not lose what was already read
            logger.exception("parser for %s failed on %s", source.name, source.format)
            _reject(report, seen_line + 1, f"parser failed, rest of delivery not read: {type(exc).__name__}: {exc}")
            return
        seen_line = item.line
        if lines_seen is not None:
            lines_seen[0] = seen_line
        if isinstance(item, RecordError):
            _reject(report, item.line, item.reason)
            continue
        try:
            event = item.event
            raw = event.get("raw")
            cleaned, reason = _clean_event(event, window)
            if cleaned is None:
                _reject(report, item.line, reason)
                continue
            raw_json = canonical_json(raw)
            digest = prefix.copy()
            digest.update(raw_json)
            # One record can become several events (a list of items sharing one raw):
            # number them so each keeps its own stable fingerprint.
            if item.line == last_line and raw is last_raw:
                ordinal += 1
                digest.update(b"#%d" % ordinal)
            else:
                last_line, last_raw, ordinal = item.line, raw, 0
            yield _Row(digest.hexdigest(), raw_json.decode(), raw if keep_raw else None, cleaned)
        except Exception as exc:
            _reject(report, item.line, f"{type(exc).__name__}: {exc}"[:500])


class _Prefetched:
    """Iterate `items` in a background thread, one step ahead of the consumer.

    Parsing is Python work and storing is mostly database work (the database server
    is another process), so reading chunk n+1 while chunk n is written keeps both
    busy: psycopg releases the GIL while it waits on the server. The thread touches
    no database connection (Django's connections are per thread); it only parses.
    """

    _DONE = object()

    def __init__(self, items: Iterable, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(iter(items),), daemon=True, name="ingest-parse")
        self._thread.start()

    def _put(self, entry) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, iterator) -> None:
        try:
            for item in iterator:
                if not self._put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((self._DONE, exc))
            return
        self._put((self._DONE, None))

    def __iter__(self):
        while True:
            item, error = self._queue.get()
            if item is self._DONE:
                if error is not None:
                    raise error
                return
            yield item

    def close(self) -> None:
        self._stopped.set()
        self._thread.join()


def _reject(report: IngestReport, line: int, reason: str) -> None:
    report.rejected += 1
    if len(report.rejections) < MAX_REPORTED_REJECTIONS:
        report.rejections.append({"line": line, "reason": str(reason)[:500]})


def _encoded_chunks(rows, writer, size: int = CHUNK_SIZE):
    """(records in the chunk, the writer's encoding of its distinct rows), CHUNK_SIZE records at a time."""
    chunk: dict[str, _Row] = {}
    count = 0
    for row in rows:
        chunk[row.fingerprint] = row  # a record repeated within the chunk is stored once
        count += 1
        if count >= size:
            yield count, writer.encode(list(chunk.values()))
            chunk, count = {}, 0
    if count:
        yield count, writer.encode(list(chunk.values()))


def _touch_source(source: Source, *, ingested_at: datetime, latest_time: datetime | None) -> None:
    Source.objects.filter(pk=source.pk).update(last_ingest_at=ingested_at)
    source.last_ingest_at = ingested_at
    if latest_time is not None:
        # Only ever forward: a replay of old data must not make a source look older.
        Source.objects.filter(pk=source.pk).filter(
            models.Q(last_event_at__isnull=True) | models.Q(last_event_at__lt=latest_time)
        ).update(last_event_at=latest_time)
        if source.last_event_at is None or source.last_event_at < latest_time:
            source.last_event_at = latest_time


def hand_batch_to_detection(batch_id: int) -> None:
    """Send the batch to detection by task name (telemetry does not import detections)."""
    send_downstream(DETECT_BATCH_TASK, args=[batch_id], waiting_for="the detection sweep of unprocessed batches")
