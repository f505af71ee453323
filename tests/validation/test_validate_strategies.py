"""Every shipped strategy's emulation proves its detections: attacks alert, documented false positives stay quiet.

Each test replays one strategy's scenarios (validation/scenarios/<slug>/) through the whole
pipeline (parse -> store -> detect -> suppress -> alert) in an isolated, rolled-back store.
"""

from fnmatch import fnmatchcase

import pytest
from django.core.management import call_command

from detections.models import Strategy
from telemetry.models import Event
from triage.models import Alert
from validation.models import ValidationRun
from validation.scenarios import scenarios_for
from validation.services import execute_validation

SHIPPED = [
    "container-c2-nonstandard-protocols",
    "container-security-bypass",
    "container-infrastructure-compromise",
    "windows-container-privileged-evasion",
    "container-one-way-communication",
]

pytestmark = pytest.mark.django_db


@pytest.fixture
def library():
    call_command("load_library", verbosity=0)


@pytest.mark.parametrize("slug", SHIPPED)
def test_every_scenario_of_the_strategy_passes(library, slug):
    scenarios = scenarios_for(slug)
    assert any(s.kind == "attack" for s in scenarios) and any(s.kind == "benign" for s in scenarios)
    run = execute_validation(run=ValidationRun.objects.create(strategy=Strategy.objects.get(slug=slug)))
    results = {r.scenario_key: r for r in run.results.all()}
    assert set(results) == {s.key for s in scenarios}
    failures = [f"{key}: {r.reason}" for key, r in results.items() if not r.passed]
    assert not failures, "\n".join(failures)
    for scenario in scenarios:
        result = results[scenario.key]
        if scenario.kind == "attack":
            observed = {(a["rule"], a["entity"]) for a in result.actual}
            for expected in scenario.expected_alerts:
                assert any(
                    rule == expected.rule and fnmatchcase(entity, expected.entity) for rule, entity in observed
                ), (
                    scenario.key,
                    expected,
                )
        else:
            assert result.actual == [], (scenario.key, result.actual)
    assert run.status == ValidationRun.Status.PASSED


def test_replays_leave_nothing_behind(library):
    execute_validation(run=ValidationRun.objects.create(strategy=Strategy.objects.get(slug=SHIPPED[0])))
    assert Event.objects.count() == 0 and Alert.objects.count() == 0


def test_a_failing_expectation_is_reported_with_its_reason(library, tmp_path, settings, monkeypatch):
    from validation import scenarios as scenario_files

    source = scenario_files.SCENARIOS_DIR / "container-one-way-communication"
    attack = next(s for s in scenarios_for("container-one-way-communication") if s.kind == "attack")
    target = tmp_path / "container-one-way-communication" / attack.key
    target.mkdir(parents=True)
    for file in (source / attack.key).iterdir():
        target.joinpath(file.name).write_bytes(file.read_bytes())
    manifest = target / "scenario.yml"
    manifest.write_text(manifest.read_text().replace(attack.expected_alerts[0].rule, "no-such-rule-uid", 1))
    monkeypatch.setattr(scenario_files, "SCENARIOS_DIR", tmp_path)
    monkeypatch.setattr("validation.services.scenarios_for", lambda slug: scenario_files.scenarios_for(slug, tmp_path))
    run = execute_validation(
        run=ValidationRun.objects.create(strategy=Strategy.objects.get(slug="container-one-way-communication"))
    )
    assert run.status == ValidationRun.Status.FAILED
    assert "expected an alert of rule no-such-rule-uid" in run.results.get().reason


def test_validate_strategies_command_reports_each_scenario_and_exits_zero(library, capsys):
    call_command("validate_strategies", "container-one-way-communication", "--no-load")
    out = capsys.readouterr().out
    assert "PASSED  container-one-way-communication" in out and "1/1 strategies validated" in out


def test_run_validation_button_runs_the_job_and_shows_results(
    client, engineer, library, django_capture_on_commit_callbacks
):
    strategy = Strategy.objects.get(slug="container-one-way-communication")
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/validation/strategies/{strategy.slug}/run/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run = strategy.validation_runs.get()
    assert run.status == ValidationRun.Status.PASSED  # eager Celery in the embedded default
    page = client.get(strategy.get_absolute_url()).content.decode()
    assert "Validation: validated" in page
    assert "docker run -d --name test_container -p 9999:80 alpine sleep infinity" in page  # lab commands


def test_load_library_is_idempotent():
    from detections.models import DetectionRule
    from triage.models import Suppression

    call_command("load_library", verbosity=0)
    counts = (Strategy.objects.count(), DetectionRule.objects.count(), Suppression.objects.count())
    call_command("load_library", verbosity=0)
    assert (Strategy.objects.count(), DetectionRule.objects.count(), Suppression.objects.count()) == counts
    assert counts[0] == 5 and counts[1] >= 40


def test_analyst_cannot_start_a_validation(client, analyst, library):
    client.force_login(analyst)
    assert client.post("/validation/strategies/container-one-way-communication/run/").status_code == 403


def test_a_queued_validation_polls_until_its_worker_is_done(client, engineer, library):
    strategy = Strategy.objects.get(slug="container-one-way-communication")
    ValidationRun.objects.create(strategy=strategy, status=ValidationRun.Status.QUEUED)
    client.force_login(engineer)
    partial = client.get(f"/validation/strategies/{strategy.slug}/results/").content.decode()
    assert 'hx-trigger="every 2s"' in partial and "Queued" in partial
    strategy.validation_runs.update(status=ValidationRun.Status.PASSED)
    assert (
        'hx-trigger="every 2s"' not in client.get(f"/validation/strategies/{strategy.slug}/results/").content.decode()
    )


def test_replay_keys_carry_their_namespace_even_when_hashed():
    from detections.services.analytics.base import isolated_match_keys, match_key

    assert match_key("c", "10.0.0.1", 60) == "c:10.0.0.1:60"
    with isolated_match_keys("replay-1"):
        assert match_key("c", "10.0.0.1", 60) == "replay-1/c:10.0.0.1:60"
        hashed = match_key("c", "x" * 400, 60)
    assert hashed.startswith("replay-1/c:h:") and len(hashed) <= 255
    assert match_key("c", "x" * 400, 60).startswith("c:h:")
