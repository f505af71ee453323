"""The parser contract and the pieces every format shares.

A parser turns one producer's bytes into canonical event dicts (telemetry.schema).
This module owns what is the same for every producer: reading a binary stream
(gzip sniffed by its magic bytes), bounding lines and nesting, splitting JSON
into records (NDJSON, one object, a pretty-printed object or array, several of
them in a row), timestamp parsing, and coercing field values to the schema's
types. It is not for format knowledge: each producer has its own module.

No Django here: parsers are pure and tested without a database.
"""

from __future__ import annotations

import functools
import gzip
import io
import ipaddress
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import orjson

from telemetry import schema

# One line of telemetry larger than this is hostile or broken; we refuse it rather
# than hold it in memory (a k8s audit RequestResponse event is a few KiB).
MAX_LINE_BYTES = 1024 * 1024
# A pretty-printed document (docker inspect array, one audit Event) spans lines;
# it is held whole before decoding, so it gets its own, larger bound.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# Deeper JSON than this is not telemetry (a pod spec is ~10 deep); it also keeps
# the recursive walkers below and the database's JSON functions safe.
MAX_NESTING = 64

GZIP_MAGIC = b"\x1f\x8b"
# PostgreSQL text and jsonb cannot hold NUL characters; telemetry can contain them.
NUL_REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """One canonical event and the 1-based line of the input where its record starts."""

    line: int
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordError:
    """A record that could not become an event, and why. The stream goes on after it."""

    line: int
    reason: str


class RecordRejected(ValueError):
    """Raised by a format's conversion when a record cannot become an event."""


# --------------------------------------------------------------------------- values


def parse_time(value: Any, *, field: str = "time") -> datetime:
    """An aware UTC datetime from ISO 8601 text or an epoch number (s, ms, us or ns by magnitude)."""
    if value is None or value == "":
        raise RecordRejected(f"missing required field {field}")
    if isinstance(value, bool):
        raise RecordRejected(f"unparsable timestamp in {field}: {value!r}")
    if isinstance(value, int | float):
        return epoch_to_datetime(value, field=field)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER_RE.fullmatch(text):
            return epoch_to_datetime(float(text) if "." in text else int(text), field=field)
        parsed = _parse_iso(text)
        if parsed is not None:
            return parsed
    raise RecordRejected(f"unparsable timestamp in {field}: {str(value)[:80]!r}")


_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")
# Fractions longer than microseconds (Falco, k8s and Docker write nanoseconds) and
# "+0000" / " UTC" spellings are normalised before datetime.fromisoformat.
_ISO_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}(:\d{2})?)(?P<frac>[.,]\d+)?\s*(?P<tz>Z|UTC|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


def _parse_iso(text: str) -> datetime | None:
    match = _ISO_RE.fullmatch(text)
    if not match:
        return None
    frac = (match["frac"] or "")[1:7]
    tz = (match["tz"] or "Z").upper()
    if tz in ("Z", "UTC"):
        tz = "+00:00"
    elif ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    clock = match["clock"] if match["clock"].count(":") == 2 else f"{match['clock']}:00"
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{clock}{'.' + frac.ljust(6, '0') if frac else ''}{tz}")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def epoch_to_datetime(value: float, *, field: str = "time") -> datetime:
    """Epoch seconds, or milliseconds/microseconds/nanoseconds told apart by magnitude.

    Past 1e11 seconds is the year 5138, so a larger number is a finer unit.
    """
    number = abs(value)
    if number >= 1e17:
        seconds, micros = divmod(int(value) // 1000, 1_000_000)
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=micros)
        except OverflowError:  # past year 9999 (1e30): say so, not "Python int too large"
            raise RecordRejected(f"timestamp out of range in {field}: {value!r}")
    if number >= 1e14:
        value = value / 1e6
    elif number >= 1e11:
        value = value / 1e3
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise RecordRejected(f"timestamp out of range in {field}: {value!r}")


def to_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return int(value) if isinstance(value, bool) else None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and abs(value) < 2**63 else None
    if isinstance(value, str):
        text = value.strip()
        if not text or text in ("-", "(empty)"):
            return None
        try:
            return int(text, 0) if text.lower().startswith("0x") else int(float(text))
        except (ValueError, OverflowError):
            return None
    return None


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, default=str, separators=(",", ":"))
    if text == "":
        return None
    if "\x00" in text:
        text = text.replace("\x00", NUL_REPLACEMENT)
    if _CONTROL_RE.search(text):
        # Terminal escapes in a lifted field would drive an analyst's terminal or hide text
        # on a page; show them as visible escapes instead (the raw record keeps the original).
        text = _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text[: schema.MAX_STR_LEN]


_CONTROL_RE = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# Values outside these ranges are not what the field means (a port of 70000, an ICMP
# type of -1): the field is left unset and the raw record keeps what was sent.
_INT_RANGES = {
    "src_port": (0, 65535),
    "dst_port": (0, 65535),
    "icmp_type": (0, 255),
    "icmp_code": (0, 255),
    # Counts cannot be negative: a negative byte count would hide volume from the analytics.
    "bytes_out": (0, 2**63 - 1),
    "bytes_in": (0, 2**63 - 1),
    "packets_out": (0, 2**63 - 1),
    "packets_in": (0, 2**63 - 1),
    "memory_bytes": (0, 2**63 - 1),
    "process_pid": (0, 2**63 - 1),
}
_INT64 = (-(2**63), 2**63 - 1)


def build_event(*, time: Any, kind: str, raw: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A canonical event: `time` parsed, values coerced to the schema's types, unset fields left out."""
    if kind not in schema.KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if isinstance(time, datetime):
        # A naive datetime is UTC, as every producer here writes naive times in UTC.
        moment = time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC)
    else:
        moment = parse_time(time)
    event: dict[str, Any] = {"time": moment, "kind": kind}
    # Runs for every field of every event: one dict lookup tells the field's type, and
    # unset values (most of a parser's keyword arguments) stop right after it.
    for name, value in fields.items():
        rule = _FIELD_COERCION.get(name)
        if rule is None:
            raise ValueError(f"not a canonical field: {name}")
        if value is None:
            continue  # every coercion maps None to None
        coerce, bounds = rule
        if coerce is to_str and type(value) is str and value.isprintable():
            # No NUL, control or terminal-escape character can be in a printable string.
            coerced = value[: schema.MAX_STR_LEN] if value else None
        else:
            coerced = coerce(value)
            if bounds is not None and coerced is not None and not bounds[0] <= coerced <= bounds[1]:
                coerced = None
        if coerced is not None:
            event[name] = coerced
    event["raw"] = raw
    return event


@functools.lru_cache(maxsize=65_536)
def to_ip(value: Any) -> str | None:
    """An IP address in its normal text form, or None: "X10.0.0.238" is not an address.

    Cached because addresses repeat heavily within telemetry; detections compare these
    columns with CIDRs and indicator lists, so only real addresses may reach them.
    """
    text = value if isinstance(value, str) else to_str(value)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text.strip().split("%", 1)[0]))  # drop an IPv6 zone id (fe80::1%eth0)
    except ValueError:
        return None


_IP_FIELDS = frozenset({"src_ip", "dst_ip"})

# canonical field -> (coercion, (low, high) for integers); time, kind and raw are build_event's own arguments.
_FIELD_COERCION: dict[str, tuple[Any, tuple[int, int] | None]] = {
    name: (
        (to_int, _INT_RANGES.get(name, _INT64))
        if name in schema.INT_FIELDS
        else (to_float, None)
        if name in schema.FLOAT_FIELDS
        else (to_bool, None)
        if name in schema.BOOL_FIELDS
        else (to_ip, None)
        if name in _IP_FIELDS
        else (to_str, None)
    )
    for name in schema.CANONICAL_FIELDS
    if name not in ("time", "kind", "raw")
}


def dig(obj: Any, path: str | Iterable[str], default: Any = None) -> Any:
    """obj["a"]["b"] for path "a.b" (or a list of keys), tolerating missing levels and non-dicts."""
    keys = path.split(".") if isinstance(path, str) else path
    for key in keys:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        else:
            return default
        if obj is None:
            return default
    return obj


def first(*values: Any) -> Any:
    """The first value that is neither None nor empty."""
    for value in values:
        if value not in (None, "", [], {}):
            return value
    return None


def nesting_depth_exceeds(obj: Any, limit: int = MAX_NESTING) -> bool:
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((value, depth + 1) for value in item.values() if isinstance(value, dict | list))
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item if isinstance(value, dict | list))
    return False


# --------------------------------------------------------------------------- streams


def open_stream(fileobj: IO[bytes] | IO[str] | bytes) -> IO[bytes] | IO[str]:
    """A stream to read lines from: gunzipped when it starts with the gzip magic bytes,
    decoded when it starts with a UTF-16 byte order mark (PowerShell's default export)."""
    if isinstance(fileobj, bytes | bytearray):
        fileobj = io.BytesIO(fileobj)
    if isinstance(fileobj, io.TextIOBase):
        buffer = getattr(fileobj, "buffer", None)
        if buffer is None:
            return fileobj  # already text (io.StringIO): nothing to sniff
        fileobj = buffer
    if not hasattr(fileobj, "peek"):
        fileobj = io.BufferedReader(_RawReader(fileobj))
    if fileobj.peek(2)[:2] == GZIP_MAGIC:
        fileobj = io.BufferedReader(gzip.GzipFile(fileobj=fileobj, mode="rb"))
    if fileobj.peek(2)[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return io.TextIOWrapper(fileobj, encoding="utf-16", errors="replace", newline="")
    return fileobj


class _RawReader(io.RawIOBase):
    """Lets io.BufferedReader buffer (and peek into) an object that only has read(), e.g. a request body."""

    def __init__(self, fileobj) -> None:
        self._file = fileobj
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._left or self._file.read(len(buffer))
        if isinstance(chunk, str):  # a text stream without .buffer
            chunk = chunk.encode("utf-8")
        size = min(len(buffer), len(chunk))
        buffer[:size] = chunk[:size]
        self._left = chunk[size:]
        return size


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    text: str | None  # None when the line was refused (too long); `error` says why
    error: str | None = None


@dataclass
class DecodingNotes:
    """What decoding a stream had to repair: lines that were not valid UTF-8.

    Such lines are kept, with U+FFFD for the bytes that are not UTF-8, rather than rejected:
    real hosts write Latin-1 file names and command lines, and an attacker must not be able
    to hide an event by putting one bad byte in it. The repair is reported instead.
    """

    invalid_utf8_lines: int = 0
    first_invalid_utf8_line: int | None = None

    def note_invalid_utf8(self, line: int) -> None:
        self.invalid_utf8_lines += 1
        if self.first_invalid_utf8_line is None:
            self.first_invalid_utf8_line = line


def iter_lines(stream: IO[bytes] | IO[str], notes: DecodingNotes | None = None) -> Iterator[Line]:
    """Decoded lines (without the newline), numbered from 1; an over-long line is reported, not held."""
    number = 0
    first_line = True
    while True:
        try:
            chunk = stream.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error, UnicodeError) as exc:  # gzip.BadGzipFile is an OSError
            yield Line(number + 1, None, f"unreadable input: {exc}")
            return
        if not chunk:
            return
        number += 1
        newline = b"\n" if isinstance(chunk, bytes) else "\n"
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(newline):
            # Drain the rest of the line without keeping it.
            while True:
                more = stream.readline(MAX_LINE_BYTES)
                if not more or more.endswith(newline):
                    break
            yield Line(number, None, f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        if isinstance(chunk, bytes):
            if first_line and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                text = chunk.decode("utf-8", errors="replace")
                if notes is not None:
                    notes.note_invalid_utf8(number)
        else:
            text = chunk.removeprefix("\ufeff") if first_line else chunk
        first_line = False
        if "\x00" in text:
            text = text.replace("\x00", NUL_REPLACEMENT)
        yield Line(number, text.rstrip("\r\n"))


@dataclass(frozen=True, slots=True)
class JsonValue:
    line: int
    value: Any


def iter_json_values(lines: Iterable[Line]) -> Iterator[JsonValue | RecordError]:
    """JSON values from NDJSON, one (pretty-printed) object or array, or several in a row.

    A top-level array yields its elements, each with the line where it starts.
    A bad line yields a RecordError and the next line starts afresh, so one broken
    record in an NDJSON file costs that record only. A line that does not parse
    opens a multi-line document only when it looks like the start of one ("{" or
    "[" alone, as every pretty-printer writes it); a document that never closes has
    each of its lines read or rejected on its own.
    """
    pending: list[str] = []
    pending_start = 0
    pending_bytes = 0
    oversized = False  # drop the rest of a document past MAX_DOCUMENT_BYTES
    scanner = _DepthScanner()
    for line in lines:
        if line.text is None:
            if pending or oversized:
                if pending:
                    yield RecordError(pending_start, f"unterminated JSON document ({line.error} at line {line.number})")
                pending, oversized, scanner = [], False, _DepthScanner()
            else:
                yield RecordError(line.number, line.error or "unreadable line")
            continue
        if pending and pending[0].lstrip().startswith("{") and line.text.startswith('{"'):
            # A record starting at column 0 while an object is open: pretty-printers put
            # "{" alone on its line (and indent nested content), so the open one was a
            # truncated record; its lines are judged one by one.
            yield from _each_line(pending, pending_start)
            pending, scanner = [], _DepthScanner()
        if not pending and not oversized:
            text = line.text.strip()
            if not text:
                continue
            try:
                value = _loads(text)
            except RecursionError:
                yield RecordError(line.number, f"JSON nested deeper than {MAX_NESTING} levels")
                continue
            except ValueError as exc:
                scanner = _DepthScanner()
                state = scanner.feed(line.text)
                # Only "{" or "[" alone on a line (as every pretty-printer writes it) opens a
                # multi-line document: otherwise 5,000 broken NDJSON lines would merge into
                # one "document" and be reported as a handful of rejections.
                opens_document = text in ("{", "[", "[{", "[ {")
                if state == "open" and opens_document:
                    pending, pending_start, pending_bytes = [line.text], line.number, len(line.text)
                    continue
                yield RecordError(line.number, f"invalid JSON: {_json_error(exc)}")
                continue
            # Nesting deeper than MAX_NESTING needs more than MAX_NESTING brackets (counting
            # those inside strings only overestimates), so most records skip the walk.
            may_be_deep = text.count("{") + text.count("[") > MAX_NESTING
            yield from _values_of(value, line.number, "\\u0000" in text, may_be_deep)
            continue
        state = scanner.feed(line.text)
        if oversized:
            if state != "open":
                oversized, scanner = False, _DepthScanner()
            continue
        pending.append(line.text)
        pending_bytes += len(line.text) + 1
        if pending_bytes > MAX_DOCUMENT_BYTES:
            yield RecordError(pending_start, f"JSON document larger than {MAX_DOCUMENT_BYTES} bytes")
            pending, oversized = [], state == "open"
            continue
        if state == "open":
            continue
        document = "\n".join(pending)
        start = pending_start
        pending = []
        if state == "error":  # not a document after all: each of its lines is judged alone
            yield from _each_line(document.split("\n"), start)
            continue
        yield from _decode_document(document, start)
    if pending:
        yield from _each_line(pending, pending_start)


def _each_line(texts: list[str], start_line: int) -> Iterator[JsonValue | RecordError]:
    """Lines that opened a document which never closed properly, each read (or rejected) on its own."""
    for offset, raw_text in enumerate(texts):
        text = raw_text.strip()
        if not text:
            continue
        number = start_line + offset
        if text in ("{", "[", "[{", "[ {"):
            yield RecordError(number, "invalid JSON: document opened here is not closed")
            continue
        try:
            value = _loads(text)
        except RecursionError:
            yield RecordError(number, f"JSON nested deeper than {MAX_NESTING} levels")
            continue
        except ValueError as exc:
            yield RecordError(number, f"invalid JSON: {_json_error(exc)}")
            continue
        yield from _values_of(value, number, "\\u0000" in text, True)


def _values_of(value: Any, line: int, has_nul: bool, may_be_deep: bool) -> Iterator[JsonValue | RecordError]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        yield _checked(item, line, has_nul, may_be_deep)


def _checked(item: Any, line: int, has_nul: bool = True, may_be_deep: bool = True) -> JsonValue | RecordError:
    if not isinstance(item, dict):
        return RecordError(line, f"expected a JSON object, got {type(item).__name__}")
    if may_be_deep and nesting_depth_exceeds(item):
        return RecordError(line, f"JSON nested deeper than {MAX_NESTING} levels")
    return JsonValue(line, _without_nul(item) if has_nul else item)


def _without_nul(value: Any) -> Any:
    """The value with NUL characters (JSON "\\u0000") replaced in every key and string."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_REPLACEMENT) if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity by default; they are not JSON and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float | str:
    # A literal past a double's range (1e400) would become inf, which JSON cannot store
    # (orjson writes it as null, json as Infinity): two different records would collapse
    # into one fingerprint, or fail to store. It is kept as the text the producer wrote.
    number = float(text)
    return number if math.isfinite(number) else text


def _parse_int(text: str) -> int | str:
    # Python refuses to convert more than 4300 digits (sys.get_int_max_str_digits): past
    # that the literal is kept as text rather than losing the whole record.
    return int(text) if len(text) <= 4300 else text


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int)


# orjson decodes a record ~3x faster than json, but it reads an integer outside
# [-2**63, 2**64) as a float (a changed value, hence a changed fingerprint). Such a
# literal has 20 digits, or 19 after a minus sign: lines that contain one (digits
# inside strings included, which only costs speed) go to json, as does every line
# orjson refuses, so values, NaN/Infinity rejections, lone surrogates, 1e400 and the
# error messages stay exactly json's.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_INTEGER = b"0" * 20
_LONG_NEGATIVE_INTEGER = b"-" + b"0" * 19


def _loads(text: str) -> Any:
    digits = text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)
    if _LONG_INTEGER not in digits and _LONG_NEGATIVE_INTEGER not in digits:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _DECODER.decode(text)


_WS = re.compile(r"[ \t\r\n]*")


def _decode_document(document: str, start_line: int) -> Iterator[JsonValue | RecordError]:
    """Decode a multi-line document; elements of a top-level array keep their own line numbers."""
    pos = _WS.match(document, 0).end()
    has_nul = "\\u0000" in document
    counted_to, line = 0, start_line

    def line_at(position: int) -> int:
        # Counted incrementally: recounting from 0 per element is quadratic on big arrays.
        nonlocal counted_to, line
        line += document.count("\n", counted_to, position)
        counted_to = position
        return line

    try:
        if document.startswith("[", pos):
            pos = _WS.match(document, pos + 1).end()
            if document.startswith("]", pos):
                return
            while True:
                item_line = line_at(pos)
                item, pos = _DECODER.raw_decode(document, pos)
                yield _checked(item, item_line, has_nul)
                pos = _WS.match(document, pos).end()
                if document.startswith(",", pos):
                    pos = _WS.match(document, pos + 1).end()
                    continue
                if document.startswith("]", pos):
                    return
                raise json.JSONDecodeError("Expecting ',' delimiter", document, pos)
        while pos < len(document):
            item_line = line_at(pos)
            item, pos = _DECODER.raw_decode(document, pos)
            yield _checked(item, item_line, has_nul)
            pos = _WS.match(document, pos).end()
    except RecursionError:
        yield RecordError(start_line, f"JSON nested deeper than {MAX_NESTING} levels")
    except json.JSONDecodeError as exc:
        yield RecordError(line_at(max(exc.pos, counted_to)), f"invalid JSON: {_json_error(exc)}")
    except ValueError as exc:  # NaN/Infinity
        yield RecordError(start_line, f"invalid JSON: {exc}")


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (column {exc.colno})"
    return str(exc)


class _DepthScanner:
    """Tracks bracket depth across lines (outside strings) to find where a document ends."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def feed(self, text: str) -> str:
        for char in text:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
                if self.depth > MAX_NESTING:
                    return "error"
            elif char in "}]":
                self.depth -= 1
                if self.depth < 0:
                    return "error"
        return "open" if self.depth > 0 or self.in_string else "closed"


# --------------------------------------------------------------------------- parsers


class Parser:
    """Base of every format's parser.

    Subclasses implement `expand` (one decoded record -> the records inside it,
    e.g. an EventList's items) and `convert` (one record -> event dicts), and
    override `parse_lines` when the format is not JSON (Zeek TSV, Prometheus text,
    auditd text, XML). A parser instance holds per-stream state (cAdvisor rates,
    auditd serial groups): use one instance per stream, as get_parser gives.
    """

    format_name = ""

    def __init__(self, field_map: dict[str, str] | None = None) -> None:
        self.field_map = field_map or {}
        self.notes = DecodingNotes()  # filled while parse_stream reads

    # The public entry points -------------------------------------------------

    def parse_stream(self, fileobj: IO[bytes] | bytes) -> Iterator[ParsedRecord | RecordError]:
        stream = open_stream(fileobj)
        yield from self.parse_lines(iter_lines(stream, self.notes))

    def parse_object(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """One decoded JSON record -> its canonical events; raises RecordRejected if it cannot be read."""
        if not isinstance(obj, dict):
            raise RecordRejected(f"expected a JSON object, got {type(obj).__name__}")
        events: list[dict[str, Any]] = []
        for record in self.expand(obj):
            events.extend(self.convert(record))
        return events

    # What formats implement ---------------------------------------------------

    def expand(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        return [obj]

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def parse_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        yield from self.parse_json_lines(lines)

    # Helpers for subclasses -----------------------------------------------------

    def parse_json_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        for item in iter_json_values(lines):
            if isinstance(item, RecordError):
                yield item
                continue
            try:
                records = self.expand(item.value)
            except Exception as exc:  # one bad record must not stop the stream
                yield RecordError(item.line, describe(exc))
                continue
            for record in records:
                yield from self.records_from(item.line, record)

    def records_from(self, line: int, record: dict[str, Any]) -> Iterator[ParsedRecord | RecordError]:
        try:
            events = self.convert(record)
        except Exception as exc:  # one bad record must not stop the stream
            yield RecordError(line, describe(exc))
            return
        for event in events:
            yield ParsedRecord(line, event)


def describe(exc: Exception) -> str:
    if isinstance(exc, RecordRejected):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:500]


def peek_first_text(lines: Iterable[Line]) -> tuple[str | None, Iterator[Line]]:
    """The first non-blank line's stripped text, and the lines iterator with nothing consumed."""
    iterator = iter(lines)
    seen: list[Line] = []
    first_text = None
    for line in iterator:
        seen.append(line)
        if line.text is not None and line.text.strip():
            first_text = line.text.strip()
            break

    def chained() -> Iterator[Line]:
        yield from seen
        yield from iterator

    return first_text, chained()
