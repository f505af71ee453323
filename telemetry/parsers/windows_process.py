"""Windows process events: Sysmon event 1 and Security 4688, as JSON lines or event XML.

Other event ids are not dropped: they become kind "other" events with
action = the event id (Sysmon 3 and 22 become "network" and "dns", since their
fields fill canonical columns), so a source never loses records silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .base import Line, ParsedRecord, Parser, RecordError, peek_first_text
from .winevent import iter_xml_records, normalise, win_event_to_canonical

_PROCESS_IDS = frozenset({("sysmon", 1), ("security", 4688)})


class WindowsProcessParser(Parser):
    format_name = "windows_process"
    process_ids = _PROCESS_IDS

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        return [win_event_to_canonical(normalise(record), record, process_ids=self.process_ids)]

    def parse_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        first_text, lines = peek_first_text(lines)
        if first_text is not None and first_text.startswith("<"):
            yield from self.parse_xml_lines(lines)
        else:
            yield from self.parse_json_lines(lines)

    def parse_xml_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        for item in iter_xml_records(lines):
            if isinstance(item, RecordError):
                yield item
                continue
            line, record = item
            yield from self.records_from(line, record)
