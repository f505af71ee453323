"""The quality check of strategies: the findings each seed document really has, the checks one by one,
`manage.py lint_ads`, and technique suggestions."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from detections.models import (
    BlindSpot,
    DetectionRule,
    FalsePositive,
    Resource,
    ResponseStep,
    Strategy,
    StrategyTechnique,
    Technique,
    ValidationScenario,
    ValidationStep,
)
from detections.services import suggest
from detections.services.attack import load_attack_catalogue
from detections.services.quality import lint_strategy, quality_report
from detections.services.strategies import import_strategy

CONTAINER_TECHNIQUES = {"T1610", "T1611", "T1609", "T1612"}


@pytest.fixture
def seeds(attack_catalogue, seed_paths) -> dict[str, Strategy]:
    """The five seed documents, imported as a user would, keyed by their number ("000" ... "004")."""
    return {
        path.stem[:3]: import_strategy(text=path.read_text(encoding="utf-8"), path=str(path)).strategy
        for path in seed_paths
    }


def findings_by_code(strategy: Strategy) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in lint_strategy(strategy):
        found.setdefault(finding.code, []).append(finding)
    return found


def complete_strategy(*, slug="deploy-container", attack_id="T1610", name="Deploy Container", **fields) -> Strategy:
    """A strategy that satisfies every check: the baseline each single-check test breaks in one place."""
    values = {
        "title": "Unexpected container deployed in the cluster",
        "goal": "Detect an adversary deploying a new container into the environment to execute malware or evade "
        "defenses, through the Docker daemon or the Kubernetes API.",
        "strategy_abstract": "Kubernetes audit events and Docker events for container creation from unknown images.",
        "technical_context": "Adversaries may deploy a container from a malicious image, or a vanilla image whose "
        "command downloads malware, to run processes inside the container platform.",
        "tactics": ["Execution", "Defense Evasion"],
        "platforms": ["Containers"],
        "priority": Strategy.Priority.HIGH,
        "priority_justification": "A deployed container runs code with the cluster's network access.",
        "validation_intro": "",
        "response_intro": "",
    }
    values.update(fields)
    strategy = Strategy.objects.create(slug=slug, **values)
    StrategyTechnique.objects.create(
        strategy=strategy,
        attack_id=attack_id,
        name_as_written=name,
        technique=Technique.objects.filter(attack_id=attack_id).first(),
    )
    BlindSpot.objects.create(strategy=strategy, text="Containers started by a compromised CI runner look legitimate.")
    FalsePositive.objects.create(strategy=strategy, text="Engineers deploying debug containers.")
    scenario = ValidationScenario.objects.create(strategy=strategy, name="Deploy an alpine container")
    ValidationStep.objects.create(scenario=scenario, text="kubectl run probe --image=alpine -- sleep 600")
    ResponseStep.objects.create(strategy=strategy, text="Isolate the container.")
    Resource.objects.create(
        strategy=strategy, title="Deploy Container", url="https://attack.mitre.org/techniques/T1610"
    )
    rule = DetectionRule.objects.create(title="Container from unknown image", rule_uid=f"rule-{slug}")
    rule.strategies.add(strategy)
    return strategy


# --- the seed documents ------------------------------------------------------------------------


def test_every_seed_is_flagged_for_having_no_detection_rule(seeds):
    for strategy in seeds.values():
        assert findings_by_code(strategy)["rules-none"][0].severity == "warning"


def test_seed_000_network_platform_is_called_network_devices_in_attack_v18(seeds):
    found = findings_by_code(seeds["000"])

    [platform] = found["platform-mismatch"]
    assert platform.severity == "warning"
    assert 'Platform "Network"' in platform.message
    assert "T1095: ESXi, Linux, macOS, Network Devices, Windows" in platform.message
    assert '"Network Devices"' in platform.suggestion
    # macOS is a T1095 platform in ATT&CK v18.1, the tactic and name agree: nothing else to say.
    assert not {"tactic-mismatch", "technique-name-mismatch", "technique-unknown"} & found.keys()
    assert not quality_report(seeds["000"]).has_errors


def test_seed_000_resources_are_rule_titles_without_links(seeds):
    assert findings_by_code(seeds["000"])["resources-without-links"][0].severity == "info"


def test_seed_001_maps_network_device_cli_to_a_document_about_containers(seeds):
    found = findings_by_code(seeds["001"])

    [platform] = found["platform-mismatch"]
    assert "T1059.008: Network Devices" in platform.message
    [fit] = found["mapping-weak-fit"]
    assert "T1059.008 Network Device CLI" in fit.message
    assert "T1610 Deploy Container" in fit.message
    assert not {"tactic-mismatch", "technique-name-mismatch"} & found.keys()
    assert found["resources-none"][0].severity == "warning"


def test_seed_002_pre_platform_is_explained_wrongly_and_validation_has_no_steps(seeds):
    found = findings_by_code(seeds["002"])

    [gloss] = found["platform-gloss"]
    assert "PRE (Privileged Remote Environment)" in gloss.message
    assert "pre-compromise" in gloss.message
    assert "platform-mismatch" not in found  # "PRE" itself is T1584's ATT&CK platform
    assert "T1584 Compromise Infrastructure" in found["technique-pre-compromise"][0].message
    [validation] = found["validation-no-steps"]
    assert validation.severity == "error"
    assert "no specific emulation steps are available" in validation.message
    assert quality_report(seeds["002"]).has_errors


def test_seed_003_validation_admits_its_steps_are_not_concrete(seeds):
    found = findings_by_code(seeds["003"])

    [validation] = found["validation-not-concrete"]
    assert validation.severity == "error"
    assert "no specific step-by-step instructions" in validation.message


def test_seed_003_tactics_agree_with_attack_v18_1(seeds):
    # T1055.005 Thread Local Storage is Defense Evasion and Privilege Escalation in ATT&CK v18.1.
    found = findings_by_code(seeds["003"])

    assert "tactic-mismatch" not in found
    assert "platform-mismatch" not in found


def test_seed_004_names_t1102_003_as_attack_does(seeds):
    found = findings_by_code(seeds["004"])

    assert seeds["004"].technique_mappings.get().name_as_written == "One-Way Communication"
    assert "technique-name-mismatch" not in found
    assert {f.severity for fs in found.values() for f in fs} == {"warning"}  # only the missing rule


def test_seeds_about_containers_get_container_techniques_suggested(seeds):
    for number, strategy in seeds.items():
        top5 = {s.technique.attack_id for s in suggest.suggest_techniques(strategy, limit=5)}
        assert top5 & CONTAINER_TECHNIQUES, f"seed {number}: {sorted(top5)}"


# --- the checks one by one ---------------------------------------------------------------------


def test_complete_strategy_has_no_findings(attack_catalogue):
    assert lint_strategy(complete_strategy()) == []


def test_revoked_technique_is_an_error_naming_its_replacement(attack_catalogue):
    strategy = complete_strategy(attack_id="T1086", name="PowerShell", tactics=["Execution"], platforms=["Windows"])

    [revoked] = findings_by_code(strategy)["technique-revoked"]

    assert revoked.severity == "error"
    assert revoked.message == "T1086 PowerShell is revoked; use T1059.001 PowerShell"


def test_revoked_chain_is_followed_to_the_live_technique(attack_catalogue):
    # T1150 was revoked by T1547.011, itself revoked by T1647.
    strategy = complete_strategy(attack_id="T1150", name="Plist Modification", platforms=["macOS"])

    [revoked] = findings_by_code(strategy)["technique-revoked"]

    assert revoked.message == "T1150 Plist Modification is revoked; use T1647 Plist File Modification"


def test_unknown_technique_is_an_error(attack_catalogue):
    strategy = complete_strategy(attack_id="T9999", name="Made Up")

    [unknown] = findings_by_code(strategy)["technique-unknown"]

    assert unknown.severity == "error"
    assert unknown.message.startswith("T9999 is not an ATT&CK Enterprise technique")


def test_deprecated_technique_is_a_warning(attack_catalogue):
    strategy = complete_strategy(attack_id="T1064", name="Scripting", platforms=["Linux"])

    assert findings_by_code(strategy)["technique-deprecated"][0].severity == "warning"


def test_technique_name_that_disagrees_with_attack_shows_both(attack_catalogue):
    strategy = complete_strategy(attack_id="T1102.003", name="Web Service Beacon", tactics=["Command and Control"])

    [name] = findings_by_code(strategy)["technique-name-mismatch"]

    assert name.severity == "warning"
    assert '"Web Service Beacon"' in name.message
    assert '"One-Way Communication"' in name.message


def test_attack_long_name_of_a_subtechnique_is_accepted(attack_catalogue):
    strategy = complete_strategy(attack_id="T1059.001", name="Command and Scripting Interpreter: PowerShell")

    assert "technique-name-mismatch" not in findings_by_code(strategy)


def test_tactic_outside_the_techniques_attack_tactics_is_a_warning_listing_them(attack_catalogue):
    strategy = complete_strategy(attack_id="T1055.005", name="Thread Local Storage", tactics=["Persistence"])

    [tactic] = findings_by_code(strategy)["tactic-mismatch"]

    assert tactic.severity == "warning"
    assert "Persistence" in tactic.message
    assert "T1055.005: Privilege Escalation, Defense Evasion" in tactic.message


def test_tactic_that_is_not_an_attack_tactic_is_a_warning(attack_catalogue):
    strategy = complete_strategy(tactics=["Execution", "Hacking"])

    [tactic] = findings_by_code(strategy)["tactic-unknown"]

    assert '"Hacking"' in tactic.message


def test_platforms_compare_on_the_name_before_parentheses_ignoring_case(attack_catalogue):
    strategy = complete_strategy(platforms=["containers (Docker, Kubernetes)"])

    assert "platform-mismatch" not in findings_by_code(strategy)


def test_platform_outside_the_techniques_attack_platforms_is_a_warning(attack_catalogue):
    strategy = complete_strategy(platforms=["Containers", "Docker"])

    [platform] = findings_by_code(strategy)["platform-mismatch"]

    assert 'Platform "Docker"' in platform.message
    assert '"Containers"' in platform.suggestion


def test_missing_sections_are_errors(attack_catalogue):
    strategy = Strategy.objects.create(title="Empty", slug="empty")

    found = findings_by_code(strategy)

    missing = {f.section for f in found["section-missing"]}
    assert missing == {
        "Goal",
        "Strategy Abstract",
        "Technical Context",
        "Blind Spots and Assumptions",
        "False Positives",
        "Validation",
        "Priority",
        "Response",
    }
    assert found["categorization-no-technique"][0].severity == "error"
    assert found["resources-none"][0].severity == "warning"
    assert quality_report(strategy).has_errors


def test_validation_scenario_without_steps_is_an_error(attack_catalogue):
    strategy = complete_strategy()
    ValidationScenario.objects.create(strategy=strategy, order=1, name="Escape to the host")

    [scenario] = findings_by_code(strategy)["validation-scenario-without-steps"]

    assert scenario.severity == "error"
    assert '"Escape to the host"' in scenario.message


def test_response_without_steps_is_an_error(attack_catalogue):
    strategy = complete_strategy(response_intro="Analysts should look into it.")
    strategy.response_steps.all().delete()

    assert findings_by_code(strategy)["response-no-steps"][0].severity == "error"


def test_priority_without_justification_is_a_warning(attack_catalogue):
    strategy = complete_strategy(priority_justification="")

    assert findings_by_code(strategy)["priority-no-justification"][0].severity == "warning"


def test_strategy_without_a_linked_rule_is_a_warning(attack_catalogue):
    strategy = complete_strategy()
    strategy.rules.clear()

    [rules] = findings_by_code(strategy)["rules-none"]

    assert rules.severity == "warning"


@pytest.mark.django_db
def test_without_the_catalogue_mappings_are_reported_unchecked():
    Technique.objects.all().delete()  # as before the first `manage.py load_attack` (rolled back after the test)
    strategy = Strategy.objects.create(title="Before load_attack", slug="before")
    StrategyTechnique.objects.create(strategy=strategy, attack_id="T1610")

    assert findings_by_code(strategy)["attack-catalogue-missing"][0].severity == "error"


# --- manage.py lint_ads ------------------------------------------------------------------------


def test_lint_ads_exits_1_when_a_strategy_has_errors(seeds):
    out = StringIO()

    with pytest.raises(SystemExit) as exit_status:
        call_command("lint_ads", stdout=out)

    assert exit_status.value.code == 1
    text = out.getvalue()
    assert "validation-no-steps" in text
    assert "technique-suggestion: Consider T1610 Deploy Container" in text
    assert "5 strategies checked, 2 with errors." in text


def test_lint_ads_exits_0_for_strategies_with_warnings_only(seeds):
    out = StringIO()

    call_command("lint_ads", seeds["000"].slug, seeds["004"].slug, stdout=out)

    assert "2 strategies checked, 0 with errors." in out.getvalue()


def test_lint_ads_json_lists_findings_and_suggestions_per_strategy(seeds):
    out = StringIO()

    call_command("lint_ads", seeds["004"].slug, "--format", "json", stdout=out)

    [report] = json.loads(out.getvalue())
    assert report["slug"] == seeds["004"].slug
    assert report["has_errors"] is False
    assert {"severity": "warning", "code": "rules-none"}.items() <= report["findings"][0].items()
    assert report["suggestions"][0]["attack_id"] == "T1610"


# --- suggestions -------------------------------------------------------------------------------


def test_suggestions_leave_out_mapped_revoked_and_deprecated_techniques(attack_catalogue):
    strategy = complete_strategy()

    suggested = Technique.objects.filter(
        pk__in=[s.technique.pk for s in suggest.suggest_techniques(strategy, limit=20)]
    )

    assert suggested.count() == 20
    assert not suggested.filter(attack_id="T1610").exists()
    assert not suggested.filter(is_revoked=True).exists()
    assert not suggested.filter(is_deprecated=True).exists()


def test_suggestions_say_why(attack_catalogue):
    [first] = suggest.suggest_techniques(complete_strategy(attack_id="T1059.001", name="PowerShell"), limit=1)

    assert first.technique.attack_id == "T1610"
    assert 0 < first.score <= 1
    assert "container" in first.reason


def test_technique_vectors_are_built_once_until_the_catalogue_is_loaded_again(attack_catalogue):
    first = suggest._technique_vectors()

    assert suggest._technique_vectors() is first
    load_attack_catalogue()
    assert suggest._technique_vectors() is not first


def test_a_revoked_ids_tactics_are_judged_against_its_replacement(attack_catalogue):
    # Execution belongs to the revoked T1086 (now T1059.001), not to the DNS technique beside it.
    strategy = complete_strategy(
        attack_id="T1071.004", name="DNS", tactics=["Command and Control", "Execution"], platforms=["Windows"]
    )
    StrategyTechnique.objects.create(strategy=strategy, order=1, attack_id="T1086", name_as_written="PowerShell")
    codes = findings_by_code(strategy)
    assert "technique-revoked" in codes
    assert "tactic-mismatch" not in codes and "platform-mismatch" not in codes
