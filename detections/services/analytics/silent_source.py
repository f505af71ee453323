"""Silent sources: telemetry that stopped arriving is a blind spot, and sometimes an attack (T1562).

Reads `telemetry.selectors.silent_sources(now)` (sources quiet for longer than
their `expected_cadence_seconds`) and reports each as a match about the source
itself (entity_type "source", no event). The key is the source and the cadence
bucket in which its silence began, so one silence is one match however often the
schedule looks at it, and a source that recovers and falls silent again is a new one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from telemetry.selectors import silent_sources

from .base import MatchSpec, Parameter, bucket_start, match_key, source_scope

ANALYTIC_TYPE = "silent_source"

PARAMETERS = {
    "sources": Parameter(list, [], help="Source names to watch; empty means every source with a cadence."),
}


def evaluate(rule, window_start: datetime, window_end: datetime, params: dict) -> list[MatchSpec]:
    watched = set(params["sources"])
    matches = []
    scope = source_scope()
    for source, silent_for in silent_sources(window_end):
        if watched and source.name not in watched:
            continue
        if scope is not None and source.pk not in scope:
            continue
        cadence = source.expected_cadence_seconds
        silent_since = window_end - timedelta(seconds=silent_for)
        matches.append(
            MatchSpec(
                dedup_key=match_key(f"a:{ANALYTIC_TYPE}", source.name, bucket_start(silent_since, cadence)),
                time=window_end,
                event_id=None,
                entity_type="source",
                entity=source.name,
                fields={
                    "source": source.name,
                    "silent_for_seconds": int(silent_for),
                    "expected_cadence_seconds": cadence,
                    "silent_since": silent_since.isoformat(),
                    "last_event_at": source.last_event_at.isoformat() if source.last_event_at else None,
                },
            )
        )
    return matches
