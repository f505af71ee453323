"""Benchmark: the polars Sigma engine against pySigma-backend-sqlite on the same events.

    .venv/bin/python bench/engine.py [--events 200000] [--threads 1]

Loads the SigmaHQ Linux process_creation rules from the shared data (recursively), builds
synthetic Linux process_creation events (benign background plus ~1.5% derived from the rules'
own selections and filters), runs both engines in the same run and prints events/s, the ratio,
the number of matches of each and whether the (rule, event) sets are identical. The engine is
measured with polars limited to --threads cores (POLARS_MAX_THREADS is set before polars is
imported); the 2-thread figure comes from a second run of this script in a subprocess.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--engine-only", action="store_true", help="skip SQLite and the 2-thread subprocess")
    parser.add_argument("--repeat", type=int, default=3, help="engine runs; the best is reported")
    parser.add_argument("--rules", default=None, help="rules directory (default: shared linux/process_creation)")
    return parser.parse_args()


ARGS = _args()
os.environ["POLARS_MAX_THREADS"] = str(ARGS.threads)
sys.path.insert(0, str(ROOT))

import random  # noqa: E402

import polars as pl  # noqa: E402
from sigma.collection import SigmaCollection  # noqa: E402
from sigma.rule import SigmaRule  # noqa: E402

from detections.engine import compile_rules  # noqa: E402
from detections.engine.compiler import FULLTEXT_COLUMN  # noqa: E402
from detections.engine.frame import events_to_frame  # noqa: E402
from detections.engine.sqlite_reference import convert, load_events, make_backend, run  # noqa: E402
from detections.engine.synthetic import EventGenerator, benign_process_events  # noqa: E402
from detections.rule_yaml import load_rule_documents  # noqa: E402


def shared_rules_dir() -> Path:
    data = Path(os.environ.get("ADS_SHARED_DATA", ROOT.parent / "shared" / "data"))
    return data / "sigma-rules" / "rules" / "linux" / "process_creation"


def load_rules(directory: Path) -> list[SigmaRule]:
    rules = []
    for path in sorted(directory.rglob("*.y*ml")):
        rules.extend(
            r
            for r in SigmaCollection.from_dicts(load_rule_documents(path.read_text())).rules
            if isinstance(r, SigmaRule)
        )
    return rules


def make_events(ruleset, count: int, seed: int = 42) -> list[dict]:
    rng = random.Random(seed)
    events = benign_process_events(rng, count)
    generator = EventGenerator(seed=seed)
    derived = []
    for rule in ruleset.rules:
        derived.extend(generator.rule_events(rule.tree))
    # ~1.5% of events exercise a rule's selection or filter, on top of a benign event's fields.
    slots = rng.sample(range(count), k=int(count * 0.015))
    for slot in slots:
        overlay = rng.choice(derived)
        events[slot] = {**events[slot], **overlay}
    return events


def main() -> None:
    directory = Path(ARGS.rules) if ARGS.rules else shared_rules_dir()
    rules = load_rules(directory)
    started = time.perf_counter()
    ruleset = compile_rules(rules)
    compile_s = time.perf_counter() - started
    events = make_events(ruleset, ARGS.events)
    frame = events_to_frame(events)
    n = frame.height

    # warm-up (regex compilation caches), then best of --repeat
    ruleset.match(frame.head(1000))
    timings = []
    for _ in range(ARGS.repeat):
        started = time.perf_counter()
        ours = ruleset.match(frame)
        timings.append(time.perf_counter() - started)
    engine_s = min(timings)
    started = time.perf_counter()
    ruleset.match(events)
    engine_dicts_s = time.perf_counter() - started

    print(
        f"rules: {len(rules)} from {directory} (compiled {len(ruleset.rules)}, errors {len(ruleset.errors)}, {compile_s:.2f}s)"
    )
    print(f"events: {n:,}; polars threads: {pl.thread_pool_size()}")
    print(
        f"engine  ({ARGS.threads} thread{'s' if ARGS.threads > 1 else ''}): {engine_s:.3f}s  {n / engine_s:>12,.0f} events/s  matches: {len(ours):,}"
    )
    print(f"engine incl. list[dict] -> DataFrame: {engine_dicts_s:.3f}s  {n / engine_dicts_s:>12,.0f} events/s")
    if ARGS.engine_only:
        print(f"ENGINE_EVENTS_PER_S={n / engine_s:.0f}")
        return

    backend = make_backend()
    queries = {}
    for rule in rules:
        rule_id = str(rule.id) if rule.id else rule.title
        queries[rule_id] = convert(rule, backend)
    columns = sorted(set().union(*(r.columns for r in ruleset.rules)) - {FULLTEXT_COLUMN})
    started = time.perf_counter()
    connection = load_events(events, columns)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = set()
    for rule_id, rule_queries in queries.items():
        theirs.update((rule_id, row) for row in run(connection, rule_queries))
    sqlite_s = time.perf_counter() - started

    identical = set(ours) == theirs
    print(
        f"sqlite  (reference):  {sqlite_s:.3f}s  {n / sqlite_s:>12,.0f} events/s  matches: {len(theirs):,}  (table load {load_s:.2f}s not counted)"
    )
    print(f"speed-up engine/sqlite: {sqlite_s / engine_s:.1f}x")
    print(f"identical (rule, event) sets: {identical}")
    if not identical:
        diff = sorted(set(ours) ^ theirs)
        print(f"  differing pairs: {len(diff)}, e.g. {diff[:5]}")

    two = subprocess.run(
        [
            sys.executable,
            __file__,
            "--events",
            str(ARGS.events),
            "--threads",
            "2",
            "--engine-only",
            *(["--rules", ARGS.rules] if ARGS.rules else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    figure = next(
        (line.split("=", 1)[1] for line in two.stdout.splitlines() if line.startswith("ENGINE_EVENTS_PER_S=")), None
    )
    if figure:
        print(f"engine  (2 threads): {int(figure):>12,} events/s")
    else:
        print(f"engine (2 threads) run failed: {two.stderr[-500:]}")


if __name__ == "__main__":
    main()
