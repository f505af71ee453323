"""Rule pages: filtered list, a rule with its matches and runs, retro-hunt from the page, runs list."""

from datetime import timedelta

import pytest

from detections.models import DetectionRule, DetectionRun

from .pipeline_factories import DEPLOYMENT_DELETED, EXEC_INTO_POD, T0, audit_line, ingest_lines, k8s_source, load_rule


@pytest.fixture
def rules(db):
    return load_rule(EXEC_INTO_POD), load_rule(DEPLOYMENT_DELETED, status=DetectionRule.Status.TEST)


def test_rule_list_filters_by_status_level_and_kind(client, analyst, rules):
    client.force_login(analyst)
    page = client.get("/detections/rules/", {"status": "test"}).content.decode()
    assert "Deployment Deleted From Kubernetes Cluster" in page
    assert "Potential Remote Command Execution In Pod Container" not in page
    page = client.get("/detections/rules/", {"level": "medium", "kind": "sigma"}).content.decode()
    assert "Potential Remote Command Execution In Pod Container" in page
    assert "Deployment Deleted" not in page


def test_rule_page_shows_yaml_matches_and_runs(client, analyst, rules, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_lines(k8s_source(), [audit_line(verb="create", resource="pods", subresource="exec", at=T0)])
    client.force_login(analyst)
    page = client.get(rules[0].get_absolute_url()).content.decode()
    assert "objectRef.subresource" in page  # the YAML
    assert "pod: default/web-1" in page  # a match
    assert "Streaming batch" in page  # its run
    assert "Hunt past events" not in page  # analysts cannot retro-hunt


def test_engineer_queues_a_retro_hunt_from_the_rule_page_and_lands_on_its_run(
    client, engineer, rules, django_capture_on_commit_callbacks
):
    ingest_lines(k8s_source(), [audit_line(verb="create", resource="pods", subresource="exec", at=T0)], hand_off=False)
    client.force_login(engineer)
    assert "Hunt past events" in client.get(rules[0].get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the task is queued once the run is committed
        response = client.post(
            f"/detections/rules/{rules[0].pk}/retro-hunt/",
            {
                "start": (T0 - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
                "end": (T0 + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
            },
        )
    assert response.status_code == 302
    run = DetectionRun.objects.get(kind=DetectionRun.Kind.RETRO_HUNT)  # eager Celery ran it here
    assert run.matches == 1
    assert response.url == f"{rules[0].get_absolute_url()}#run-{run.pk}"
    page = client.get(response.url).content.decode()
    assert f'id="run-{run.pk}"' in page
    assert f"run #{run.pk}" in page  # the message names it


def test_analyst_cannot_start_a_retro_hunt(client, analyst, rules):
    client.force_login(analyst)
    response = client.post(
        f"/detections/rules/{rules[0].pk}/retro-hunt/", {"start": "2026-11-01 00:00", "end": "2026-11-02 00:00"}
    )
    assert response.status_code == 403
    assert not DetectionRun.objects.exists()


def test_run_list_shows_window_counts_and_errors(client, analyst, rules):
    DetectionRun.objects.create(
        kind=DetectionRun.Kind.STREAM,
        status=DetectionRun.Status.PARTIAL,
        events_scanned=120,
        matches=3,
        alerts=2,
        duration_ms=45,
        window_start=T0,
        window_end=T0 + timedelta(minutes=5),
        errors=[{"rule_id": 1, "rule_title": "Broken rule", "error": "line 8: Unknown modifier 'x'"}],
    )
    client.force_login(analyst)
    page = client.get("/detections/rules/runs/").content.decode()
    for text in ("120", "45 ms", "Broken rule", "Unknown modifier", "2026-11-20 10:00:00", "Finished with rule errors"):
        assert text in page
