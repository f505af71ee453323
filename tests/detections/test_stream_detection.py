"""Streaming detection of ingested batches: matches, runs, broken rules, redelivery, the sweep, retro-hunts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from detections.models import BatchDetection, DetectionRule, DetectionRun, RuleMatch
from detections.services.detection import (
    MatchSpec,
    entity_of,
    pending_batches,
    record_matches,
    run_retro_hunt,
    start_retro_hunt,
)
from detections.tasks import detect_batch, detect_pending_events, retro_hunt
from telemetry.models import Event, IngestBatch
from triage.models import Alert, AlertEvidence

from .pipeline_factories import (
    DEPLOYMENT_DELETED,
    EXEC_INTO_POD,
    NETCAT_REVERSE_SHELL,
    T0,
    audit_line,
    ingest_lines,
    k8s_source,
    load_rule,
    minutes,
)

BROKEN_RULE = """title: Broken after an upgrade
id: 0badbad0-0000-4000-8000-000000000001
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb|nosuchmodifier: create
    condition: selection
level: high
"""


def attack_lines():
    return [
        audit_line(verb="get", resource="pods", user="alice", ip="10.1.2.3", at=T0),
        audit_line(verb="create", resource="pods", subresource="exec", at=T0 + minutes(1)),
        audit_line(verb="delete", resource="deployments", name="web", api_group="apps", at=T0 + minutes(2)),
    ]


@pytest.fixture
def k8s_rules(db):
    return load_rule(EXEC_INTO_POD), load_rule(DEPLOYMENT_DELETED)


def test_ingested_batch_is_detected_then_alerted(k8s_rules, django_capture_on_commit_callbacks):
    exec_rule, deleted_rule = k8s_rules
    with django_capture_on_commit_callbacks(execute=True):
        report = ingest_lines(k8s_source(), attack_lines())
    run = DetectionRun.objects.get(batch_id=report.batch_id)
    assert run.kind == DetectionRun.Kind.STREAM
    assert run.status == DetectionRun.Status.SUCCEEDED
    assert (run.events_scanned, run.matches, run.alerts) == (3, 2, 2)
    assert set(run.rules.all()) == {exec_rule, deleted_rule}
    assert run.window_start == T0 and run.window_end == T0 + minutes(2)
    assert BatchDetection.objects.filter(batch_id=report.batch_id, run=run).exists()

    exec_match = RuleMatch.objects.get(rule=exec_rule)
    event = Event.objects.get(k8s_subresource="exec")
    assert exec_match.dedup_key == f"e:{event.pk}"
    assert (exec_match.entity_type, exec_match.entity) == ("pod", "default/web-1")
    assert exec_match.fields == {"verb": "create", "objectRef.resource": "pods", "objectRef.subresource": "exec"}

    alert = Alert.objects.get(rule=exec_rule)
    assert alert.title == "Potential Remote Command Execution In Pod Container on default/web-1"
    assert alert.count == 1 and alert.first_seen == T0 + minutes(1)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # runtime events: the container, whatever else they name
        (
            {"container_id": "5fe7199a2509", "pod": "web-1", "namespace": "default", "host": "n1"},
            ("container", "5fe7199a2509"),
        ),
        ({"container_name": "web", "host": "n1", "src_ip": "10.0.0.1"}, ("container", "web")),
        # Kubernetes audit: a pod (also its exec subresource) is the pod ...
        (
            {
                "k8s_resource": "pods",
                "k8s_object_name": "web-1",
                "pod": "web-1",
                "namespace": "default",
                "src_ip": "10.10.0.91",
            },
            ("pod", "default/web-1"),
        ),
        # ... a workload is namespace/resource/name, never the caller's address
        (
            {
                "k8s_resource": "deployments",
                "k8s_object_name": "implant",
                "namespace": "payments",
                "src_ip": "10.10.0.77",
            },
            ("workload", "payments/deployments/implant"),
        ),
        (
            {"k8s_resource": "cronjobs", "k8s_object_name": "backup", "namespace": "ops", "src_ip": "10.0.0.1"},
            ("workload", "ops/cronjobs/backup"),
        ),
        # other API objects, and a workload without a name (list, generateName), keep the caller
        (
            {"k8s_resource": "secrets", "k8s_object_name": "db", "namespace": "ops", "src_ip": "10.0.0.1"},
            ("ip", "10.0.0.1"),
        ),
        ({"k8s_resource": "deployments", "namespace": "ops", "src_ip": "10.0.0.1"}, ("ip", "10.0.0.1")),
        ({"host": "lab-node-2", "src_ip": "10.0.0.1"}, ("host", "lab-node-2")),
        ({}, ("", "")),
    ],
)
def test_entity_precedence_is_container_pod_workload_host_address(event, expected):
    assert entity_of(event) == expected


def test_a_workload_event_names_the_workload_not_the_callers_address(k8s_rules, django_capture_on_commit_callbacks):
    _, deleted_rule = k8s_rules
    line = audit_line(
        verb="delete", resource="deployments", name="implant", namespace="payments", api_group="apps", ip="10.10.0.77"
    )
    with django_capture_on_commit_callbacks(execute=True):
        ingest_lines(k8s_source(), [line])
    match = RuleMatch.objects.get(rule=deleted_rule)
    assert (match.entity_type, match.entity) == ("workload", "payments/deployments/implant")
    alert = Alert.objects.get(rule=deleted_rule)
    assert (alert.entity_type, alert.entity) == ("workload", "payments/deployments/implant")


RAW_FIELDS_RULE = """title: Deployment deleted with kubectl
id: 3c1f4e8a-5b6d-4e7f-8a9b-0c1d2e3f4a5b
logsource:
    product: kubernetes
    service: audit
detection:
    selection:
        verb: delete
        objectRef.apiGroup: apps
        userAgent|startswith: 'kubectl/'
    condition: selection
level: low
"""


def test_fields_without_a_canonical_column_are_read_from_the_raw_record(db, django_capture_on_commit_callbacks):
    from detections.services.rules import save_sigma_rule

    rule = save_sigma_rule(yaml_text=RAW_FIELDS_RULE)
    with django_capture_on_commit_callbacks(execute=True):
        ingest_lines(k8s_source(), attack_lines())
    match = RuleMatch.objects.get(rule=rule)
    assert match.fields == {"verb": "delete", "objectRef.apiGroup": "apps", "userAgent": "kubectl/v1.29.0"}
    assert Event.objects.get(pk=match.event_id).k8s_resource == "deployments"


def test_broken_rule_is_reported_and_the_others_still_match(k8s_rules, django_capture_on_commit_callbacks):
    # A rule stored before a pySigma upgrade made it invalid: detection must carry on without it.
    broken = DetectionRule.objects.create(
        title="Broken after an upgrade",
        rule_uid="0badbad0-0000-4000-8000-000000000001",
        sigma_yaml=BROKEN_RULE,
        logsource_product="kubernetes",
        logsource_service="audit",
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = ingest_lines(k8s_source(), attack_lines())
    run = DetectionRun.objects.get(batch_id=report.batch_id)
    assert run.status == DetectionRun.Status.PARTIAL
    assert run.matches == 2
    assert len(run.errors) == 1
    error = run.errors[0]
    assert (error["rule_id"], error["rule_title"]) == (broken.pk, "Broken after an upgrade")
    assert "nosuchmodifier" in error["error"]
    assert RuleMatch.objects.filter(rule__in=k8s_rules).count() == 2


def test_redelivered_batch_records_no_duplicate_matches_or_alerts(k8s_rules, django_capture_on_commit_callbacks):
    report = ingest_lines(k8s_source(), attack_lines(), hand_off=False)
    with django_capture_on_commit_callbacks(execute=True):
        first = detect_batch.apply(args=[report.batch_id]).get()
    with django_capture_on_commit_callbacks(execute=True):
        second = detect_batch.apply(args=[report.batch_id]).get()
    assert first == second
    assert DetectionRun.objects.count() == 1
    assert RuleMatch.objects.count() == 2
    assert Alert.objects.count() == 2
    assert AlertEvidence.objects.count() == 2


def test_only_enabled_rules_routed_to_the_source_format_run(db, django_capture_on_commit_callbacks):
    exec_rule = load_rule(EXEC_INTO_POD, status=DetectionRule.Status.DISABLED)
    deleted_rule = load_rule(DEPLOYMENT_DELETED)
    netcat = load_rule(NETCAT_REVERSE_SHELL)  # linux process_creation: not for audit events
    with django_capture_on_commit_callbacks(execute=True):
        report = ingest_lines(k8s_source(), attack_lines())
    run = DetectionRun.objects.get(batch_id=report.batch_id)
    assert list(run.rules.all()) == [deleted_rule]
    assert not RuleMatch.objects.filter(rule__in=[exec_rule, netcat]).exists()


def test_sweep_detects_a_batch_whose_task_message_was_lost(k8s_rules, django_capture_on_commit_callbacks):
    report = ingest_lines(k8s_source(), attack_lines(), hand_off=False)  # the message never arrives
    IngestBatch.objects.filter(pk=report.batch_id).update(received_at=timezone.now() - timedelta(minutes=5))
    assert pending_batches() == [report.batch_id]
    with django_capture_on_commit_callbacks(execute=True):
        swept = detect_pending_events.apply().get()
    assert swept == [report.batch_id]
    assert pending_batches() == []
    assert RuleMatch.objects.count() == 2
    assert Alert.objects.count() == 2
    # The next sweep finds nothing left to do.
    assert detect_pending_events.apply().get() == []


def test_sweep_leaves_fresh_batches_to_their_own_message(k8s_rules):
    ingest_lines(k8s_source(), attack_lines(), hand_off=False)
    assert pending_batches() == []


def test_record_matches_skips_keys_already_recorded(k8s_rules):
    rule = k8s_rules[0]
    specs = [MatchSpec(dedup_key="g:user=mallory:w1", time=T0, entity_type="group", entity="mallory")]
    assert record_matches(rule=rule, matches=specs, run=None) == 1
    assert record_matches(rule=rule, matches=specs, run=None) == 0
    assert RuleMatch.objects.filter(rule=rule).count() == 1


def test_retro_hunt_finds_past_events_for_a_rule_added_later(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_lines(k8s_source(), attack_lines())  # no rules yet: nothing matched
    rule = load_rule(EXEC_INTO_POD, status=DetectionRule.Status.TEST)
    with django_capture_on_commit_callbacks(execute=True):
        run = run_retro_hunt(rule_id=rule.pk, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
    assert run.kind == DetectionRun.Kind.RETRO_HUNT
    assert (run.status, run.events_scanned, run.matches) == (DetectionRun.Status.SUCCEEDED, 3, 1)
    assert (run.window_start, run.window_end) == (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    run.refresh_from_db()
    assert run.alerts == 1
    # Hunting the same window again records nothing new.
    again = run_retro_hunt(rule_id=rule.pk, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
    assert again.matches == 0
    assert RuleMatch.objects.filter(rule=rule).count() == 1


def test_retro_hunt_window_excludes_events_outside_it(db):
    ingest_lines(k8s_source(), attack_lines(), hand_off=False)
    rule = load_rule(EXEC_INTO_POD)
    run = run_retro_hunt(rule_id=rule.pk, start=T0 + minutes(2), end=T0 + minutes(10))
    assert (run.events_scanned, run.matches) == (1, 0)


def test_worker_killed_mid_batch_leaves_nothing_and_the_redelivery_does_it_all(
    k8s_rules, monkeypatch, django_capture_on_commit_callbacks
):
    import detections.services.detection as detection

    report = ingest_lines(k8s_source(), attack_lines(), hand_off=False)
    real_record = detection.record_matches
    calls = []

    def record_then_die(**kwargs):
        real_record(**kwargs)
        calls.append(1)
        raise SystemExit("worker killed")  # not an Exception: nothing in the service may swallow it

    monkeypatch.setattr(detection, "record_matches", record_then_die)
    with pytest.raises(SystemExit):
        detect_batch.apply(args=[report.batch_id], throw=True)
    assert calls == [1]
    assert not RuleMatch.objects.exists()  # the first rule's matches were rolled back with the run
    assert not DetectionRun.objects.exists()
    assert pending_batches(grace_seconds=0) == [report.batch_id]

    monkeypatch.setattr(detection, "record_matches", real_record)
    with django_capture_on_commit_callbacks(execute=True):
        detect_batch.apply(args=[report.batch_id])
    assert RuleMatch.objects.count() == 2
    assert DetectionRun.objects.get().matches == 2
    assert Alert.objects.count() == 2


def test_retro_hunt_task_reads_instants_without_offset_as_utc(db):
    ingest_lines(k8s_source(), attack_lines(), hand_off=False)
    rule = load_rule(EXEC_INTO_POD)
    run_id = retro_hunt.apply(args=[rule.pk, "2026-11-20T09:00:00", "2026-11-20T11:00:00"]).get()
    run = DetectionRun.objects.get(pk=run_id)
    assert (run.window_start, run.matches) == (T0 - timedelta(hours=1), 1)


def test_a_started_retro_hunt_is_filled_by_its_task_once(db, django_capture_on_commit_callbacks):
    ingest_lines(k8s_source(), attack_lines(), hand_off=False)
    rule = load_rule(EXEC_INTO_POD)
    with django_capture_on_commit_callbacks(execute=True):
        run = start_retro_hunt(rule=rule, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
        # The run exists before its task is queued, which happens once it is committed.
        assert (run.status, list(run.rules.all())) == (DetectionRun.Status.RUNNING, [rule])
    run.refresh_from_db()
    assert (run.status, run.events_scanned, run.matches) == (DetectionRun.Status.SUCCEEDED, 3, 1)
    # A redelivered message does not hunt a finished run again, even over new events.
    later_exec = audit_line(verb="create", resource="pods", subresource="exec", name="web-2", at=T0)
    ingest_lines(k8s_source(), [later_exec], hand_off=False)
    assert retro_hunt.apply(kwargs={"run_id": run.pk}).get() == run.pk
    run.refresh_from_db()
    assert (run.events_scanned, run.matches) == (3, 1)
    assert RuleMatch.objects.filter(rule=rule).count() == 1
    assert DetectionRun.objects.count() == 1
