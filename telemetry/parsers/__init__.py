"""Pure parsers from each producer's real format to canonical event dicts (telemetry.schema).

    from telemetry.parsers import get_parser, ParsedRecord, RecordError
    parser = get_parser("k8s_audit")
    for item in parser.parse_stream(fileobj):      # binary; gzip is sniffed by its magic bytes
        ...                                        # ParsedRecord(line, event) | RecordError(line, reason)
    events = parser.parse_object(record_dict)      # one JSON record -> [event, ...]; raises RecordRejected

Format names are telemetry.models.Source.Format values. No Django imports here:
storage, API and CLI live in the telemetry app and call these. docs/schema.md
describes the field mapping and the decisions per source.
"""

from __future__ import annotations

from .base import MAX_LINE_BYTES, ParsedRecord, Parser, RecordError, RecordRejected
from .container_metrics import ContainerMetricsParser
from .docker import DockerEventsParser, DockerInspectParser
from .falco import FalcoParser
from .generic_json import GenericJsonParser
from .k8s_audit import K8sAuditParser
from .linux_process import LinuxProcessParser
from .windows_process import WindowsProcessParser
from .zeek import ZeekConnParser, ZeekDnsParser

PARSERS: dict[str, type[Parser]] = {
    parser.format_name: parser
    for parser in (
        K8sAuditParser,
        FalcoParser,
        DockerEventsParser,
        DockerInspectParser,
        ZeekConnParser,
        ZeekDnsParser,
        LinuxProcessParser,
        WindowsProcessParser,
        ContainerMetricsParser,
        GenericJsonParser,
    )
}


def get_parser(format_name: str, field_map: dict[str, str] | None = None) -> Parser:
    """A fresh parser for one stream (parsers keep per-stream state such as metric rates).

    Raises ValueError for an unknown format, or a field_map naming unknown canonical fields.
    """
    try:
        parser_class = PARSERS[format_name]
    except KeyError:
        raise ValueError(f"unknown format {format_name!r}; known: {', '.join(sorted(PARSERS))}")
    return parser_class(field_map=field_map)


__all__ = [
    "MAX_LINE_BYTES",
    "PARSERS",
    "ParsedRecord",
    "Parser",
    "RecordError",
    "RecordRejected",
    "get_parser",
]
