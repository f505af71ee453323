"""One-way communication (ATT&CK T1102.003): regular outbound flows that nothing ever answers.

Over flow records (Zeek conn: kind `network`, tcp/udp), per source inside the
container networks (a container when the flow names one, else its internal
`src_ip`) and external destination (`dst_ip`, `dst_port`), within tumbling
windows of `window_seconds`: at least `min_connections` outbound connections,
none of them answered, no connection at all from that destination in the window,
and regular inter-arrival times (coefficient of variation <= `max_interval_cv`)
-> one beaconing match per source, destination and window.

"Answered" is judged by the responder's PAYLOAD, not its packets: a connection
is unanswered when its response bytes (Zeek resp_bytes) are 0, or unset with
conn_state S0/SH/OTH/REJ. A listener that accepts and never writes still sends
SYN-ACK, ACKs and FIN (resp_pkts > 0, resp_bytes 0): that is the one-way
channel, not an answer. An HTTP 204 carries its status line and headers
(resp_bytes > 0), so it is an answer. Unset bytes with any other state (or none,
as a bare connect event) say nothing about an answer, so they count as answered.

A telemetry agent talks to the internet too, but gets answers; that is why an
answered connection disqualifies the pair. Not for ICMP (see icmp_tunnel):
Zeek gives every ICMP flow the state OTH.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from django.db.models import Q

from .base import (
    DEFAULT_INTERNAL_CIDRS,
    MatchSpec,
    Parameter,
    bucket_start,
    check_cidrs,
    classify_ips,
    load_events,
    match_key,
    parse_networks,
)

ANALYTIC_TYPE = "one_way_communication"

PARAMETERS = {
    "internal_cidrs": Parameter(
        list, list(DEFAULT_INTERNAL_CIDRS), check=check_cidrs, help="Container/pod networks: sources live here."
    ),
    "min_connections": Parameter(int, 5, minimum=3, help="Unanswered connections needed (3 give two intervals)."),
    "max_interval_cv": Parameter(float, 0.35, minimum=0.0, help="Std/mean of the intervals: lower is more regular."),
    "window_seconds": Parameter(int, 3600, minimum=60, maximum=7 * 86400, help="Tumbling window (and dedup bucket)."),
}

# Zeek conn_state values meaning the responder sent no payload we saw, for records whose
# resp_bytes is unset: S0 (SYN, no reply), SH (SYN+FIN from the originator only), OTH (no
# SYN seen, midstream/unanswered), REJ (refused with a RST).
UNANSWERED_STATES = ["S0", "SH", "OTH", "REJ"]
MAX_EVIDENCE = 50

_COLUMNS = {
    "src_ip": pl.String,
    "dst_ip": pl.String,
    "dst_port": pl.Int64,
    "protocol": pl.String,
    "bytes_in": pl.Int64,
    "action": pl.String,
    "raw__conn_state": pl.String,
    "container_name": pl.String,
    "container_id": pl.String,
}


def evaluate(rule, window_start: datetime, window_end: datetime, params: dict) -> list[MatchSpec]:
    window = params["window_seconds"]
    start = datetime.fromtimestamp(bucket_start(window_start, window), tz=window_start.tzinfo)
    flows = load_events(
        _COLUMNS,
        start=start,
        end=window_end,
        where=Q(kind="network") & ~Q(protocol__iexact="icmp") & ~Q(protocol__iexact="icmp6") & ~Q(dst_ip=""),
    )
    if flows.is_empty():
        return []

    networks = parse_networks(params["internal_cidrs"])
    ips = pl.concat([flows["src_ip"], flows["dst_ip"]]).unique().drop_nulls().to_list()
    internal = classify_ips(ips, networks)  # ipaddress on the distinct values only

    conn_state = pl.coalesce(pl.col("action").replace("", None), pl.col("raw__conn_state")).str.to_uppercase()
    # The responder's payload decides, whatever its packets (handshake, ACKs and FIN are no answer).
    unanswered = (
        pl.when(pl.col("bytes_in").is_not_null())
        .then(pl.col("bytes_in") == 0)
        .otherwise(conn_state.is_in(UNANSWERED_STATES).fill_null(False))
    )
    container = pl.coalesce(pl.col("container_id").replace("", None), pl.col("container_name").replace("", None))
    flows = flows.with_columns(
        src_internal=pl.col("src_ip").replace_strict(internal, default=False, return_dtype=pl.Boolean),
        dst_internal=pl.col("dst_ip").replace_strict(internal, default=False, return_dtype=pl.Boolean),
        unanswered=unanswered,
        container=container,
        bucket=(pl.col("time").dt.epoch("s") // window) * window,
        epoch_s=pl.col("time").dt.epoch("us") / 1_000_000,
    )

    # Anything coming from an external address towards us makes that address a peer, not a one-way sink.
    inbound = (
        flows.filter(~pl.col("src_internal") & pl.col("dst_internal"))
        .select("bucket", pl.col("src_ip").alias("dst_ip"))
        .unique()
    )
    outbound = flows.filter(
        (pl.col("container").is_not_null() | pl.col("src_internal")) & ~pl.col("dst_internal")
    ).with_columns(
        entity=pl.coalesce(pl.col("container"), pl.col("src_ip")),
        entity_type=pl.when(pl.col("container").is_not_null()).then(pl.lit("container")).otherwise(pl.lit("ip")),
    )
    outbound = outbound.join(inbound, on=["bucket", "dst_ip"], how="anti")
    if outbound.is_empty():
        return []

    pairs = (
        outbound.sort("epoch_s")
        .group_by("bucket", "entity", "entity_type", "dst_ip", "dst_port")
        .agg(
            connections=pl.len(),
            answered=(~pl.col("unanswered")).sum(),
            mean_interval_s=pl.col("epoch_s").diff().mean(),
            std_interval_s=pl.col("epoch_s").diff().std(ddof=0),
            src_ips=pl.col("src_ip").unique().sort(),
            last_time=pl.col("time").last(),
            last_id=pl.col("id").last(),
            evidence=pl.col("id").tail(MAX_EVIDENCE),
        )
        .with_columns(cv=pl.col("std_interval_s") / pl.col("mean_interval_s"))
        .filter(
            (pl.col("answered") == 0)
            & (pl.col("connections") >= params["min_connections"])
            & (pl.col("mean_interval_s") > 0)
            & (pl.col("cv") <= params["max_interval_cv"])
        )
        .sort("bucket", "entity", "dst_ip", "dst_port")
    )

    matches = []
    for row in pairs.iter_rows(named=True):  # one row per beaconing pair, not per flow
        matches.append(
            MatchSpec(
                dedup_key=match_key(f"a:{ANALYTIC_TYPE}", row["entity"], row["dst_ip"], row["dst_port"], row["bucket"]),
                time=row["last_time"],
                event_id=row["last_id"],
                evidence_event_ids=row["evidence"],
                entity_type=row["entity_type"],
                entity=row["entity"],
                fields={
                    "dst_ip": row["dst_ip"],
                    "dst_port": row["dst_port"],
                    "src_ip": row["src_ips"][0] if len(row["src_ips"]) == 1 else row["src_ips"],
                    "connections": row["connections"],
                    "mean_interval_s": round(row["mean_interval_s"], 3),
                    "cv": round(row["cv"], 4),
                    "window_start": _iso(row["bucket"]),
                    "window_seconds": window,
                },
            )
        )
    return matches


def _iso(epoch: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(seconds=epoch)).isoformat() + "Z"
