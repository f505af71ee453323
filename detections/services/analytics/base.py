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
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
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
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
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
        elif self.kind is str and not isinstance(value, str):
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


def note_scanned(rows: int) -> None:
    """Count rows an evaluation read (events, or base matches for correlations)."""
    _scanned.set(_scanned.get() + rows)


def count_scanned(reset: bool = False) -> int:
    value = _scanned.get()
    if reset:
        _scanned.set(0)
    return value


# Validation replays evaluate analytics over the replay's own sources only (see `only_sources`).
_source_scope: ContextVar[tuple[int, ...] | None] = ContextVar("analytics_source_scope", default=None)


@contextmanager
def only_sources(source_ids):
    """Restrict analytics and correlations to events of these sources (validation's isolated replay)."""
    token = _source_scope.set(tuple(source_ids))
    try:
        yield
    finally:
        _source_scope.reset(token)


def source_scope() -> tuple[int, ...] | None:
    return _source_scope.get()


_key_namespace: ContextVar[str | None] = ContextVar("analytics_match_key_namespace", default=None)


@contextmanager
def isolated_match_keys(namespace: str):
    """Dedup keys of windowed findings made here carry `namespace` (validation's isolated replay).

    A replay of a lab capture that is also stored for real (or loaded by the demo) finds the
    same groups in the same windows, so its correlation and analytic findings would have the
    stored findings' keys and be skipped as already recorded: the replay would prove nothing.
    """
    token = _key_namespace.set(namespace)
    try:
        yield
    finally:
        _key_namespace.reset(token)


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
    if _source_scope.get() is not None:
        queryset = queryset.filter(source_id__in=_source_scope.get())
    if where is not None:
        queryset = queryset.filter(where)
    rows = list(queryset.order_by().values_list(*names))
    note_scanned(len(rows))
    return pl.DataFrame(rows, schema=schema, orient="row")


# --------------------------------------------------------------------------- keys and IPs


def key_namespace() -> str | None:
    return _key_namespace.get()


def bucket_start(moment: datetime | float, seconds: int) -> int:
    """Epoch second at which the `seconds`-long bucket holding `moment` starts."""
    epoch = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return int(epoch // seconds * seconds)


def match_key(prefix: str, *parts: object) -> str:
    """A dedup key `prefix:part:part...`, hashed when it would not fit the column.

    Inside isolated_match_keys the key starts with `<namespace>/`, hashed or not, so a
    replay can tell its own findings apart by prefix.
    """
    namespace = _key_namespace.get()
    lead = f"{namespace}/" if namespace else ""
    key = ":".join([prefix, *(str(p) for p in parts)])
    if len(lead) + len(key) <= _MAX_KEY_CHARS:
        return lead + key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{lead}{prefix}:h:{digest}"


_IPV4_RE = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"


def ipv4_ints(values: pl.Series) -> pl.Series:
    """IPv4 address texts as integers (null for anything else), computed column-wise."""
    octets = values.cast(pl.String).str.extract_groups(_IPV4_RE).struct.unnest()
    a, b, c, d = (octets[name].cast(pl.Int64) for name in octets.columns)
    valid = (a <= 255) & (b <= 255) & (c <= 255) & (d <= 255)
    return pl.select(pl.when(valid).then(a * 16777216 + b * 65536 + c * 256 + d).otherwise(None)).to_series()


def lookup_networks(values: Sequence[str] | pl.Series, networks: Mapping[Any, str]) -> list[str | None]:
    """For each address text, the label of the most specific of `networks` holding it (or None).

    IPv4 (the bulk of telemetry) is matched column-wise: address integers shifted by
    each prefix length in use, looked up in that length's set of networks. IPv6 and
    IPv4-mapped addresses go through the ipaddress module, once per distinct value.
    An address indicator is simply a /32 (or /128) network.
    """
    series = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
    found = pl.Series([None] * len(series), dtype=pl.String)
    by_prefix: dict[int, dict[int, str]] = defaultdict(dict)
    v6: dict[tuple[int, int], dict] = defaultdict(dict)
    for network, label in networks.items():
        if network.version == 4:
            by_prefix[network.prefixlen][int(network.network_address) >> (32 - network.prefixlen)] = label
        else:
            v6[(6, network.prefixlen)][network] = label
    if by_prefix:
        ints = ipv4_ints(series)
        for prefixlen in sorted(by_prefix, reverse=True):  # the most specific network wins
            table = by_prefix[prefixlen]
            labels = (ints // (1 << (32 - prefixlen))).replace_strict(
                old=list(table), new=list(table.values()), default=None, return_dtype=pl.String
            )
            found = pl.select(pl.coalesce(found, labels)).to_series()
    result = found.to_list()
    texts = series.to_list()
    cache: dict[str, str | None] = {}
    for index, text in enumerate(texts):
        if result[index] is not None or not text or ":" not in text:
            continue
        if text not in cache:
            cache[text] = _lookup_ipv6(text, v6, by_prefix)
        result[index] = cache[text]
    return result


def _lookup_ipv6(text: str, v6: dict, v4_by_prefix: dict) -> str | None:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        mapped = int(address.ipv4_mapped)
        for prefixlen in sorted(v4_by_prefix, reverse=True):
            label = v4_by_prefix[prefixlen].get(mapped >> (32 - prefixlen))
            if label is not None:
                return label
        return None
    for _, prefixlen in sorted(v6, key=lambda key: -key[1]):
        network = ipaddress.ip_network(f"{address}/{prefixlen}", strict=False)
        label = v6[(6, prefixlen)].get(network)
        if label is not None:
            return label
    return None


def classify_ips(values: Iterable[str], networks: list) -> dict[str, bool]:
    """{ip text: inside one of `networks`} for the distinct values given (not an address -> False)."""
    distinct = pl.Series(list(set(values)), dtype=pl.String)
    labels = lookup_networks(distinct, dict.fromkeys(networks, "in"))
    return dict(zip(distinct.to_list(), (label is not None for label in labels), strict=True))
