"""Known-bad indicators (IPs, networks, domains from IndicatorLists) seen in events.

An event matches when its `src_ip` or `dst_ip` is a listed IP or lies in a listed
network (IPv4 and IPv6), or when its `dns_query` is a listed domain or one of its
subdomains. Addresses and names are checked once per DISTINCT value (a busy
window repeats the same few thousand values millions of times); the database
then returns only the events holding a hit.

One match per (indicator, local entity, window of `window_seconds`), with the
events as evidence: a beacon to a listed address is one finding, not thousands.
The entity follows detections.services.detection.entity_of's order (container >
namespace/pod > namespace/resource/name of a workload > host > address), the address
being the local side of the event (the one that is not the indicator), else the matched
address itself: kubectl from a listed address outside names the workload it changed, or
only that address when it names none, and an entity is never empty.
Not for importing lists (detections.services.indicators).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

import polars as pl
from django.db.models import Q

from detections.models import Indicator, IndicatorList
from detections.services.detection import WORKLOAD_RESOURCES

from .base import MatchSpec, Parameter, load_events, lookup_networks, match_key

ANALYTIC_TYPE = "indicator_match"

PARAMETERS = {
    "lists": Parameter(list, [], help="IndicatorList names; empty means every list.", check=lambda v: check_lists(v)),
    "window_seconds": Parameter(int, 3600, minimum=60, maximum=7 * 86400, help="Dedup bucket for repeated hits."),
}

MAX_EVIDENCE = 50
_DISTINCT_BATCH = 5000  # values per `__in` query (SQLite caps bound parameters)


class IndicatorSet:
    """The indicators of some lists, shaped for lookups of distinct values."""

    def __init__(self, rows: list[tuple[str, str, str]]):
        # network (an address is a /32 or /128) -> its indicator text; text -> (kind, list name)
        self.networks: dict = {}
        self.about: dict[str, tuple[str, str]] = {}
        self.domains: dict[str, str] = {}
        for kind, value, list_name in rows:
            try:
                if kind in (Indicator.Kind.IP, Indicator.Kind.CIDR):
                    network = ipaddress.ip_network(value, strict=False)
                    text = str(network.network_address) if kind == Indicator.Kind.IP else str(network)
                    self.networks[network] = text
                    self.about[text] = (kind, list_name)
                elif kind == Indicator.Kind.DOMAIN:
                    self.domains[normalise_domain(value)] = list_name
            except ValueError:
                continue  # the importer validates; a hand-edited bad row must not stop the analytic

    def match_ips(self, values: list[str]) -> dict[str, tuple[str, str, str]]:
        """{address text: (indicator, kind, list)} for the distinct address texts that hit."""
        hits = {}
        for value, indicator in zip(values, lookup_networks(values, self.networks), strict=True):
            if indicator is not None:
                kind, list_name = self.about[indicator]
                hits[value] = (indicator, kind, list_name)
        return hits

    def match_domain(self, value: str) -> tuple[str, str, str] | None:
        """(listed domain, kind, list) when `value` is a listed domain or a subdomain of one."""
        labels = normalise_domain(value).split(".")
        for cut in range(len(labels) - 1):  # a listed evil.example, never a bare TLD
            suffix = ".".join(labels[cut:])
            if suffix in self.domains:
                return suffix, Indicator.Kind.DOMAIN, self.domains[suffix]
        return None


def normalise_domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    return value[2:] if value.startswith("*.") else value


def check_lists(names: list[str]) -> None:
    """Raises ValueError naming a list that does not exist."""
    known = set(IndicatorList.objects.filter(name__in=names).values_list("name", flat=True))
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"no indicator list named {missing[0]!r}")


def load_indicators(names: list[str]) -> IndicatorSet:
    indicators = Indicator.objects.all()
    if names:
        indicators = indicators.filter(indicator_list__name__in=names)
    return IndicatorSet(list(indicators.values_list("kind", "value", "indicator_list__name")))


def _distinct(column: str, start: datetime, end: datetime) -> list[str]:
    from telemetry.models import Event

    return list(
        Event.objects.filter(time__gte=start, time__lt=end)
        .exclude(**{column: ""})
        .order_by()
        .values_list(column, flat=True)
        .distinct()
    )


def evaluate(rule, window_start: datetime, window_end: datetime, params: dict) -> list[MatchSpec]:
    indicators = load_indicators(params["lists"])
    if not (indicators.networks or indicators.domains):
        return []
    hits: dict[str, tuple[str, str, str]] = {}  # value -> (indicator, kind, list)
    if indicators.networks:
        addresses = set(_distinct("src_ip", window_start, window_end)) | set(
            _distinct("dst_ip", window_start, window_end)
        )
        hits.update(indicators.match_ips(sorted(addresses)))
    ip_hits = list(hits)
    domain_hits: list[str] = []
    if indicators.domains:
        for value in _distinct("dns_query", window_start, window_end):
            found = indicators.match_domain(value)
            if found:
                hits[value] = found
                domain_hits.append(value)
    if not hits:
        return []

    frames = []
    for offset in range(0, max(len(ip_hits), len(domain_hits)), _DISTINCT_BATCH):
        ips, names = ip_hits[offset : offset + _DISTINCT_BATCH], domain_hits[offset : offset + _DISTINCT_BATCH]
        where = Q(src_ip__in=ips) | Q(dst_ip__in=ips) | Q(dns_query__in=names)
        frames.append(
            load_events(
                {
                    "src_ip": pl.String,
                    "dst_ip": pl.String,
                    "dns_query": pl.String,
                    "container_id": pl.String,
                    "container_name": pl.String,
                    "pod": pl.String,
                    "namespace": pl.String,
                    "k8s_resource": pl.String,
                    "k8s_object_name": pl.String,
                    "host": pl.String,
                },
                start=window_start,
                end=window_end,
                where=where,
            )
        )
    events = pl.concat(frames).unique("id")

    # Which field hit, and the local side of the event (who talked to the indicator).
    hit_values = pl.Series(list(hits), dtype=pl.String)
    src_hit = pl.col("src_ip").is_in(hit_values)
    dst_hit = pl.col("dst_ip").is_in(hit_values)
    dns_hit = pl.col("dns_query").is_in(hit_values)
    # Who talked to the indicator, in entity_of's order: container > namespace/pod >
    # namespace/resource/name of a workload > host > the local address (the side that is not the
    # indicator) > the matched address itself.
    container = pl.coalesce(pl.col("container_id").replace("", None), pl.col("container_name").replace("", None))
    pod = pl.col("pod").replace("", None)
    namespace = pl.col("namespace").replace("", None)
    pod = (
        pl.when(namespace.is_not_null() & pod.is_not_null())
        .then(pl.concat_str(namespace, pl.lit("/"), pod))
        .otherwise(pod)
    )
    workload_name = pl.col("k8s_object_name").replace("", None)
    workload_path = pl.concat_str(pl.col("k8s_resource"), pl.lit("/"), workload_name)
    workload = (
        pl.when(pl.col("k8s_resource").is_in(list(WORKLOAD_RESOURCES)) & workload_name.is_not_null())
        .then(
            pl.when(namespace.is_not_null())
            .then(pl.concat_str(namespace, pl.lit("/"), workload_path))
            .otherwise(workload_path)
        )
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    host = pl.col("host").replace("", None)
    local_ip = pl.when(src_hit & ~dst_hit).then(pl.col("dst_ip")).otherwise(pl.col("src_ip")).replace("", None)
    window = params["window_seconds"]
    events = (
        events.with_columns(
            field=pl.when(dns_hit)
            .then(pl.lit("dns_query"))
            .when(dst_hit)
            .then(pl.lit("dst_ip"))
            .otherwise(pl.lit("src_ip")),
        )
        .with_columns(
            value=pl.when(pl.col("field") == "dns_query")
            .then(pl.col("dns_query"))
            .when(pl.col("field") == "dst_ip")
            .then(pl.col("dst_ip"))
            .otherwise(pl.col("src_ip")),
            bucket=(pl.col("time").dt.epoch("s") // window) * window,
        )
        .with_columns(
            # The matched value itself when nothing local is named (a domain only for a DNS
            # record without any address, which producers do not write).
            entity=pl.coalesce(container, pod, workload, host, local_ip, pl.col("value")),
            entity_type=pl.when(container.is_not_null())
            .then(pl.lit("container"))
            .when(pod.is_not_null())
            .then(pl.lit("pod"))
            .when(workload.is_not_null())
            .then(pl.lit("workload"))
            .when(host.is_not_null())
            .then(pl.lit("host"))
            .when(local_ip.is_not_null() | (pl.col("field") != "dns_query"))
            .then(pl.lit("ip"))
            .otherwise(pl.lit("domain")),
        )
        .filter(pl.col("value").is_in(hit_values))
    )
    grouped = (
        events.sort("time")
        .group_by("bucket", "field", "value", "entity", "entity_type")
        .agg(
            count=pl.len(),
            last_time=pl.col("time").last(),
            first_id=pl.col("id").first(),
            evidence=pl.col("id").head(MAX_EVIDENCE),
        )
        .sort("bucket", "value", "entity")
    )

    matches = []
    for row in grouped.iter_rows(named=True):  # one row per indicator, entity and window
        indicator, kind, list_name = hits[row["value"]]
        matches.append(
            MatchSpec(
                dedup_key=match_key(f"a:{ANALYTIC_TYPE}", indicator, row["value"], row["entity"], row["bucket"]),
                time=row["last_time"],
                event_id=row["first_id"],
                evidence_event_ids=row["evidence"],
                entity_type=row["entity_type"],
                entity=row["entity"],
                fields={
                    "indicator": indicator,
                    "indicator_kind": str(kind),
                    "indicator_list": list_name,
                    "field": row["field"],
                    row["field"]: row["value"],
                    "events": row["count"],
                    "window_start": (datetime(1970, 1, 1) + timedelta(seconds=row["bucket"])).isoformat() + "Z",
                },
            )
        )
    return matches
