"""Differential test: our polars engine against pySigma-backend-sqlite on the same events.

Every rule under the shared SigmaHQ rules (all products, recursively) that the sqlite backend
converts gets events generated from its own detection tree (detections.engine.synthetic):
a matching event per selection alternative, near misses per item, and selection+filter
events. Both engines must return the identical (rule, event index) set, first per rule and
then for all string-only rules over the union of all generated events in one batch.
Run with -s to see the coverage summary.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from detections.engine import compile_rules, prefilter
from detections.engine.compiler import FULLTEXT_COLUMN, And, Leaf, Not, Or
from detections.engine.ruleset import CompiledRuleSet
from detections.engine.sqlite_reference import convert, load_events, make_backend, run
from detections.engine.synthetic import EventGenerator
from tests.conftest import SHARED_DATA


def _leaves(node):
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, Not):
        yield from _leaves(node.arg)
    elif isinstance(node, And | Or):
        for arg in node.args:
            yield from _leaves(arg)


def _load(rules_dir: Path) -> list[tuple[str, SigmaRule]]:
    out = []
    for path in sorted(rules_dir.rglob("*.yml")):
        for rule in SigmaCollection.from_yaml(path.read_text(), collect_errors=True).rules:
            if isinstance(rule, SigmaRule):
                out.append((str(path.relative_to(rules_dir)), rule))
    return out


@pytest.fixture(scope="module")
def corpus():
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}")
    rules = _load(SHARED_DATA / "sigma-rules" / "rules")
    backend = make_backend()
    covered, skipped = [], Counter()
    for path, rule in rules:
        if rule.errors:
            skipped[f"pySigma parse error: {rule.errors[0]}"] += 1
            continue
        try:
            queries = convert(rule, backend)
        except (SigmaError, ValueError) as error:
            skipped[f"sqlite backend: {str(error.args[0])[:80]}"] += 1
            continue
        covered.append((path, rule, queries))
    return rules, covered, skipped


def test_engine_matches_sqlite_reference_rule_by_rule(corpus):
    rules, covered, skipped = corpus
    ruleset = compile_rules([rule for _, rule, _ in covered])
    engine_rejected = {e.rule_id: e.message for e in ruleset.errors}
    compiled = {r.rule_id: r for r in ruleset.rules}
    generator = EventGenerator(seed=11)
    mismatches, event_count, positives, without_positive = [], 0, 0, []
    for path, rule, queries in covered:
        compiled_rule = compiled.get(str(rule.id) if rule.id else rule.title)
        if compiled_rule is None:
            continue
        events = generator.rule_events(compiled_rule.tree)
        event_count += len(events)
        single = CompiledRuleSet([compiled_rule], [], [])
        ours = {row for _, row in single.match(events)}
        columns = sorted(compiled_rule.columns - {FULLTEXT_COLUMN})
        theirs = run(load_events(events, columns), queries)
        positives += len(theirs)
        if not theirs:
            without_positive.append(path)
        if ours != theirs:
            mismatches.append((path, sorted(ours ^ theirs), [events[i] for i in sorted(ours ^ theirs)][:3]))
    print(
        f"\n[differential] rule files parsed: {len(rules)}; converted by sqlite: {len(covered)}; "
        f"compared: {len(covered) - len(engine_rejected)}; rejected by engine: {len(engine_rejected)}; "
        f"events: {event_count}, reference matches: {positives}"
    )
    print(f"[differential] rules whose generated events include a match: {len(covered) - len(without_positive)}")
    for path in without_positive:
        print(f"[differential] no generated event matches (negatives only): {path}")
    for reason, count in skipped.items():
        print(f"[differential] skipped {count}: {reason}")
    for rule_id, message in engine_rejected.items():
        print(f"[differential] engine rejected {rule_id}: {message}")
    assert not engine_rejected, engine_rejected
    assert not mismatches, mismatches[:5]
    assert len(covered) >= 170


def _string_only(rule) -> bool:
    return all(leaf.kind not in ("num", "cmp", "bool") for leaf in _leaves(rule.tree))


@pytest.mark.parametrize("strategy", ["prefilter_and_distinct", "prefilter_by_column", "distinct_only", "full_select"])
def test_engine_matches_sqlite_reference_for_all_rules_in_one_batch(corpus, strategy, monkeypatch):
    """Cross-talk check: every string-valued rule over every rule's events at once, with each
    evaluation strategy (events repeat, so the distinct-value path is taken)."""
    _, covered, _ = corpus
    queries = {str(rule.id) if rule.id else rule.title: q for _, rule, q in covered}
    ruleset = compile_rules([rule for _, rule, _ in covered])
    rules = [r for r in ruleset.rules if _string_only(r)]
    batch = CompiledRuleSet(rules, [], [])
    batch._evaluator.use_prefilter = strategy.startswith("prefilter")
    if strategy == "prefilter_by_column":  # the large-batch form of the literal prefilter
        monkeypatch.setattr(prefilter, "LONG_FORMAT_MAX_ROWS", 0)
    batch._evaluator.use_distinct = strategy != "full_select"
    generator = EventGenerator(seed=5)
    events = []
    for rule in rules:
        for event in generator.rule_events(rule.tree):
            events.append({k: v if isinstance(v, str) else str(v) for k, v in event.items()})
    events = events * 3
    columns = sorted(set().union(*(r.columns for r in rules)) - {FULLTEXT_COLUMN})
    connection = load_events(events, columns)
    theirs = {(rule.rule_id, row) for rule in rules for row in run(connection, queries[rule.rule_id])}
    ours = set(batch.match(events))
    print(f"\n[differential] one batch: {len(rules)} rules x {len(events)} events, {len(theirs)} reference matches")
    assert ours == theirs, sorted(ours ^ theirs)[:10]
