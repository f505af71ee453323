"""Linux process events: Sysmon for Linux (XML or JSON) and auditd (raw audit.log text or JSON).

auditd writes one event as several records (SYSCALL, EXECVE, CWD, PATH, PROCTITLE,
EOE) sharing `msg=audit(<epoch>:<serial>)`; we group them by that id and emit one
event per group: an exec group (EXECVE record, or an execve SYSCALL) becomes a
`process` event, any other group (logins, config changes, other syscalls) an
`other` event with action = its record type, so nothing is lost.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from .base import Line, ParsedRecord, Parser, RecordError, RecordRejected, build_event, dig, first, peek_first_text
from .winevent import iter_xml_records, normalise, win_event_to_canonical

_SYSMON_PROCESS_IDS = frozenset({("sysmon", 1)})

_RECORD_RE = re.compile(
    r"^(?:node=(?P<node>\S+)\s+)?type=(?P<type>\S+)\s+msg=audit\((?P<ts>\d+(?:\.\d+)?):(?P<serial>\d+)\):?\s*(?P<body>.*)$"
)
_KV_RE = re.compile(r"([\w\-\[\]]+)=(\"[^\"]*\"|'[^']*'|\S*)")
_HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_AUDIT_ID_RE = re.compile(r"audit\((\d+(?:\.\d+)?):(\d+)\)")
# Fields auditd hex-encodes (unquoted) when the value holds spaces, quotes or control bytes.
_UNTRUSTED = frozenset({"exe", "comm", "cwd", "name", "proctitle", "acct", "cmd", "data", "path", "old", "new"})
_EXEC_SYSCALLS = frozenset({"execve", "execveat"})
# x86_64 execve=59, execveat=322; i386 execve=11; aarch64 execve=221.
_EXEC_SYSCALL_NUMBERS = {"c000003e": {"59", "322"}, "40000003": {"11", "358"}, "c00000b7": {"221", "281"}}
_SUPPORTING_TYPES = frozenset({"SYSCALL", "CWD", "PATH", "PROCTITLE", "EOE", "SOCKADDR", "EXECVE", "BPRM_FCAPS"})
# Groups left open when this many newer ones are waiting are complete in practice:
# auditd writes an event's records together, interleaving only briefly.
_MAX_OPEN_GROUPS = 32
_MAX_RECORDS_PER_GROUP = 512


def _decode(key: str, value: str, record_type: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    untrusted = key in _UNTRUSTED or (record_type == "EXECVE" and re.fullmatch(r"a\d+(\[\d+\])?", key))
    if untrusted and _HEX_RE.match(value):
        try:
            return bytes.fromhex(value).decode("utf-8", errors="replace").replace("\x00", " ").strip()
        except ValueError:
            return value
    return value


def parse_audit_line(text: str) -> dict[str, Any]:
    """One audit.log line -> {"type", "ts", "serial", "node", fields...}; msg='...' fields are merged in."""
    enriched = ""
    if "\x1d" in text:  # log_format=ENRICHED appends resolved names after a GS byte
        text, _, enriched = text.partition("\x1d")
    match = _RECORD_RE.match(text.strip())
    if not match:
        if text.startswith(("type=", "node=")):
            raise RecordRejected("audit record without a msg=audit(<time>:<serial>) id")
        raise RecordRejected("not an audit record (expected type=... msg=audit(<time>:<serial>): ...)")
    record_type = match["type"]
    record: dict[str, Any] = {"type": record_type, "ts": match["ts"], "serial": match["serial"]}
    if match["node"]:
        record["node"] = match["node"]
    for body in (match["body"], enriched):
        for key, value in _KV_RE.findall(body):
            if key == "msg" and value.startswith("'"):
                for inner_key, inner_value in _KV_RE.findall(value[1:-1]):
                    record.setdefault(inner_key, _decode(inner_key, inner_value, record_type))
                continue
            record.setdefault(key, _decode(key, value, record_type))
    return record


def _argv(execve: dict[str, Any]) -> list[str]:
    """a0..aN, joining long arguments split as aN[0], aN[1], ... (aN_len=)."""
    argc = int(execve["argc"]) if str(execve.get("argc", "")).isdigit() else None
    args: list[str] = []
    index = 0
    while argc is None or index < argc:
        key = f"a{index}"
        if key in execve:
            args.append(str(execve[key]))
        elif f"{key}[0]" in execve:
            parts, part = [], 0
            while f"{key}[{part}]" in execve:
                parts.append(str(execve[f"{key}[{part}]"]))
                part += 1
            args.append("".join(parts))
        else:
            break
        index += 1
    return args


def _is_exec_syscall(syscall: dict[str, Any]) -> bool:
    number = str(syscall.get("syscall", ""))
    if number in _EXEC_SYSCALLS:
        return True
    arch = str(syscall.get("arch", "")).lower().removeprefix("0x")
    return number in _EXEC_SYSCALL_NUMBERS.get(arch, ())


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def audit_group_to_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One auditd event (its records, in order) -> a canonical event."""
    by_type: dict[str, dict[str, Any]] = {}
    for record in records:
        by_type.setdefault(record["type"], record)
    syscall = by_type.get("SYSCALL", {})
    execve = by_type.get("EXECVE")
    head = records[0]
    raw = {"id": f"{head['ts']}:{head['serial']}", "records": records}
    primary = next((r for r in records if r["type"] not in _SUPPORTING_TYPES), None)
    subject = primary or syscall or head
    host = first(*(r.get("node") for r in records))
    user = first(syscall.get("UID"), subject.get("UID"), syscall.get("uid"), subject.get("acct"), subject.get("uid"))
    proctitle = by_type.get("PROCTITLE", {}).get("proctitle")

    if execve is not None or (syscall and _is_exec_syscall(syscall)):
        argv = _argv(execve) if execve else []
        command_line = " ".join(argv) if argv else proctitle
        exe = first(syscall.get("exe"), dig(by_type, "PATH.name"))
        return build_event(
            time=head["ts"],
            kind="process",
            raw=raw,
            action="execve",
            message=f"execve {command_line or exe or '?'}" + (f" (uid {user})" if user else ""),
            host=host,
            process_image=exe,
            process_command_line=command_line,
            process_user=user,
            process_pid=syscall.get("pid"),
        )
    action = primary["type"] if primary else ("SYSCALL" if syscall else head["type"])
    detail = first(subject.get("op"), syscall.get("syscall") and f"syscall {syscall.get('syscall')}")
    address = subject.get("addr")
    return build_event(
        time=head["ts"],
        kind="other",
        raw=raw,
        action=action,
        message=f"{action} {detail or ''} {subject.get('res') or ''}".strip(),
        host=host,
        process_image=first(subject.get("exe"), syscall.get("exe")),
        process_command_line=proctitle,
        process_user=user,
        process_pid=first(subject.get("pid"), syscall.get("pid")),
        src_ip=address if _is_ip(address) else None,
    )


class LinuxProcessParser(Parser):
    format_name = "linux_process"

    def parse_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        first_text, lines = peek_first_text(lines)
        if first_text is None:
            return
        if first_text.startswith("<"):
            for item in iter_xml_records(lines):
                if isinstance(item, RecordError):
                    yield item
                else:
                    yield from self.records_from(*item)
        elif first_text.startswith(("{", "[")):
            yield from self._parse_json(lines, first_text)
        else:
            yield from self._parse_audit_text(lines)

    # auditd text ---------------------------------------------------------------

    def _parse_audit_text(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        groups = _AuditGroups()
        for line in lines:
            if line.text is None:
                yield RecordError(line.number, line.error or "unreadable line")
                continue
            if not line.text.strip():
                continue
            if line.text.startswith("----"):
                # ausearch's separator between complete events.
                yield from self._emit(groups.flush_all())
                continue
            try:
                record = parse_audit_line(line.text)
            except RecordRejected as exc:
                yield RecordError(line.number, str(exc))
                continue
            yield from self._emit(groups.add(line.number, record))
        yield from self._emit(groups.flush_all())

    def _emit(self, groups: list[tuple[int, list[dict[str, Any]]]]) -> Iterator[ParsedRecord | RecordError]:
        for line, records in groups:
            try:
                yield ParsedRecord(line, audit_group_to_event(records))
            except Exception as exc:  # one bad group must not stop the stream
                yield RecordError(line, str(exc) if isinstance(exc, RecordRejected) else f"{type(exc).__name__}: {exc}")

    # JSON: Sysmon field names, laurel, auditbeat, or one audit record per object ---

    def _parse_json(self, lines: Iterable[Line], first_text: str) -> Iterator[ParsedRecord | RecordError]:
        if _json_audit_record(first_text) is None:
            yield from self.parse_json_lines(lines)
            return
        # One raw audit record per line ({"type": "SYSCALL", "msg": "audit(...)", ...}):
        # such records only make sense grouped, like the text form.
        groups = _AuditGroups()
        for line in lines:
            if line.text is None:
                yield RecordError(line.number, line.error or "unreadable line")
                continue
            if not line.text.strip():
                continue
            record = _json_audit_record(line.text)
            if record is None:
                yield RecordError(line.number, "not a JSON audit record (expected type and msg=audit(<time>:<serial>))")
                continue
            yield from self._emit(groups.add(line.number, record))
        yield from self._emit(groups.flush_all())

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        audit_record = _audit_record_from_object(record)
        if audit_record is not None:  # one raw audit record given alone: an event of one record
            return [audit_group_to_event([audit_record])]
        if isinstance(record.get("SYSCALL"), dict) or isinstance(record.get("EXECVE"), dict):
            return [_laurel_to_event(record)]
        if isinstance(record.get("process"), dict) and (
            isinstance(record.get("auditd"), dict) or "@timestamp" in record
        ):
            return [_auditbeat_to_event(record)]
        return [win_event_to_canonical(normalise(record), record, process_ids=_SYSMON_PROCESS_IDS)]


class _AuditGroups:
    """Open auditd events by id, flushed on EOE, when too many are open, or at the end."""

    def __init__(self) -> None:
        self.open: OrderedDict[str, tuple[int, list[dict[str, Any]]]] = OrderedDict()
        self.done: list[tuple[int, list[dict[str, Any]]]] = []

    def add(self, line: int, record: dict[str, Any]) -> list[tuple[int, list[dict[str, Any]]]]:
        key = f"{record['ts']}:{record['serial']}"
        if key not in self.open:
            self.open[key] = (line, [])
        records = self.open[key][1]
        if record["type"] != "EOE":
            records.append(record)
        if record["type"] == "EOE" or len(records) >= _MAX_RECORDS_PER_GROUP:
            self.done.append(self.open.pop(key))
        while len(self.open) > _MAX_OPEN_GROUPS:
            self.done.append(self.open.popitem(last=False)[1])
        return self.ready()

    def ready(self) -> list[tuple[int, list[dict[str, Any]]]]:
        done, self.done = [g for g in self.done if g[1]], []
        return done

    def flush_all(self) -> list[tuple[int, list[dict[str, Any]]]]:
        self.done.extend(self.open.values())
        self.open.clear()
        return self.ready()


def _json_audit_record(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return _audit_record_from_object(obj)


def _audit_record_from_object(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("msg"), str):
        return None
    match = _AUDIT_ID_RE.search(obj["msg"])
    if not match or not isinstance(obj.get("type"), str):
        return None
    record = {k: v for k, v in obj.items() if k != "msg"}
    record["ts"], record["serial"] = match.group(1), match.group(2)
    return record


def _laurel_to_event(record: dict[str, Any]) -> dict[str, Any]:
    """laurel: {"ID": "<ts>:<serial>", "SYSCALL": {...}, "EXECVE": {"ARGV": [...]}, "PROCTITLE": {"ARGV": [...]}}."""
    audit_id = str(record.get("ID") or "")
    timestamp, _, serial = audit_id.partition(":")
    if not timestamp:
        raise RecordRejected("missing required field ID (<time>:<serial>)")
    records: list[dict[str, Any]] = []
    for record_type, value in record.items():
        if record_type == "ID":
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                continue
            flat = {"type": record_type, "ts": timestamp, "serial": serial, **item}
            argv = item.get("ARGV")
            if isinstance(argv, list):
                flat.pop("ARGV")
                if record_type == "PROCTITLE":
                    flat["proctitle"] = " ".join(str(a) for a in argv)
                else:
                    flat.update({f"a{i}": str(a) for i, a in enumerate(argv)})
                    flat.setdefault("argc", str(len(argv)))
            records.append(flat)
    event = audit_group_to_event(records)
    event["raw"] = record
    return event


def _auditbeat_to_event(record: dict[str, Any]) -> dict[str, Any]:
    """Auditbeat (ECS): process.executable/args/pid, user.name, host.name, event.action."""
    process = record["process"]
    args = process.get("args")
    command_line = " ".join(str(a) for a in args) if isinstance(args, list) and args else process.get("title")
    action = dig(record, "event.action") or dig(record, "auditd.message_type")
    is_exec = action in ("executed", "exec", "execve") or dig(record, "auditd.data.syscall") in _EXEC_SYSCALLS
    time_value = first(record.get("@timestamp"), record.get("timestamp"))
    if time_value is None:
        raise RecordRejected("missing required field @timestamp")
    return build_event(
        time=time_value,
        kind="process" if is_exec else "other",
        raw=record,
        action="execve" if is_exec else action,
        message=first(record.get("message"), f"{action or 'event'} {process.get('executable') or ''}".strip()),
        host=first(dig(record, "host.name"), dig(record, "host.hostname")),
        process_image=process.get("executable"),
        process_command_line=command_line,
        process_parent_image=dig(process, "parent.executable"),
        process_user=first(
            dig(record, "user.name"), dig(record, "auditd.summary.actor.primary"), dig(record, "user.id")
        ),
        process_pid=process.get("pid"),
    )
