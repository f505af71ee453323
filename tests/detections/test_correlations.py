"""Sigma correlations over stored base-rule matches: across ingest batches, once, and not below threshold.

Base matches are recorded the way the streaming pipeline records them
(record_matches, one DetectionRun per ingest batch), so a correlation whose
events straddle two batches is evaluated from the database, as a worker would.
"""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from detections.models import AnalyticState, DetectionRule, DetectionRun, RuleMatch
from detections.services.correlation import (
    CorrelationError,
    base_rule_ids_without_output,
    evaluate_correlation,
    parse_correlation,
    run_due_correlations,
)
from detections.services.detection import MatchSpec, record_matches
from telemetry.models import Event, IngestBatch, Source

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
_seq = count()

POD_EXEC = """
title: Exec into a pod
id: 6c4f1f52-1a43-4c1e-9d1a-000000000001
name: pod_exec
status: test
logsource: {product: kubernetes, service: audit}
detection:
  selection: {verb: create, objectRef.resource: pods, objectRef.subresource: exec}
  condition: selection
level: low
"""
SECRET_READ = """
title: Secret read
id: 6c4f1f52-1a43-4c1e-9d1a-000000000002
name: secret_read
status: test
logsource: {product: kubernetes, service: audit}
detection:
  selection: {verb: get, objectRef.resource: secrets}
  condition: selection
level: low
"""


def correlation_yaml(kind: str, rules: list[str], condition: str = "", *, timespan="10m", extra="") -> str:
    return f"""
title: {kind} correlation
id: 6c4f1f52-1a43-4c1e-9d1a-0000000001{next(_seq):02d}
name: corr_{kind}
status: test
correlation:
  type: {kind}
  rules: [{", ".join(rules)}]
  group-by: [user.username]
  timespan: {timespan}
  {condition}
  {extra}
level: high
"""


@pytest.fixture
def audit(db) -> Source:
    return Source.objects.create(name="k8s-audit", format=Source.Format.K8S_AUDIT)


@pytest.fixture
def base_rules(db) -> dict[str, DetectionRule]:
    rules = {}
    for text, name in ((POD_EXEC, "pod_exec"), (SECRET_READ, "secret_read")):
        uid = text.split("id: ")[1].split()[0]
        rules[name] = DetectionRule.objects.create(
            title=name,
            rule_uid=uid,
            name=name,
            sigma_yaml=text,
            logsource_product="kubernetes",
            logsource_service="audit",
        )
    return rules


def correlation_rule(text: str) -> DetectionRule:
    uid = text.split("id: ")[1].split()[0]
    return DetectionRule.objects.create(
        title="correlation", rule_uid=uid, kind=DetectionRule.Kind.SIGMA_CORRELATION, sigma_yaml=text
    )


def ingest_batch(audit: Source, base_rules, hits: list[tuple[str, str, int, str]]) -> DetectionRun:
    """One ingest batch and its streamed detection: (base rule, user, seconds after T0, pod) per match."""
    batch = IngestBatch.objects.create(source=audit, channel=IngestBatch.Channel.API, accepted=len(hits))
    run = DetectionRun.objects.create(kind=DetectionRun.Kind.STREAM, batch=batch)
    events = Event.objects.bulk_create(
        [
            Event(
                source=audit,
                batch=batch,
                fingerprint=f"fp{next(_seq)}",
                time=T0 + timedelta(seconds=seconds),
                kind="k8s_audit",
                k8s_user=user,
                k8s_verb="create" if rule == "pod_exec" else "get",
                k8s_resource="pods" if rule == "pod_exec" else "secrets",
                k8s_subresource="exec" if rule == "pod_exec" else "",
                k8s_object_name=pod,
                raw={"user": {"username": user}},
            )
            for rule, user, seconds, pod in hits
        ]
    )
    for (rule, _, _, _), event in zip(hits, events, strict=True):
        record_matches(
            rule=base_rules[rule],
            matches=[MatchSpec(dedup_key=f"e:{event.pk}", time=event.time, event_id=event.pk)],
            run=run,
        )
    return run


def matches_of(rule: DetectionRule) -> list[RuleMatch]:
    return list(RuleMatch.objects.filter(rule=rule).order_by("time"))


# --------------------------------------------------------------------------- event_count


def test_event_count_fires_once_across_two_batches(audit, base_rules):
    rule = correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {gte: 4}"))
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-1") for s in (0, 30)])
    ingest_batch(audit, base_rules, [("pod_exec", "alice", 40, "web-1")])  # one exec: below threshold

    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=1)) == 0

    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-2") for s in (60, 90)])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=2)) == 1
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=3)) == 0  # re-evaluation adds nothing

    [match] = matches_of(rule)
    assert (match.entity_type, match.entity) == ("user", "mallory")
    assert match.fields["user.username"] == "mallory" and match.fields["value"] == 4
    assert match.dedup_key == f"c:mallory:{int(T0.timestamp()) // 600 * 600}"
    assert len(match.evidence_event_ids) == 4 and match.event_id == match.evidence_event_ids[-1]
    assert match.time == T0 + timedelta(seconds=90)


def test_event_count_outside_the_timespan_does_not_fire(audit, base_rules):
    rule = correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {gte: 3}", timespan="5m"))
    ingest_batch(audit, base_rules, [("pod_exec", "bob", s, "web-1") for s in (0, 200)])
    ingest_batch(audit, base_rules, [("pod_exec", "bob", 400, "web-1")])  # 400 s after the first: too late

    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=10)) == 0


def test_a_continuing_burst_is_one_finding_per_timespan_and_fires_again_in_the_next(audit, base_rules):
    rule = correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {gte: 3}", timespan="10m"))
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-1") for s in (0, 10, 20, 30)])
    evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=1))
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-1") for s in (40, 50, 60)])

    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=2)) == 0  # same burst, same window
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-1") for s in (700, 710, 720)])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=13)) == 1

    first, second = matches_of(rule)
    assert first.time == T0 + timedelta(seconds=20) and second.time == T0 + timedelta(seconds=720)
    assert first.dedup_key != second.dedup_key


def test_lt_condition_judges_whole_windows_once_they_close(audit, base_rules):
    rule = correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {lt: 2}", timespan="10m"))
    ingest_batch(audit, base_rules, [("pod_exec", "carol", 60, "web-1"), ("pod_exec", "dave", 60, "web-1")])
    ingest_batch(audit, base_rules, [("pod_exec", "dave", 120, "web-1")])

    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=5)) == 0  # window still open
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=11)) == 1
    assert [m.entity for m in matches_of(rule)] == ["carol"]


# --------------------------------------------------------------------------- value_count


def test_value_count_counts_distinct_pods_across_batches(audit, base_rules):
    rule = correlation_rule(correlation_yaml("value_count", ["pod_exec"], "condition: {gte: 3, field: objectRef.name}"))
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 0, "web-1"), ("pod_exec", "mallory", 10, "db-0")])
    # alice execs into the same pod four times: many events, one value.
    ingest_batch(audit, base_rules, [("pod_exec", "alice", s, "web-1") for s in (20, 30, 40, 50)])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=1)) == 0

    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 70, "db-0"), ("pod_exec", "mallory", 80, "cache-2")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=2)) == 1
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=2)) == 0

    [match] = matches_of(rule)
    assert match.entity == "mallory" and match.fields["value"] == 3


# --------------------------------------------------------------------------- temporal


def test_temporal_needs_every_rule_for_the_same_user_within_the_timespan(audit, base_rules):
    rule = correlation_rule(correlation_yaml("temporal", ["pod_exec", "secret_read"]))
    ingest_batch(audit, base_rules, [("secret_read", "mallory", 0, ""), ("pod_exec", "alice", 10, "web-1")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=1)) == 0

    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 240, "web-1"), ("secret_read", "bob", 250, "")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=5)) == 1
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=6)) == 0

    [match] = matches_of(rule)
    assert match.entity == "mallory" and match.fields["rules"] == ["pod_exec", "secret_read"]


def test_temporal_references_rules_by_id_as_well_as_by_name(audit, base_rules):
    rule = correlation_rule(
        correlation_yaml("temporal", [base_rules["pod_exec"].rule_uid, "secret_read"], timespan="1m")
    )
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 0, "web-1")])
    ingest_batch(audit, base_rules, [("secret_read", "mallory", 120, "")])  # two minutes later: outside 1m

    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=5)) == 0
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 150, "web-1")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=5)) == 1


# --------------------------------------------------------------------------- temporal_ordered


def test_temporal_ordered_fires_only_in_the_listed_order(audit, base_rules):
    rule = correlation_rule(correlation_yaml("temporal_ordered", ["secret_read", "pod_exec"]))
    # alice: exec first, then the secret: the wrong order.
    ingest_batch(audit, base_rules, [("pod_exec", "alice", 0, "web-1"), ("secret_read", "mallory", 5, "")])
    ingest_batch(audit, base_rules, [("secret_read", "alice", 60, "")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=2)) == 0

    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 300, "web-1")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=6)) == 1
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=7)) == 0

    [match] = matches_of(rule)
    assert match.entity == "mallory" and match.fields["value"] == 2
    assert match.fields["window_start"] == (T0 + timedelta(seconds=5)).isoformat()


# --------------------------------------------------------------------------- scheduling and errors


def test_run_due_correlations_records_a_run_and_resumes_from_its_watermark(audit, base_rules):
    rule = correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {gte: 3}"))
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-1") for s in (0, 30)])

    first = run_due_correlations(now=T0 + timedelta(minutes=1))
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 60, "web-1")])
    second = run_due_correlations(now=T0 + timedelta(minutes=6))
    third = run_due_correlations(now=T0 + timedelta(minutes=11))

    assert [first.matches, second.matches, third.matches] == [0, 1, 0]
    assert second.kind == DetectionRun.Kind.SCHEDULED and second.status == DetectionRun.Status.SUCCEEDED
    assert second.events_scanned == 3  # base matches read
    assert AnalyticState.objects.get(rule=rule).evaluated_until == T0 + timedelta(minutes=11)
    assert RuleMatch.objects.get(rule=rule).run == second


def test_a_late_batch_of_old_events_is_still_correlated(audit, base_rules):
    rule = correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {gte: 3}"))
    run_due_correlations(now=T0 + timedelta(hours=3))  # watermark well past the events below

    ingest_batch(audit, base_rules, [("pod_exec", "mallory", s, "web-1") for s in (0, 30, 60)])  # replayed logs
    run = run_due_correlations(now=T0 + timedelta(hours=3, minutes=5))

    assert run.matches == 1 and RuleMatch.objects.get(rule=rule).entity == "mallory"


def test_a_correlation_referencing_a_missing_rule_is_reported_on_the_run(audit, base_rules):
    broken = correlation_rule(correlation_yaml("event_count", ["no_such_rule"], "condition: {gte: 3}"))

    with pytest.raises(CorrelationError, match="no_such_rule"):
        parse_correlation(broken)
    run = run_due_correlations(now=T0)
    assert run.status == DetectionRun.Status.FAILED and "no_such_rule" in run.errors[0]["error"]


def test_group_by_fields_map_through_the_base_rules_logsource(base_rules):
    parsed = parse_correlation(
        correlation_rule(
            correlation_yaml("value_count", ["pod_exec", "secret_read"], "condition: {gte: 2, field: objectRef.name}")
        )
    )

    assert [b.columns for b in parsed.base_rules] == [
        {"user.username": "k8s_user", "objectRef.name": "k8s_object_name"}
    ] * 2
    assert (parsed.timespan_seconds, parsed.op, parsed.count) == (600, "gte", 2)


def test_temporal_with_an_extended_condition_evaluates_the_expression(audit, base_rules):
    rule = correlation_rule(
        correlation_yaml("temporal", ["pod_exec", "secret_read"], "condition: pod_exec and secret_read")
    )
    ingest_batch(audit, base_rules, [("pod_exec", "mallory", 0, "web-1"), ("pod_exec", "mallory", 20, "web-2")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=1)) == 0

    ingest_batch(audit, base_rules, [("secret_read", "mallory", 90, "")])
    assert evaluate_correlation(rule=rule, now=T0 + timedelta(minutes=2)) == 1


def test_aliases_name_a_different_field_per_base_rule(base_rules):
    aliases = "aliases: {actor: {pod_exec: user.username, secret_read: objectRef.namespace}}"
    text = correlation_yaml("temporal", ["pod_exec", "secret_read"], extra=aliases).replace(
        "group-by: [user.username]", "group-by: [actor]"
    )

    parsed = parse_correlation(correlation_rule(text))

    assert [b.columns for b in parsed.base_rules] == [{"actor": "k8s_user"}, {"actor": "namespace"}]


def test_base_rules_of_a_correlation_without_generate_raise_no_alerts_of_their_own(base_rules):
    correlation_rule(correlation_yaml("event_count", ["pod_exec"], "condition: {gte: 3}"))
    correlation_rule(correlation_yaml("temporal", ["pod_exec", "secret_read"], extra="generate: true"))

    assert base_rule_ids_without_output() == set()  # pod_exec is also wanted on its own by the second
    DetectionRule.objects.filter(sigma_yaml__contains="generate: true").delete()
    assert base_rule_ids_without_output() == {base_rules["pod_exec"].pk}
