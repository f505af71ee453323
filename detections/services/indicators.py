"""Importing indicator lists (IPs, networks, domains) from CSV files and STIX 2.1 bundles.

Both importers are idempotent: a list is found or created by name and each
indicator is upserted on (list, kind, value), so importing the same file twice
changes nothing and a newer file updates descriptions. Bad lines (or STIX
objects) are reported with their line number (or id) while the good ones are
stored; a file that cannot be read at all (a malformed CSV header, invalid JSON)
raises IndicatorImportError and stores nothing. Not for matching events
(detections.services.analytics.indicator_match).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from detections.models import Indicator, IndicatorList

MAX_ERRORS = 200  # reported per import; the rest are counted
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:(?!-)[a-z0-9_-]{1,63}(?<!-)\.)*(?!-)[a-z0-9-]{1,63}(?<!-)$")
_KIND_ALIASES = {
    "ip": Indicator.Kind.IP,
    "ipv4": Indicator.Kind.IP,
    "ipv6": Indicator.Kind.IP,
    "ip-dst": Indicator.Kind.IP,
    "ip-src": Indicator.Kind.IP,
    "ipv4-addr": Indicator.Kind.IP,
    "ipv6-addr": Indicator.Kind.IP,
    "cidr": Indicator.Kind.CIDR,
    "network": Indicator.Kind.CIDR,
    "net": Indicator.Kind.CIDR,
    "subnet": Indicator.Kind.CIDR,
    "domain": Indicator.Kind.DOMAIN,
    "domain-name": Indicator.Kind.DOMAIN,
    "hostname": Indicator.Kind.DOMAIN,
    "fqdn": Indicator.Kind.DOMAIN,
}
_HEADER_COLUMNS = {"type": "type", "kind": "type", "value": "value", "indicator": "value", "description": "description"}


class IndicatorImportError(ValueError):
    """The input cannot be imported at all; nothing was stored."""


@dataclass
class ImportResult:
    indicator_list: IndicatorList
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # [{line, reason}] or [{object, reason}]

    @property
    def stored(self) -> int:
        return self.created + self.updated


# --------------------------------------------------------------------------- values


def normalise_indicator(value: str, kind: str | None = None) -> tuple[str, str]:
    """(kind, canonical value) for an indicator, its kind inferred when not given; ValueError if invalid."""
    text = value.strip().strip('"').strip()
    if not text:
        raise ValueError("empty value")
    if kind is not None:
        kind = _KIND_ALIASES.get(kind.strip().lower())
        if kind is None:
            raise ValueError("unknown type (one of ip, cidr, domain)")
    if kind in (None, Indicator.Kind.IP, Indicator.Kind.CIDR) and "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not a network (CIDR)") from None
        if kind == Indicator.Kind.IP and network.num_addresses != 1:
            raise ValueError(f"{text!r} is a network, not an IP address")
        if network.num_addresses == 1:  # a /32 or /128 is one address
            return Indicator.Kind.IP, str(network.network_address)
        return Indicator.Kind.CIDR, str(network)
    if kind in (None, Indicator.Kind.IP, Indicator.Kind.CIDR):
        try:
            return Indicator.Kind.IP, str(ipaddress.ip_address(text))
        except ValueError:
            if kind is not None:
                raise ValueError(f"{text!r} is not an IP address or network") from None
    domain = text.lower().rstrip(".")
    if domain.startswith("*."):
        domain = domain[2:]
    # A listed name has at least two labels: a bare word ("ioc", "localhost") is no indicator.
    if (
        kind in (None, Indicator.Kind.DOMAIN)
        and "." in domain
        and _DOMAIN_RE.match(domain)
        and not _looks_numeric(domain)
    ):
        return Indicator.Kind.DOMAIN, domain
    raise ValueError(f"{text!r} is not an IP address, network or domain")


def _looks_numeric(domain: str) -> bool:
    # "1.2.3.999" is a broken address, not a domain.
    return all(label.isdigit() for label in domain.split("."))


# --------------------------------------------------------------------------- storing


def _store(*, rows: dict[tuple[str, str], str], result: ImportResult) -> None:
    indicator_list = result.indicator_list
    existing = {
        (kind, value): description
        for kind, value, description in Indicator.objects.filter(indicator_list=indicator_list).values_list(
            "kind", "value", "description"
        )
    }
    new = [
        Indicator(indicator_list=indicator_list, kind=kind, value=value, description=description)
        for (kind, value), description in rows.items()
        if (kind, value) not in existing
    ]
    changed = [
        Indicator(indicator_list=indicator_list, kind=kind, value=value, description=description)
        for (kind, value), description in rows.items()
        if (kind, value) in existing and existing[(kind, value)] != description
    ]
    # update_or_create, in bulk: insert new rows, update descriptions of known ones.
    Indicator.objects.bulk_create(
        new + changed,
        update_conflicts=True,
        unique_fields=["indicator_list", "kind", "value"],
        update_fields=["description"],
        batch_size=1000,
    )
    result.created, result.updated = len(new), len(changed)
    indicator_list.save(update_fields=["updated_at"])


def _list(name: str, source: str) -> IndicatorList:
    name = name.strip()
    if not name:
        raise IndicatorImportError("an indicator list needs a name")
    indicator_list, _ = IndicatorList.objects.update_or_create(
        name=name[:128], defaults={"source": source[:255]} if source else {}
    )
    return indicator_list


def _error(result: ImportResult, **error: Any) -> None:
    if len(result.errors) < MAX_ERRORS:
        result.errors.append(error)


# --------------------------------------------------------------------------- CSV


def import_indicators_csv(*, name: str, text: str, source: str = "") -> ImportResult:
    """Import `type,value,description` rows (header optional) or bare values, one a line.

    With a header, its columns name the fields (type/kind, value/indicator,
    description; `value` required); without one, a line is `value` or
    `type,value[,description]`. Lines starting with # are comments.
    """
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)]
    content = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not content:
        raise IndicatorImportError("the file holds no indicators")
    parsed = list(csv.reader(io.StringIO("\n".join(line for _, line in content))))
    rows_by_line = [(number, [cell.strip() for cell in row]) for (number, _), row in zip(content, parsed, strict=False)]

    columns = _header(rows_by_line[0][1])
    if columns is not None:
        rows_by_line = rows_by_line[1:]

    collected: dict[tuple[str, str], str] = {}
    with transaction.atomic():
        result = ImportResult(indicator_list=_list(name, source or "csv"))
        for number, cells in rows_by_line:
            try:
                kind, value, description = _csv_row(cells, columns)
                collected[normalise_indicator(value, kind)] = description[:512]
            except ValueError as exc:
                _error(result, line=number, reason=str(exc))
        _store(rows=collected, result=result)
    return result


def _header(cells: list[str]) -> dict[str, int] | None:
    """Column positions when the first row is a header; None when it is data; raises when it is a bad header."""
    lowered = [c.lower() for c in cells]
    looks_like_header = any(c in _HEADER_COLUMNS for c in lowered)
    if not looks_like_header:
        if len(cells) == 1 or lowered[0] in _KIND_ALIASES:
            return None
        try:
            normalise_indicator(cells[0])
        except ValueError:
            raise IndicatorImportError(
                f"line 1: malformed header {','.join(cells)!r} (columns: type,value,description)"
            )
        return None
    positions: dict[str, int] = {}
    for index, cell in enumerate(lowered):
        column = _HEADER_COLUMNS.get(cell)
        if column is None:
            raise IndicatorImportError(f"line 1: malformed header: unknown column {cells[index]!r}")
        if column in positions:
            raise IndicatorImportError(f"line 1: malformed header: column {cells[index]!r} twice")
        positions[column] = index
    if "value" not in positions:
        raise IndicatorImportError("line 1: malformed header: no value column")
    return positions


def _csv_row(cells: list[str], columns: dict[str, int] | None) -> tuple[str | None, str, str]:
    if columns is None:
        if len(cells) >= 2 and cells[0].lower() in _KIND_ALIASES:
            return cells[0], cells[1], ",".join(cells[2:])
        if len(cells) > 1 and any(cells[1:]):
            raise ValueError("expected one value, or type,value,description")
        return None, cells[0], ""

    def cell(column: str) -> str:
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else ""

    if len(cells) > len(columns):
        raise ValueError(f"{len(cells)} columns, the header has {len(columns)}")
    return cell("type") or None, cell("value"), cell("description")


# --------------------------------------------------------------------------- STIX


# A comparison in a STIX pattern: <object>:value = '<literal>' (or ISSUBSET for networks).
_STIX_COMPARISON = re.compile(
    r"(?P<object>ipv4-addr|ipv6-addr|domain-name)\s*:\s*value\s*(?P<op>=|ISSUBSET)\s*'(?P<value>(?:[^'\\]|\\.)*)'",
    re.IGNORECASE,
)
_STIX_KINDS = {"ipv4-addr": "ip", "ipv6-addr": "ip", "domain-name": "domain"}


def import_indicators_stix(*, name: str, bundle_text: str) -> ImportResult:
    """Import the IP, network and domain indicators of a STIX 2.1 bundle; other objects are ignored.

    Patterns are read for `ipv4-addr:value`, `ipv6-addr:value` (an address or a
    CIDR) and `domain-name:value` comparisons, however they are combined (OR/AND
    inside one observation, several observations); an indicator with none of
    them (a file hash, a URL) is reported and skipped. Revoked indicators are skipped.
    """
    try:
        document = json.loads(bundle_text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise IndicatorImportError(f"not JSON: {exc}") from None
    if isinstance(document, dict) and document.get("type") == "bundle":
        objects = document.get("objects") or []
    elif isinstance(document, dict):
        objects = [document]
    elif isinstance(document, list):
        objects = document
    else:
        raise IndicatorImportError("not a STIX bundle")
    if not isinstance(objects, list):
        raise IndicatorImportError("the bundle's objects are not a list")

    collected: dict[tuple[str, str], str] = {}
    with transaction.atomic():
        result = ImportResult(indicator_list=_list(name, "stix"))
        for index, obj in enumerate(objects):
            if not isinstance(obj, dict) or obj.get("type") != "indicator" or obj.get("revoked"):
                continue
            ident = str(obj.get("id") or f"objects[{index}]")
            pattern = obj.get("pattern")
            if obj.get("pattern_type", "stix") != "stix" or not isinstance(pattern, str):
                _error(result, object=ident, reason="not a STIX pattern")
                continue
            description = str(obj.get("name") or obj.get("description") or "")[:512]
            found = 0
            for comparison in _STIX_COMPARISON.finditer(pattern):
                literal = comparison["value"].replace("\\'", "'").replace("\\\\", "\\")
                kind = _STIX_KINDS[comparison["object"].lower()]
                if kind == "ip" and "/" in literal:
                    kind = "cidr"  # STIX allows a CIDR as an address value
                try:
                    collected[normalise_indicator(literal, kind)] = description
                    found += 1
                except ValueError as exc:
                    _error(result, object=ident, reason=str(exc))
            if not found and not _STIX_COMPARISON.search(pattern):
                _error(result, object=ident, reason=f"no IP, network or domain in pattern {pattern[:200]!r}")
        _store(rows=collected, result=result)
    return result
