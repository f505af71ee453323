"""The ATT&CK catalogue: reading the packaged release and STIX bundles, and storing it idempotently."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from detections.attack_catalogue import CatalogueError, read_catalogue
from detections.models import Strategy, StrategyTechnique, Tactic, Technique
from detections.services.attack import load_attack_catalogue

MINI_BUNDLE = Path(__file__).parents[1] / "fixtures" / "attack" / "enterprise-attack-mini.json"
ATTACK_V18_1 = {"tactics": 14, "techniques": 835, "subtechniques": 479, "revoked": 132, "deprecated": 12}


# --- reading (no database) ---------------------------------------------------------------------


def test_packaged_catalogue_is_attack_v18_1_with_revoked_and_deprecated_techniques():
    catalogue = read_catalogue()

    assert catalogue.version == "18.1"
    assert catalogue.counts() == ATTACK_V18_1


def test_packaged_tactics_follow_the_matrix_columns():
    tactics = read_catalogue().tactics

    assert [t.shortname for t in tactics[:3]] == ["reconnaissance", "resource-development", "initial-access"]
    assert tactics[-1].shortname == "impact"
    assert [t.order for t in tactics] == list(range(14))
    assert next(t for t in tactics if t.attack_id == "TA0011").name == "Command and Control"


def test_packaged_catalogue_keeps_revoked_powershell_with_its_replacement():
    t1086 = read_catalogue().technique("T1086")

    assert t1086.is_revoked
    assert t1086.revoked_by_id == "T1059.001"


def test_stix_bundle_yields_tactics_in_matrix_order_and_techniques_with_parents():
    catalogue = read_catalogue(MINI_BUNDLE)

    assert catalogue.version == "18.1"
    assert [(t.attack_id, t.shortname, t.order) for t in catalogue.tactics] == [
        ("TA0002", "execution", 0),
        ("TA0005", "defense-evasion", 1),
    ]
    powershell = catalogue.technique("T1059.001")
    assert powershell.is_subtechnique
    assert powershell.parent_id == "T1059"
    assert powershell.platforms == ("Windows",)
    assert powershell.url == "https://attack.mitre.org/techniques/T1059/001"


def test_stix_bundle_keeps_revoked_and_deprecated_techniques():
    catalogue = read_catalogue(MINI_BUNDLE)

    assert catalogue.technique("T1086").is_revoked
    assert catalogue.technique("T1086").revoked_by_id == "T1059.001"
    assert catalogue.technique("T1064").is_deprecated
    assert catalogue.counts() == {"tactics": 2, "techniques": 5, "subtechniques": 1, "revoked": 1, "deprecated": 1}


def test_stix_bundle_takes_the_latest_version_of_an_object_and_skips_non_attack_patterns():
    catalogue = read_catalogue(MINI_BUNDLE)

    deploy = catalogue.technique("T1610")
    assert deploy.name == "Deploy Container"
    assert deploy.tactics == ("defense-evasion", "execution")
    assert "Not ATT&CK" not in {t.name for t in catalogue.techniques}


def test_a_file_that_is_not_a_stix_bundle_is_refused(tmp_path):
    path = tmp_path / "not-a-bundle.json"
    path.write_text('{"objects": "nope"}')

    with pytest.raises(CatalogueError, match="not a STIX bundle"):
        read_catalogue(path)


# --- storing ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_load_from_a_stix_file_stores_revoked_technique_pointing_to_its_replacement():
    summary = load_attack_catalogue(path=MINI_BUNDLE)

    assert (summary.techniques, summary.revoked, summary.deprecated) == (5, 1, 1)
    t1086 = Technique.objects.get(attack_id="T1086")
    assert t1086.is_revoked
    assert t1086.revoked_by.attack_id == "T1059.001"
    assert Technique.objects.get(attack_id="T1064").is_deprecated


def test_load_stores_the_whole_packaged_catalogue(attack_catalogue):
    assert attack_catalogue.version == "18.1"
    assert Tactic.objects.count() == 14
    assert Technique.objects.count() == 835
    assert Technique.objects.filter(is_subtechnique=True).count() == 479
    assert Technique.objects.filter(is_revoked=True, revoked_by__isnull=False).count() == 132
    assert Technique.objects.filter(is_deprecated=True).count() == 12


def test_subtechnique_points_to_its_parent(attack_catalogue):
    powershell = Technique.objects.get(attack_id="T1059.001")

    assert powershell.is_subtechnique
    assert powershell.parent.attack_id == "T1059"
    assert powershell.url == "https://attack.mitre.org/techniques/T1059/001"


def test_deploy_container_has_its_attack_tactics_and_platform(attack_catalogue):
    deploy = Technique.objects.get(attack_id="T1610")

    assert set(deploy.tactics.values_list("shortname", flat=True)) == {"defense-evasion", "execution"}
    assert deploy.platforms == ["Containers"]


def test_revoked_powershell_points_to_t1059_001(attack_catalogue):
    t1086 = Technique.objects.get(attack_id="T1086")

    assert t1086.is_revoked
    assert t1086.revoked_by.attack_id == "T1059.001"
    assert t1086.revoked_by.name == "PowerShell"


def test_reload_changes_nothing(attack_catalogue):
    tactic_links = Technique.tactics.through.objects.count()

    summary = load_attack_catalogue()

    assert (summary.created, summary.updated) == (0, 0)
    assert Technique.objects.count() == 835
    assert Tactic.objects.count() == 14
    assert Technique.tactics.through.objects.count() == tactic_links


def test_reload_restores_a_technique_edited_by_hand(attack_catalogue):
    deploy = Technique.objects.get(attack_id="T1610")
    deploy.name = "Something else"
    deploy.save()
    deploy.tactics.clear()

    summary = load_attack_catalogue()

    deploy.refresh_from_db()
    assert summary.updated == 1
    assert deploy.name == "Deploy Container"
    assert deploy.tactics.count() == 2


def test_load_links_mappings_imported_before_the_catalogue(attack_catalogue):
    strategy = Strategy.objects.create(title="Containers", slug="containers")
    mapping = StrategyTechnique.objects.create(strategy=strategy, attack_id="t1610", technique=None)
    unknown = StrategyTechnique.objects.create(strategy=strategy, attack_id="T9999", order=1, technique=None)

    summary = load_attack_catalogue()

    mapping.refresh_from_db()
    unknown.refresh_from_db()
    assert summary.relinked_mappings == 1
    assert mapping.technique.attack_id == "T1610"
    assert unknown.technique is None


def test_load_attack_command_prints_the_counts(attack_catalogue):
    out = StringIO()

    call_command("load_attack", stdout=out)

    assert "14 tactics, 835 techniques (479 sub-techniques, 132 revoked, 12 deprecated)" in out.getvalue()


@pytest.mark.django_db
def test_load_attack_command_reads_a_stix_file():
    out = StringIO()

    call_command("load_attack", str(MINI_BUNDLE), stdout=out)

    assert "2 tactics, 5 techniques (1 sub-techniques, 1 revoked, 1 deprecated)" in out.getvalue()


@pytest.mark.django_db
def test_load_attack_command_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read JSON"):
        call_command("load_attack", str(tmp_path / "missing.json"))


@pytest.mark.django_db
def test_a_bundle_without_techniques_is_refused(tmp_path):
    from django.core.management import CommandError, call_command

    bundle = tmp_path / "empty.json"
    bundle.write_text('{"type": "bundle", "id": "bundle--1", "objects": []}')
    with pytest.raises(CommandError, match="no ATT&CK techniques"):
        call_command("load_attack", str(bundle))
