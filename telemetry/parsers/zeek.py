"""Zeek conn.log and dns.log, as TSV (with #fields/#types headers) or JSON lines.

The TSV reader turns each row into the same dict Zeek's JSON writer would
produce (typed values, dotted field names), so one conversion serves both.
Not for other Zeek logs: add a format when a detection needs one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .base import (
    NUL_REPLACEMENT,
    Line,
    ParsedRecord,
    Parser,
    RecordError,
    RecordRejected,
    build_event,
    first,
    peek_first_text,
)

_HEX_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_INT_TYPES = frozenset({"count", "int", "port"})
_FLOAT_TYPES = frozenset({"time", "interval", "double"})

# (local_orig, local_resp) -> ECS network.direction
_DIRECTIONS = {
    (True, True): "internal",
    (True, False): "outbound",
    (False, True): "inbound",
    (False, False): "external",
}


def _unescape(text: str) -> str:
    """Zeek writes the separator and non-printable bytes as \\xHH; NUL stays visible (PostgreSQL refuses it)."""
    if "\\x" not in text:
        return text
    return _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) != "00" else NUL_REPLACEMENT, text)


class _TsvHeader:
    def __init__(self) -> None:
        self.separator = "\t"
        self.set_separator = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.fields: list[str] = []
        self.types: list[str] = []

    def directive(self, text: str) -> None:
        if text.startswith("#separator"):
            # "#separator \x09": the only directive written with a space and an escape.
            self.separator = _unescape(text[len("#separator") :].strip()) or "\t"
            return
        name, _, value = text[1:].partition(self.separator)
        if name == "set_separator":
            self.set_separator = _unescape(value)
        elif name == "empty_field":
            self.empty = value
        elif name == "unset_field":
            self.unset = value
        elif name == "fields":
            self.fields = value.split(self.separator)
            self.types = []
        elif name == "types":
            self.types = value.split(self.separator)

    def row(self, text: str) -> dict[str, Any]:
        values = text.split(self.separator)
        if len(values) != len(self.fields):
            raise RecordRejected(f"wrong column count: {len(values)} values for {len(self.fields)} #fields")
        types = self.types if len(self.types) == len(self.fields) else [""] * len(self.fields)
        record: dict[str, Any] = {}
        for name, zeek_type, value in zip(self.fields, types, values, strict=True):
            if value == self.unset:
                continue
            record[name] = self._typed(zeek_type, value)
        return record

    def _typed(self, zeek_type: str, value: str) -> Any:
        if zeek_type.startswith(("set[", "vector[", "table[")):
            if value == self.empty:
                return []
            inner = zeek_type[zeek_type.index("[") + 1 : -1]
            return [self._typed(inner, item) for item in value.split(self.set_separator)]
        if value == self.empty and zeek_type in ("string", ""):
            return ""
        try:
            if zeek_type in _INT_TYPES:
                return int(value)
            if zeek_type in _FLOAT_TYPES:
                number = float(value)
                # inf/nan have no JSON form: keep what the sensor wrote (see base._parse_float).
                return number if math.isfinite(number) else value
        except ValueError:
            raise RecordRejected(f"bad {zeek_type} value {value[:40]!r}")
        if zeek_type == "bool":
            return value == "T"
        return _unescape(value)


class ZeekParser(Parser):
    """Reads TSV or JSON by the first line; subclasses say how a row becomes an event."""

    def parse_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        first_text, lines = peek_first_text(lines)
        if first_text is not None and first_text.startswith("#"):
            yield from self._parse_tsv(lines)
        else:
            yield from self.parse_json_lines(lines)

    def _parse_tsv(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        header = _TsvHeader()
        for line in lines:
            if line.text is None:
                yield RecordError(line.number, line.error or "unreadable line")
                continue
            if not line.text:
                continue
            if line.text.startswith("#"):
                header.directive(line.text)
                continue
            if not header.fields:
                yield RecordError(line.number, "data row before the #fields header")
                continue
            try:
                record = header.row(line.text)
            except RecordRejected as exc:
                yield RecordError(line.number, str(exc))
                continue
            yield from self.records_from(line.number, record)


def _get(record: dict[str, Any], dotted: str) -> Any:
    """Zeek JSON writes "id.orig_h" flat; some shippers nest it as {"id": {"orig_h": ...}}."""
    if dotted in record:
        return record[dotted]
    head, _, tail = dotted.partition(".")
    inner = record.get(head)
    return inner.get(tail) if isinstance(inner, dict) else None


def _time(record: dict[str, Any]) -> Any:
    value = record.get("ts")
    if value is None:
        raise RecordRejected("missing required field ts")
    return value


class ZeekConnParser(ZeekParser):
    format_name = "zeek_conn"

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        if record.get("_path") not in (None, "conn", "open_conn"):
            raise RecordRejected(f"not a conn.log record (_path {record.get('_path')!r})")
        protocol = str(record["proto"]).lower() if record.get("proto") else None
        local_orig, local_resp = record.get("local_orig"), record.get("local_resp")
        direction = (
            _DIRECTIONS.get((local_orig, local_resp))
            if isinstance(local_orig, bool) and isinstance(local_resp, bool)
            else None
        )
        src_ip, dst_ip = _get(record, "id.orig_h"), _get(record, "id.resp_h")
        src_port, dst_port = _get(record, "id.orig_p"), _get(record, "id.resp_p")
        is_icmp = protocol in ("icmp", "icmp6", "ipv6-icmp")
        return [
            build_event(
                time=_time(record),
                kind="network",
                raw=record,
                action=record.get("conn_state"),
                message=f"{protocol or '?'} {src_ip}:{src_port} -> {dst_ip}:{dst_port} {record.get('conn_state') or ''}".strip(),
                host=record.get("_node_name"),
                src_ip=src_ip,
                # Zeek keeps ICMP type/code in the port columns; they stay there (as Zeek
                # and the schema describe them) and are also lifted to icmp_type/icmp_code.
                src_port=src_port,
                dst_ip=dst_ip,
                dst_port=dst_port,
                protocol=protocol,
                direction=direction,
                # Payload bytes only (the schema's unit): orig_ip_bytes counts IP headers
                # too, so it stays in raw rather than filling an unset orig_bytes.
                bytes_out=record.get("orig_bytes"),
                bytes_in=record.get("resp_bytes"),
                packets_out=record.get("orig_pkts"),
                packets_in=record.get("resp_pkts"),
                icmp_type=src_port if is_icmp else None,
                icmp_code=dst_port if is_icmp else None,
            )
        ]


class ZeekDnsParser(ZeekParser):
    format_name = "zeek_dns"

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        if record.get("_path") not in (None, "dns"):
            raise RecordRejected(f"not a dns.log record (_path {record.get('_path')!r})")
        query = record.get("query")
        answers = record.get("answers")
        answer_text = ",".join(str(a) for a in answers) if isinstance(answers, list) else None
        rcode = first(record.get("rcode_name"), record.get("rcode"))
        return [
            build_event(
                time=_time(record),
                kind="dns",
                raw=record,
                action=rcode,
                message=f"{record.get('qtype_name') or 'query'} {query or '?'} -> {rcode or 'no reply'}"
                + (f" {answer_text}" if answer_text else ""),
                host=record.get("_node_name"),
                dns_query=query,
                src_ip=_get(record, "id.orig_h"),
                src_port=_get(record, "id.orig_p"),
                dst_ip=_get(record, "id.resp_h"),
                dst_port=_get(record, "id.resp_p"),
                protocol=str(record["proto"]).lower() if record.get("proto") else None,
            )
        ]
