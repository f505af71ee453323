"""Rules over the API: Sigma YAML in (validated, errors naming the line), filters, retro-hunts, runs."""

from __future__ import annotations

import pytest

from detections.models import DetectionRule, DetectionRun, RuleMatch
from detections.rule_yaml import MAX_RULE_BYTES
from detections.services.rules import save_analytic_rule
from tests.api.conftest import EXEC_INTO_POD_YAML
from tests.detections.hostile_yaml import FIRST_ALIAS_LINE, deep_flow, finishes_within, laughs
from tests.detections.pipeline_factories import T0, audit_line, ingest_lines, k8s_source

BAD_MODIFIER_YAML = EXEC_INTO_POD_YAML.replace("verb: create", "verb|contanis: create")  # line 12
ATTACH_YAML = EXEC_INTO_POD_YAML.replace("000000000001", "000000000002").replace(
    "subresource: exec", "subresource: attach"
)


@pytest.mark.django_db
def test_invalid_sigma_is_a_400_naming_the_line_and_stores_nothing(engineer_api):
    response = engineer_api.post("/api/v1/rules/", {"sigma_yaml": BAD_MODIFIER_YAML}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["line"] == 12
    assert "line 12" in body["detail"]
    assert "contanis" in body["detail"]
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_yaml_that_is_not_yaml_names_its_line(engineer_api):
    response = engineer_api.post("/api/v1/rules/", "title: x\n  bad: [\n", content_type="application/yaml")
    assert response.status_code == 400
    assert response.json()["line"] == 2


@pytest.mark.django_db
def test_create_stores_the_rule_with_its_strategies_and_reposting_updates_it(engineer_api, strategy):
    body = {"sigma_yaml": EXEC_INTO_POD_YAML, "status": "test", "strategies": ["container-c2"]}
    created = engineer_api.post("/api/v1/rules/", body, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert rule["rule_uid"] == "9a3c1b2e-0000-4c5d-8e9f-000000000001"
    assert (rule["status"], rule["level"], rule["strategies"], rule["attack_ids"]) == (
        "test",
        "high",
        ["container-c2"],
        ["T1609"],
    )
    again = engineer_api.post("/api/v1/rules/", {"sigma_yaml": EXEC_INTO_POD_YAML}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == rule["id"]
    assert DetectionRule.objects.count() == 1


@pytest.mark.django_db
def test_create_takes_the_yaml_as_the_body(engineer_api):
    response = engineer_api.post("/api/v1/rules/", EXEC_INTO_POD_YAML, content_type="application/yaml")
    assert response.status_code == 201
    assert response.json()["sigma_yaml"] == EXEC_INTO_POD_YAML


@pytest.mark.django_db
def test_unknown_strategy_slug_is_a_400(engineer_api):
    body = {"sigma_yaml": EXEC_INTO_POD_YAML, "strategies": ["nope"]}
    response = engineer_api.post("/api/v1/rules/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("strategies")


@pytest.mark.django_db
def test_update_replaces_the_yaml_but_keeps_the_sigma_id(engineer_api, rule):
    changed = EXEC_INTO_POD_YAML.replace("level: high", "level: critical")
    response = engineer_api.put(f"/api/v1/rules/{rule.pk}/", {"sigma_yaml": changed}, format="json")
    assert response.status_code == 200
    assert response.json()["level"] == "critical"
    other_id = engineer_api.put(f"/api/v1/rules/{rule.pk}/", {"sigma_yaml": ATTACH_YAML}, format="json")
    assert other_id.status_code == 400
    assert "not this rule's id" in other_id.json()["detail"]
    assert DetectionRule.objects.count() == 1


@pytest.mark.django_db
def test_patch_changes_the_status_only(engineer_api, rule):
    response = engineer_api.patch(f"/api/v1/rules/{rule.pk}/", {"status": "disabled"}, format="json")
    assert response.status_code == 200
    rule.refresh_from_db()
    assert rule.status == DetectionRule.Status.DISABLED
    assert rule.sigma_yaml == EXEC_INTO_POD_YAML


@pytest.mark.django_db
def test_patch_of_an_analytic_changes_its_status(engineer_api):
    analytic = save_analytic_rule(uid="beaconing", title="Beaconing", analytic_type="beaconing", parameters={"a": 1})
    response = engineer_api.patch(f"/api/v1/rules/{analytic.pk}/", {"status": "test"}, format="json")
    assert response.status_code == 200
    analytic.refresh_from_db()
    assert (analytic.status, analytic.parameters) == ("test", {"a": 1})


@pytest.mark.django_db
def test_list_filters_by_kind_status_level_and_strategy(analyst_api, engineer_api, rule):
    engineer_api.post("/api/v1/rules/", {"sigma_yaml": ATTACH_YAML, "status": "disabled"}, format="json")
    save_analytic_rule(uid="beaconing", title="Beaconing", analytic_type="beaconing", level="low")

    def titles(query):
        response = analyst_api.get(f"/api/v1/rules/{query}")
        assert response.status_code == 200
        return [row["title"] for row in response.json()["results"]]

    assert titles("") == ["Beaconing", "Exec into a pod", "Exec into a pod"]
    assert titles("?kind=analytic") == ["Beaconing"]
    assert titles("?status=disabled&kind=sigma") == ["Exec into a pod"]
    assert titles("?level=low") == ["Beaconing"]
    assert titles("?strategy=container-c2") == ["Exec into a pod"]


@pytest.mark.django_db
def test_retro_hunt_answers_202_with_its_run_and_records_the_matches(
    engineer_api, analyst_api, rule, django_capture_on_commit_callbacks
):
    exec_event = audit_line(verb="create", resource="pods", subresource="exec", at=T0)
    ingest_lines(k8s_source(), [exec_event], hand_off=False)  # stored, not yet detected

    with django_capture_on_commit_callbacks(execute=True):  # the task is queued once the run is committed
        response = engineer_api.post(
            f"/api/v1/rules/{rule.pk}/retro-hunt/",
            {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            format="json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    run = DetectionRun.objects.get(pk=body["run"])
    assert (run.kind, run.matches) == (DetectionRun.Kind.RETRO_HUNT, 1)
    assert RuleMatch.objects.filter(rule=rule).count() == 1
    runs = analyst_api.get(body["runs"]).json()["results"]
    assert [r["id"] for r in runs] == [run.pk]


@pytest.mark.django_db
def test_retro_hunt_with_a_real_worker_answers_its_run_before_the_task_runs(
    engineer_api, rule, django_capture_on_commit_callbacks
):
    from celery import current_app

    from detections.tasks import retro_hunt

    ingest_lines(k8s_source(), [audit_line(verb="create", resource="pods", subresource="exec", at=T0)], hand_off=False)
    current_app.conf.task_always_eager = False  # only queued (memory broker), as with a worker; conftest restores it
    with current_app.connection_for_write() as connection:
        queue = connection.SimpleQueue(current_app.conf.task_default_queue)
        queue.clear()
        with django_capture_on_commit_callbacks(execute=True):
            response = engineer_api.post(
                f"/api/v1/rules/{rule.pk}/retro-hunt/",
                {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
                format="json",
            )
        assert response.status_code == 202, response.content
        body = response.json()
        run = DetectionRun.objects.get(pk=body["run"])
        assert (run.kind, run.status, run.matches) == (DetectionRun.Kind.RETRO_HUNT, DetectionRun.Status.RUNNING, 0)
        assert (run.window_start.isoformat(), run.window_end.isoformat()) == (
            "2026-11-20T00:00:00+00:00",
            "2026-11-21T00:00:00+00:00",
        )
        assert list(run.rules.all()) == [rule]
        message = queue.get(timeout=1)  # the message a worker would receive
        message.ack()
        queue.close()
    assert message.headers["task"] == "detections.tasks.retro_hunt"
    assert message.headers["id"] == body["task_id"]
    args, kwargs, _ = message.decode()

    # The worker fills that run; a redelivered message leaves it as it is.
    assert retro_hunt.apply(args=args, kwargs=kwargs).get() == run.pk
    run.refresh_from_db()
    assert (run.status, run.events_scanned, run.matches) == (DetectionRun.Status.SUCCEEDED, 1, 1)
    finished_at = run.finished_at
    assert retro_hunt.apply(args=args, kwargs=kwargs).get() == run.pk
    run.refresh_from_db()
    assert (run.matches, run.finished_at) == (1, finished_at)
    assert RuleMatch.objects.filter(rule=rule).count() == 1
    assert DetectionRun.objects.filter(kind=DetectionRun.Kind.RETRO_HUNT).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        ("2026-11-21T00:00:00Z", "2026-11-20T00:00:00Z", "after the start"),
        ("2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z", "after the start"),
        ("2026-10-01T00:00:00Z", "2026-11-20T00:00:00Z", "at most 31 days"),
        ("yesterday", "2026-11-20T00:00:00Z", "start"),
    ],
)
def test_retro_hunt_refuses_a_bad_range(engineer_api, rule, start, end, problem):
    response = engineer_api.post(f"/api/v1/rules/{rule.pk}/retro-hunt/", {"start": start, "end": end}, format="json")
    assert response.status_code == 400
    assert problem in response.json()["detail"]
    assert not DetectionRun.objects.exists()


@pytest.mark.django_db
def test_runs_filter_by_kind_and_status(analyst_api, rule):
    DetectionRun.objects.create(kind=DetectionRun.Kind.STREAM, status=DetectionRun.Status.SUCCEEDED)
    hunt = DetectionRun.objects.create(kind=DetectionRun.Kind.RETRO_HUNT, status=DetectionRun.Status.FAILED)
    hunt.rules.add(rule)

    def ids(query):
        return [r["id"] for r in analyst_api.get(f"/api/v1/runs/{query}").json()["results"]]

    assert ids("?kind=retro_hunt") == [hunt.pk]
    assert ids("?status=failed") == [hunt.pk]
    assert ids(f"?rule={rule.pk}") == [hunt.pk]
    assert len(ids("")) == 2


@pytest.mark.django_db
def test_the_rule_list_costs_the_same_few_queries_however_many_rules(
    analyst_api, strategy, django_assert_max_num_queries
):
    for i in range(10):
        save_analytic_rule(uid=f"a{i}", title=f"A{i}", analytic_type="beaconing", strategies=[strategy])
    with django_assert_max_num_queries(5):  # permissions, the page count and rows, the strategies of the page
        response = analyst_api.get("/api/v1/rules/")
    assert response.json()["count"] == 10


# --------------------------------------------------------------------------- hostile YAML (issue 13)


@pytest.mark.django_db
@pytest.mark.parametrize("as_json", [False, True], ids=["yaml-body", "json-body"])
def test_yaml_aliases_are_a_quick_400_naming_the_first_alias_line(engineer_api, as_json):
    text = laughs(under="detection")
    with finishes_within(2):
        if as_json:
            response = engineer_api.post("/api/v1/rules/", {"sigma_yaml": text}, format="json")
        else:
            response = engineer_api.post("/api/v1/rules/", text, content_type="application/yaml")
    assert response.status_code == 400
    body = response.json()
    assert body["line"] == FIRST_ALIAS_LINE
    assert body["detail"] == f"Not stored: line {FIRST_ALIAS_LINE}: YAML aliases (*a) are not allowed in rules"
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_a_5000_deep_flow_sequence_is_a_400_with_its_line(engineer_api):
    with finishes_within(2):
        response = engineer_api.post("/api/v1/rules/", deep_flow(5000), content_type="application/yaml")
    assert response.status_code == 400
    assert response.json()["line"] == 3
    # libyaml's own flow-depth limit (1000) speaks first here; deeper block nesting gets ours (MAX_DEPTH).
    assert "nest" in response.json()["detail"]


@pytest.mark.django_db
def test_the_rule_size_limit_holds_when_the_rule_comes_inside_json(engineer_api, rule):
    big = EXEC_INTO_POD_YAML.replace("level: high", f"level: high\nfalsepositives:\n    - {'a' * MAX_RULE_BYTES}")
    response = engineer_api.post("/api/v1/rules/", {"sigma_yaml": big}, format="json")
    assert response.status_code == 400
    assert f"at most {MAX_RULE_BYTES} bytes" in response.json()["detail"]
    rule.refresh_from_db()
    assert rule.sigma_yaml == EXEC_INTO_POD_YAML  # the stored rule is untouched
    assert DetectionRule.objects.count() == 1


@pytest.mark.django_db
def test_a_rule_on_an_unmapped_field_is_stored_and_answers_with_a_warning(engineer_api):
    text = EXEC_INTO_POD_YAML.replace("objectRef.subresource: exec", "objectRef.subresourse: exec")  # line 14
    response = engineer_api.post("/api/v1/rules/", text, content_type="application/yaml")
    assert response.status_code == 201
    warnings = response.json()["warnings"]
    assert [(w["line"], w["field"]) for w in warnings] == [(14, "objectRef.subresourse")]
    assert "objectRef.subresourse" in warnings[0]["message"]
    assert DetectionRule.objects.count() == 1
    clean = engineer_api.post("/api/v1/rules/", {"sigma_yaml": EXEC_INTO_POD_YAML}, format="json")
    assert clean.json()["warnings"] == []
