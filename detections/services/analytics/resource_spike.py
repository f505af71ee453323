"""Resource hijacking (ATT&CK T1496): a container's CPU or memory jumping far above its own baseline.

Per container and metric (`cpu_cores`, `memory_bytes` of metric events), each
sample is compared with a baseline of the samples strictly before the run it
would complete: the rolling mean and standard deviation over the
`baseline_seconds` before the sample `min_samples - 1` samples earlier. So
neither the sample itself nor the run's earlier samples are in its baseline:
with them, a spike's first high samples inflate the mean and deviation the next
ones are judged against, and at 60 s scrapes a container needed ~40 quiet samples
before a three-sample spike could register. `min_samples` consecutive samples
with a z-score >= `z_threshold`, each with at least `min_baseline_samples`
samples in its baseline, make one match per run, keyed by the run's first sample
so re-evaluating the same data adds nothing. (Samples after the `min_samples`-th
are judged against a baseline that holds the run's start, so a long spike's run,
and its `samples`, may end before the spike does; it fires once either way.)

The deviation is floored at `min_std_fraction` of the baseline mean: a busy but
perfectly steady container (4.00 cores, always) would otherwise turn any jitter
into an infinite z-score. Only rises count; a container going idle is not hijacked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from django.db.models import Q

from .base import MatchSpec, Parameter, load_events, match_key

ANALYTIC_TYPE = "resource_spike"

PARAMETERS = {
    "baseline_seconds": Parameter(int, 3600, minimum=60, maximum=7 * 86400, help="Baseline window behind a sample."),
    "z_threshold": Parameter(float, 4.0, minimum=0.5, help="Standard deviations above the baseline mean."),
    "min_samples": Parameter(int, 3, minimum=1, help="Consecutive samples above the threshold."),
    "min_baseline_samples": Parameter(int, 10, minimum=2, help="Samples a baseline needs before it judges."),
    "min_std_fraction": Parameter(float, 0.05, minimum=0.0, maximum=10.0, help="Deviation floor, share of the mean."),
    "metrics": Parameter(list, ["cpu_cores", "memory_bytes"], help="Metric columns to watch."),
}

METRICS = ("cpu_cores", "memory_bytes")


def check_parameters(params: dict) -> None:
    unknown = [m for m in params["metrics"] if m not in METRICS]
    if unknown:
        raise ValueError(f"parameter 'metrics': unknown metric {unknown[0]!r} (known: {', '.join(METRICS)})")


def evaluate(rule, window_start: datetime, window_end: datetime, params: dict) -> list[MatchSpec]:
    baseline = params["baseline_seconds"]
    # Samples up to two baselines back: the run being judged may have started before
    # window_start, and its first sample needs a full baseline of its own.
    start = window_start - timedelta(seconds=2 * baseline)
    metrics = [m for m in METRICS if m in params["metrics"]]
    samples = load_events(
        {
            "container_name": pl.String,
            "container_id": pl.String,
            "pod": pl.String,
            **dict.fromkeys(metrics, pl.Float64),
        },
        start=start,
        end=window_end,
        where=Q(kind="metric"),
    )
    if samples.is_empty():
        return []
    entity = pl.coalesce(
        pl.col("container_id").replace("", None),
        pl.col("container_name").replace("", None),
        pl.col("pod").replace("", None),
    )
    samples = samples.with_columns(entity=entity).filter(pl.col("entity").is_not_null())
    long = pl.concat(
        [
            samples.filter(pl.col(m).is_not_null()).select(
                "id", "time", "entity", pl.lit(m).alias("metric"), pl.col(m).cast(pl.Float64).alias("value")
            )
            for m in metrics
        ]
    ).sort("entity", "metric", "time")
    if long.is_empty():
        return []

    period = f"{baseline}s"
    series = ["entity", "metric"]
    # The baseline a sample is judged against ends where the min_samples-long run it would
    # complete starts: the statistics of the samples before it (closed="left"), shifted by
    # min_samples - 1 samples, so the run's own samples never judge each other.
    lag = params["min_samples"] - 1
    scored = (
        long.with_columns(
            baseline_mean=pl.col("value").rolling_mean_by("time", period, closed="left").over(series),
            baseline_std=pl.col("value").rolling_std_by("time", period, closed="left").over(series),
            baseline_n=pl.col("value")
            .is_not_null()
            .cast(pl.Int64)
            .rolling_sum_by("time", period, closed="left")
            .over(series),
        )
        .with_columns(pl.col("baseline_mean", "baseline_std", "baseline_n").shift(lag).over(series))
        .with_columns(
            deviation=pl.max_horizontal(
                pl.col("baseline_std").fill_null(0.0),
                pl.col("baseline_mean").abs() * params["min_std_fraction"],
                pl.lit(1e-9),
            )
        )
        .with_columns(z=(pl.col("value") - pl.col("baseline_mean")) / pl.col("deviation"))
        .with_columns(
            high=(pl.col("baseline_n").fill_null(0) >= params["min_baseline_samples"])
            & (pl.col("z") >= params["z_threshold"]).fill_null(False)
        )
        # Runs of consecutive high samples per series: a new run id wherever `high` flips.
        .with_columns(run=(pl.col("high") != pl.col("high").shift(1)).fill_null(True).cum_sum().over(series))
    )
    runs = (
        scored.filter(pl.col("high"))
        .group_by(*series, "run")
        .agg(
            samples=pl.len(),
            first_time=pl.col("time").first(),
            first_id=pl.col("id").first(),
            peak_value=pl.col("value").max(),
            peak_z=pl.col("z").max(),
            baseline_mean=pl.col("baseline_mean").first(),
            last_time=pl.col("time").last(),
            evidence=pl.col("id"),
            nth_time=pl.col("time").get(params["min_samples"] - 1, null_on_oob=True),
        )
        # The run became a match when its min_samples-th sample arrived; report it if that is in this window.
        .filter(
            (pl.col("samples") >= params["min_samples"])
            & (pl.col("nth_time") >= window_start)
            & (pl.col("nth_time") < window_end)
        )
        .sort(*series, "first_time")
    )

    matches = []
    for row in runs.iter_rows(named=True):  # one row per spike run
        matches.append(
            MatchSpec(
                dedup_key=match_key(
                    f"a:{ANALYTIC_TYPE}", row["entity"], row["metric"], int(row["first_time"].timestamp())
                ),
                time=row["nth_time"],
                event_id=row["first_id"],
                evidence_event_ids=row["evidence"][:50],
                entity_type="container",
                entity=row["entity"],
                fields={
                    "metric": row["metric"],
                    "value": row["peak_value"],
                    "baseline_mean": round(row["baseline_mean"], 6),
                    "z": round(row["peak_z"], 2),
                    "samples": row["samples"],
                    "started_at": row["first_time"].isoformat(),
                },
            )
        )
    return matches
