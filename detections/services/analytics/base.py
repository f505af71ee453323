"""What every analytic shares: parameter specs and validation, columnar event loading, keys.

An analytic is a function `(rule, window_start, window_end) -> list[MatchSpec]` over
canonical events; this module is the toolbox they are written with. It is not for
scheduling (see `runs`) nor for any one behaviour (one module per analytic).

Events are loaded column by column (`values_list`) into a polars DataFrame and the
behaviour is computed with polars expressions, so an analytic's cost grows with the
number of groups it reports, not with Python work per event.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from django.db.models import Q

from detections.services.detection import MatchSpec, record_matches

from telemetry.models import Event

__all__ = [
    "MatchSpec",
    "record_matches",
    "Parameter",
    "bucket_start",
    "classify_ips",
    "count_scanned",
    "load_events",
    "match_key",
    "parse_networks",
]

# Docker's default bridge and user networks, Kubernetes pod/service ranges and home/lab
# networks all live in RFC 1918 space.
DEFAULT_INTERNAL_CIDRS = ("172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16")

_MAX_KEY_CHARS = 255  # RuleMatch.dedup_key


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Parameter:
    """One analytic parameter: its type, default and bounds, checked by `validate`."""

    kind: type  # int, float, list (of str), str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    check: Callable[[Any], None] | None = None  # raises ValueError with a reason

    def validate(self, name: str, value: Any) -> Any:
        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"parameter {name!r} must be a number, not {value!r}")
            value = float(value)
        elif self.kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"parameter {name!r} must be a whole number, not {value!r}")
        elif self.kind is list:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"parameter {name!r} must be a list of strings, not {value!r}")
            value = list(value)
        elif self.kind is str:
            if not isinstance(value, str):
                raise ValueError(f"parameter {name!r} must be text, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"parameter {name!r} must be at least {self.minimum}, not {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"parameter {name!r} must be at most {self.maximum}, not {value!r}")
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as exc:
                raise ValueError(f"parameter {name!r}: {exc}") from None
        return value


def validate_against(spec: dict[str, Parameter], params: dict[str, Any] | None) -> dict[str, Any]:
    """The effective parameters: defaults overlaid with `params`, each one checked."""
    params = params or {}
    if not isinstance(params, dict):
        raise ValueError(f"parameters must be a mapping, not {type(params).__name__}")
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} (known: {', '.join(sorted(spec))})")
    effective = {}
    for name, parameter in spec.items():
        value = params.get(name, parameter.default)
        effective[name] = parameter.validate(name, value)
    return effective


def parse_networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """CIDR strings as networks; raises ValueError naming the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not a network (CIDR)") from None
    return networks


def check_cidrs(values: list[str]) -> None:
    parse_networks(values)


# --------------------------------------------------------------------------- loading

# Events scanned by the analytics of the current evaluation, for DetectionRun.events_scanned.
_scanned: ContextVar[int] = ContextVar("analytics_events_scanned", default=0)


def count_scanned(reset: bool = False) -> int:
    value = _scanned.get()
    if reset:
        _scanned.set(0)
    return value


def load_events(
    columns: dict[str, pl.DataType | type[pl.DataType]],
    *,
    start: datetime,
    end: datetime,
    where: Q | None = None,
) -> pl.DataFrame:
    """Events with `start <= time < end` (and `where`) as a DataFrame of `columns` (+ id, time).

    Keys of `columns` are `values_list` paths, so a JSON key of the raw record can be
    read as `raw__conn_state`; the DataFrame column is the path with `__` kept.
    """
    names = ["id", "time", *columns]
    schema: dict[str, Any] = {"id": pl.Int64, "time": pl.Datetime("us", "UTC"), **columns}
    queryset = Event.objects.filter(time__gte=start, time__lt=end)
    if where is not None:
        queryset = queryset.filter(where)
    rows = list(queryset.order_by().values_list(*names))
    _scanned.set(_scanned.get() + len(rows))
    return pl.DataFrame(rows, schema=schema, orient="row")


# --------------------------------------------------------------------------- keys and IPs


def bucket_start(moment: datetime | float, seconds: int) -> int:
    """Epoch second at which the `seconds`-long bucket holding `moment` starts."""
    epoch = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return int(epoch // seconds * seconds)


def match_key(prefix: str, *parts: object) -> str:
    """A dedup key `prefix:part:part...`, hashed when it would not fit the column."""
    key = ":".join([prefix, *(str(p) for p in parts)])
    if len(key) <= _MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{prefix}:h:{digest}"


def classify_ips(values: Iterable[str], networks: list) -> dict[str, bool]:
    """{ip text: inside one of `networks`} for the DISTINCT values given (invalid -> False)."""
    by_version: dict[int, list] = {4: [], 6: []}
    for network in networks:
        by_version[network.version].append(network)
    inside = {}
    for value in set(values):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            inside[value] = False
            continue
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        inside[value] = any(address in network for network in by_version[address.version])
    return inside



