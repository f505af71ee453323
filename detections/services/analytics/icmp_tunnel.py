"""ICMP tunnelling (ATT&CK T1095): echo traffic that carries data instead of pings.

Per (source, destination) pair of ICMP echo flows (protocol icmp, or ICMP type
8/0, 128/129 for ICMPv6) within tumbling windows of `window_seconds`:

- payload bytes per packet above `max_normal_payload` (ping sends 56 bytes on
  Linux, 32 on Windows; tunnels fill packets with data), or
- payload sizes that vary (std across flow records above `max_payload_std`,
  with at least three records; ping's size never changes), or
- more than `max_packets` packets or `max_bytes` payload bytes in the window.

Replies are folded into their request's pair, and volume is counted per
direction (the busier one), so ping's echo replies do not double its volume:
`ping` at one packet per second stays at 60 packets a minute. Not for other
protocols (see one_way_communication).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from django.db.models import Q

from .base import MatchSpec, Parameter, bucket_start, load_events, match_key

ANALYTIC_TYPE = "icmp_tunnel"

PARAMETERS = {
    "max_normal_payload": Parameter(int, 64, minimum=0, help="Mean payload bytes per packet ping stays under."),
    "max_payload_std": Parameter(float, 16.0, minimum=0.0, help="Std of per-record payload sizes ping stays under."),
    "max_packets": Parameter(int, 100, minimum=1, help="Packets per direction per window."),
    "max_bytes": Parameter(int, 10000, minimum=1, help="Payload bytes per direction per window."),
    "window_seconds": Parameter(int, 60, minimum=10, maximum=86400, help="Tumbling window (and dedup bucket)."),
}

ECHO_REQUEST_TYPES = [8, 128]
ECHO_REPLY_TYPES = [0, 129]
MAX_EVIDENCE = 50

_COLUMNS = {
    "src_ip": pl.String,
    "dst_ip": pl.String,
    "protocol": pl.String,
    "icmp_type": pl.Int64,
    "bytes_out": pl.Int64,
    "bytes_in": pl.Int64,
    "packets_out": pl.Int64,
    "packets_in": pl.Int64,
}


def evaluate(rule, window_start: datetime, window_end: datetime, params: dict) -> list[MatchSpec]:
    window = params["window_seconds"]
    start = datetime.fromtimestamp(bucket_start(window_start, window), tz=window_start.tzinfo)
    echo = Q(icmp_type__in=ECHO_REQUEST_TYPES + ECHO_REPLY_TYPES) | (
        Q(protocol__in=["icmp", "icmp6", "ipv6-icmp"]) & (Q(icmp_type__isnull=True))
    )
    flows = load_events(_COLUMNS, start=start, end=window_end, where=Q(kind="network") & echo)
    if flows.is_empty():
        return []

    is_reply = pl.col("icmp_type").is_in(ECHO_REPLY_TYPES).fill_null(False)
    # A reply record goes from the pinged host back to the pinger: swap it into the request's pair.
    flows = flows.with_columns(
        pair_src=pl.when(is_reply).then(pl.col("dst_ip")).otherwise(pl.col("src_ip")),
        pair_dst=pl.when(is_reply).then(pl.col("src_ip")).otherwise(pl.col("dst_ip")),
        req_bytes=pl.when(is_reply).then(pl.col("bytes_in")).otherwise(pl.col("bytes_out")).fill_null(0),
        rep_bytes=pl.when(is_reply).then(pl.col("bytes_out")).otherwise(pl.col("bytes_in")).fill_null(0),
        # A per-packet record (no packet counts) is one packet.
        req_pkts=pl.when(is_reply)
        .then(pl.col("packets_in").fill_null(0))
        .otherwise(pl.col("packets_out").fill_null(1)),
        rep_pkts=pl.when(is_reply)
        .then(pl.col("packets_out").fill_null(1))
        .otherwise(pl.col("packets_in").fill_null(0)),
        bucket=(pl.col("time").dt.epoch("s") // window) * window,
    ).with_columns(
        record_payload=pl.when(pl.col("req_pkts") > 0)
        .then(pl.col("req_bytes") / pl.col("req_pkts"))
        .when(pl.col("rep_pkts") > 0)
        .then(pl.col("rep_bytes") / pl.col("rep_pkts"))
        .otherwise(None)
    )

    pairs = (
        flows.sort("time")
        .group_by("bucket", "pair_src", "pair_dst")
        .agg(
            records=pl.len(),
            req_pkts=pl.col("req_pkts").sum(),
            rep_pkts=pl.col("rep_pkts").sum(),
            req_bytes=pl.col("req_bytes").sum(),
            rep_bytes=pl.col("rep_bytes").sum(),
            payload_std=pl.col("record_payload").std(ddof=0),
            last_time=pl.col("time").last(),
            last_id=pl.col("id").last(),
            evidence=pl.col("id").tail(MAX_EVIDENCE),
        )
        .with_columns(
            packets=pl.max_horizontal("req_pkts", "rep_pkts"),
            payload_bytes=pl.max_horizontal("req_bytes", "rep_bytes"),
            mean_payload=(pl.col("req_bytes") + pl.col("rep_bytes"))
            / pl.max_horizontal(pl.col("req_pkts") + pl.col("rep_pkts"), pl.lit(1)),
        )
        .with_columns(
            large_payload=pl.col("mean_payload") > params["max_normal_payload"],
            varying_payload=(pl.col("records") >= 3) & (pl.col("payload_std").fill_null(0) > params["max_payload_std"]),
            high_packets=pl.col("packets") > params["max_packets"],
            high_bytes=pl.col("payload_bytes") > params["max_bytes"],
        )
        .filter(pl.any_horizontal("large_payload", "varying_payload", "high_packets", "high_bytes"))
        .sort("bucket", "pair_src", "pair_dst")
    )

    matches = []
    for row in pairs.iter_rows(named=True):  # one row per suspicious pair and window
        reasons = [name for name in ("large_payload", "varying_payload", "high_packets", "high_bytes") if row[name]]
        matches.append(
            MatchSpec(
                dedup_key=match_key(f"a:{ANALYTIC_TYPE}", row["pair_src"], row["pair_dst"], row["bucket"]),
                time=row["last_time"],
                event_id=row["last_id"],
                evidence_event_ids=row["evidence"],
                entity_type="ip",
                entity=row["pair_src"],
                fields={
                    "src_ip": row["pair_src"],
                    "dst_ip": row["pair_dst"],
                    "packets": row["packets"],
                    "payload_bytes": row["payload_bytes"],
                    "mean_payload_bytes": round(row["mean_payload"], 1),
                    "payload_std": round(row["payload_std"] or 0.0, 1),
                    "records": row["records"],
                    "reasons": reasons,
                    "window_seconds": window,
                },
            )
        )
    return matches
