"""Windows-event-shaped records (Windows Sysmon, Security, Sysmon for Linux) in XML or JSON.

Reads the event XML schema (`<Event><System/><EventData><Data Name=...>`) safely
and streamingly, and normalises the JSON shapes shippers produce (flattened
NXLog/OTRF lines, Winlogbeat `winlog.*`, EVTX-to-JSON `Event.System`) to one
view: event id, event data fields, system fields. The Sysmon/4688 field mapping
to canonical events lives here too, because Linux and Windows Sysmon share it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - DOCTYPE/ENTITY refused before parsing (see iter_xml_records)
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .base import MAX_NESTING, Line, RecordError, RecordRejected, build_event, dig, first, to_int

_XML_DECL = re.compile(r"<\?xml[^>]*\?>")
_FORBIDDEN = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_EVENT_START = re.compile(r"<(\w+:)?(Event|EventData)[\s>/]")
_OPEN_EVENT = re.compile(r"<(\w+:)?Event[\s>/]")

# Keys that belong to the event's System part in flattened JSON shapes.
_SYSTEM_KEYS = (
    "Channel",
    "Computer",
    "Hostname",
    "SourceName",
    "ProviderName",
    "Provider",
    "EventRecordID",
    "RecordNumber",
)


@dataclass
class WinEvent:
    event_id: int | None
    data: dict[str, Any]
    system: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> str:
        return str(first(self.system.get("Channel"), "") or "")

    @property
    def provider(self) -> str:
        return str(first(self.system.get("Provider"), self.system.get("SourceName"), "") or "")

    @property
    def is_sysmon(self) -> bool:
        return "sysmon" in f"{self.channel} {self.provider}".lower()

    @property
    def is_security(self) -> bool:
        return self.channel == "Security" or "Security-Auditing" in self.provider

    @property
    def computer(self) -> str | None:
        return first(self.system.get("Computer"), self.system.get("Hostname"))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def element_to_record(element: ET.Element) -> dict[str, Any]:
    """An <Event> (or bare <EventData>) element as a JSON-able dict: {System: {...}, EventData: {...}}."""
    if _local(element.tag) == "EventData":
        return {"EventData": _event_data(element)}
    record: dict[str, Any] = {}
    for child in element:
        name = _local(child.tag)
        if name == "System":
            record["System"] = _system(child)
        elif name == "EventData":
            record["EventData"] = _event_data(child)
        else:
            record[name] = _generic(child)
    return record


def _system(element: ET.Element) -> dict[str, Any]:
    system: dict[str, Any] = {}
    for child in element:
        name = _local(child.tag)
        if name == "Provider":
            system["Provider"] = child.get("Name")
            if child.get("Guid"):
                system["ProviderGuid"] = child.get("Guid")
        elif name == "TimeCreated":
            system["TimeCreated"] = child.get("SystemTime")
        elif name == "Execution":
            system["ExecutionProcessID"] = child.get("ProcessID")
            system["ExecutionThreadID"] = child.get("ThreadID")
        elif name == "Security":
            system["UserID"] = child.get("UserID") or child.get("UserId")
        elif child.attrib and not (child.text or "").strip():
            system[name] = dict(child.attrib)
        else:
            system[name] = (child.text or "").strip()
    return system


def _event_data(element: ET.Element) -> dict[str, Any]:
    data: dict[str, Any] = {}
    unnamed: list[str] = []
    for child in element:
        name = child.get("Name")
        if name:
            data[name] = child.text or ""
        else:
            unnamed.append(child.text or "")
    if unnamed:
        data["Data"] = unnamed
    return data


def _generic(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return element.text if not element.attrib else {**element.attrib, "#text": element.text}
    return {_local(child.tag): _generic(child) for child in children}


class _NestedEvent(Exception):
    """An <Event> opened inside another: the open one was truncated."""


class _TooDeep(Exception):
    """Elements nested past MAX_NESTING: not an event (Sysmon's are 3 deep), and the
    recursive conversion would fail on it and lose the events after it."""


# Elements below the synthetic root (and an optional <Events> wrapper) an event may span.
_MAX_XML_DEPTH = MAX_NESTING + 2


def iter_xml_records(lines: Iterable[Line]) -> Iterator[tuple[int, dict[str, Any]] | RecordError]:
    """(line, record) for each <Event> (or top-level <EventData> fragment) in an XML stream.

    Handles one event per line, an <Events> wrapper and pretty-printed events alike by
    parsing inside a synthetic root. DOCTYPE and ENTITY declarations are refused
    (defusedxml's rule: no entity expansion, no external resources). After malformed
    XML (or an event cut short: events never nest) the reader resynchronises at the
    next line that opens an event.
    """
    parser, depth, starts = _new_xml_parser(), 0, []
    skipping = False
    last_line = 0
    for line in lines:
        last_line = line.number
        if line.text is None:
            yield RecordError(line.number, line.error or "unreadable line")
            continue
        text = line.text
        if _FORBIDDEN.search(text):
            yield RecordError(line.number, "XML DOCTYPE/ENTITY declarations are refused")
            parser, depth, starts, skipping = _new_xml_parser(), 0, [], True
            continue
        if skipping:
            if not _EVENT_START.search(text):
                continue
            skipping = False
        text = _XML_DECL.sub("", text)
        for attempt in (1, 2):
            try:
                parser.feed(text + "\n")
                for kind, element in parser.read_events():
                    name = _local(element.tag)
                    if kind == "start":
                        depth += 1
                        if depth > _MAX_XML_DEPTH:
                            raise _TooDeep
                        if name == "Event" and starts:
                            raise _NestedEvent
                        if name == "Event" or (name == "EventData" and depth == 2):
                            starts.append(line.number)
                        continue
                    depth -= 1
                    if name == "Event" or (name == "EventData" and depth == 1):
                        start = starts.pop() if starts else line.number
                        yield start, element_to_record(element)
                        element.clear()
                break
            except (_NestedEvent, _TooDeep) as exc:
                if isinstance(exc, _TooDeep):
                    if attempt == 1:  # a retry that meets the same deep event again was reported
                        yield RecordError(
                            starts[0] if starts else line.number, f"XML nested deeper than {MAX_NESTING} levels"
                        )
                else:
                    yield RecordError(starts[0], "invalid XML: event not closed before the next <Event>")
                parser, depth, starts = _new_xml_parser(), 0, []
                opening = list(_OPEN_EVENT.finditer(text))
                if attempt == 2 or not opening:
                    skipping = True
                    break
                text = text[opening[-1].start() :]  # feed the new event to a fresh parser
            except ET.ParseError as exc:
                failed_start = starts[0] if starts else line.number
                yield RecordError(failed_start, f"invalid XML: {exc}")
                parser, depth, starts = _new_xml_parser(), 0, []
                opening = list(_OPEN_EVENT.finditer(text))
                if attempt == 2 or not opening or failed_start == line.number:
                    skipping = True
                    break
                # The broken event began on an earlier line; this line opens the next one.
                text = text[opening[-1].start() :]
    if not skipping:
        try:
            parser.feed("</_stream>")
            parser.close()
        except ET.ParseError as exc:
            yield RecordError(starts[0] if starts else last_line, f"invalid XML at end of input: {exc}")


def _new_xml_parser() -> ET.XMLPullParser:
    parser = ET.XMLPullParser(events=("start", "end"))  # noqa: S314 - input pre-screened, see above
    parser.feed("<_stream>")
    parser.read_events()  # discard the synthetic root's start
    return parser


def normalise(record: dict[str, Any]) -> WinEvent:
    """One JSON or XML-derived record -> WinEvent, whichever shipper shape it has."""
    if isinstance(record.get("Event"), dict):  # EVTX-to-JSON: {"Event": {"System": ..., "EventData": ...}}
        record = record["Event"]
    if isinstance(record.get("winlog"), dict):  # Winlogbeat / Elastic Agent
        winlog = record["winlog"]
        system = {
            "Channel": winlog.get("channel"),
            "Provider": winlog.get("provider_name"),
            "Computer": first(winlog.get("computer_name"), dig(record, "host.name")),
            "TimeCreated": record.get("@timestamp"),
        }
        data = winlog.get("event_data") if isinstance(winlog.get("event_data"), dict) else {}
        return WinEvent(to_int(winlog.get("event_id")), dict(data), system)
    if isinstance(record.get("System"), dict) or isinstance(record.get("EventData"), dict):
        system = dict(record.get("System") or {})
        event_id = system.get("EventID")
        if isinstance(event_id, dict):  # {"#text": "1", "@Qualifiers": ...} / {"Value": ...}
            event_id = first(event_id.get("#text"), event_id.get("Value"), event_id.get("value"))
        time_created = system.get("TimeCreated")
        if isinstance(time_created, dict):
            system["TimeCreated"] = first(
                time_created.get("SystemTime"),
                dig(time_created, "#attributes.SystemTime"),
                time_created.get("@SystemTime"),
            )
        provider = system.get("Provider")
        if isinstance(provider, dict):
            system["Provider"] = first(provider.get("Name"), dig(provider, "#attributes.Name"), provider.get("@Name"))
        data = record.get("EventData") if isinstance(record.get("EventData"), dict) else {}
        if isinstance(data.get("Data"), list) and all(isinstance(d, dict) for d in data["Data"]):
            # python-evtx style: [{"@Name": "Image", "#text": "..."}]
            data = {d.get("@Name") or d.get("Name"): d.get("#text") for d in data["Data"]}
        return WinEvent(to_int(event_id), dict(data), system)
    # Flattened (NXLog, OTRF/Mordor, Sysmon JSON with its own field names at the top level).
    system = {key: record.get(key) for key in _SYSTEM_KEYS if record.get(key) is not None}
    system["TimeCreated"] = first(record.get("TimeCreated"), record.get("@timestamp"), record.get("timestamp"))
    return WinEvent(to_int(first(record.get("EventID"), record.get("event_id"), record.get("EventId"))), record, system)


# Sysmon events that are not process creation but carry network/DNS facts worth columns.
_SYSMON_KIND = {3: "network", 22: "dns"}


def _dash(value: Any) -> Any:
    """Sysmon writes "-" for a value it could not resolve (Sysmon for Linux's parent of a daemon)."""
    return None if value in ("-", "") else value


def win_event_to_canonical(
    event: WinEvent, raw: dict[str, Any], *, process_ids: frozenset[tuple[str, int]]
) -> dict[str, Any]:
    """Canonical event for Sysmon 1, Security 4688, and every other id as kind other/network/dns.

    `process_ids` lists the (source, id) pairs that are process creation for the caller:
    ("sysmon", 1) for both OSes, ("security", 4688) for Windows.
    """
    data = event.data
    if event.event_id is None:
        # A bare <EventData> fragment: the fields of ProcessCreate identify it.
        if data.get("Image") and "CommandLine" in data and "ProcessId" in data:
            event_id, source = 1, "sysmon"
        else:
            raise RecordRejected("missing required field EventID")
    else:
        event_id = event.event_id
        if event.is_sysmon:
            source = "sysmon"
        elif event.is_security:
            source = "security"
        elif event.channel or event.provider:
            source = "other"  # System/1 is a time change, not a process start
        else:
            # Flattened JSON without channel or provider: the id's own fields decide.
            source = "security" if "NewProcessName" in data or "SubjectUserName" in data else "sysmon"
    time_value = first(_dash(data.get("UtcTime")), event.system.get("TimeCreated"), raw.get("@timestamp"))
    if time_value is None:
        raise RecordRejected("missing required field UtcTime/TimeCreated")
    common = {"time": time_value, "raw": raw, "host": event.computer, "action": str(event_id)}

    if (source, event_id) in process_ids and source == "security":
        return build_event(
            kind="process",
            **common,
            message=f"{data.get('SubjectUserName') or '?'} started {data.get('NewProcessName') or '?'}",
            process_image=data.get("NewProcessName"),
            process_command_line=_dash(data.get("CommandLine")),
            process_parent_image=_dash(data.get("ParentProcessName")),
            process_user=_dash(data.get("SubjectUserName")),
            process_pid=data.get("NewProcessId"),
        )
    if (source, event_id) in process_ids:
        return build_event(
            kind="process",
            **common,
            message=f"{_dash(data.get('User')) or '?'} started {data.get('Image') or '?'}",
            process_image=_dash(data.get("Image")),
            process_command_line=_dash(data.get("CommandLine")),
            process_parent_image=_dash(data.get("ParentImage")),
            process_parent_command_line=_dash(data.get("ParentCommandLine")),
            process_user=_dash(data.get("User")),
            process_pid=data.get("ProcessId"),
        )
    kind = _SYSMON_KIND.get(event_id, "other") if source == "sysmon" else "other"
    return build_event(
        kind=kind,
        **common,
        message=_first_line(first(data.get("Message"), raw.get("Message")))
        or f"{event.channel or event.provider or 'event'} {event_id}",
        process_image=_dash(first(data.get("Image"), data.get("NewProcessName"), data.get("ProcessName"))),
        process_command_line=_dash(data.get("CommandLine")),
        process_user=_dash(first(data.get("User"), data.get("SubjectUserName"))),
        process_pid=data.get("ProcessId") if source == "sysmon" else None,
        src_ip=_dash(data.get("SourceIp")),
        src_port=data.get("SourcePort"),
        dst_ip=_dash(data.get("DestinationIp")),
        dst_port=data.get("DestinationPort"),
        protocol=str(data["Protocol"]).lower() if kind == "network" and data.get("Protocol") else None,
        dns_query=_dash(data.get("QueryName")) if kind == "dns" else None,
    )


def _first_line(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().splitlines()[0]
