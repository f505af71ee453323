"""Importing, exporting and reverting strategies through the service and the management commands."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from detections.ads import AdsParseError, parse_ads
from detections.models import ResponseStep, Strategy, StrategyTechnique, Tactic, Technique, ValidationStep
from detections.services.strategies import (
    StrategyConflict,
    export_strategy_json,
    export_strategy_markdown,
    import_strategy,
    revert_strategy,
)
from tests.conftest import SEEDS_DIR

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ads"
LIBRARY = Path(__file__).resolve().parents[2] / "detections" / "library" / "strategies"
LIBRARY_SLUGS = [
    "container-c2-nonstandard-protocols",
    "container-infrastructure-compromise",
    "container-one-way-communication",
    "container-security-bypass",
    "windows-container-privileged-evasion",
]


def seed_path(prefix: str) -> Path:
    (path,) = SEEDS_DIR.glob(f"{prefix}_*.txt")
    return path


def run(command: str, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def child_counts(strategy: Strategy) -> dict:
    return {
        "techniques": strategy.technique_mappings.count(),
        "blind_spots": strategy.blind_spots.count(),
        "false_positives": strategy.false_positives.count(),
        "scenarios": strategy.validation_scenarios.count(),
        "steps": ValidationStep.objects.filter(scenario__strategy=strategy).count(),
        "response": strategy.response_steps.count(),
        "resources": strategy.resources.count(),
        "extra": strategy.extra_sections.count(),
    }


def test_command_imports_every_seed_and_library_document():
    out, err = run("import_ads", str(SEEDS_DIR), str(LIBRARY))
    assert err == ""
    assert Strategy.objects.count() == 10
    assert set(LIBRARY_SLUGS) <= set(Strategy.objects.values_list("slug", flat=True))
    # seeds 000 and 003 share a title: the file name keeps them apart
    assert (
        Strategy.objects.filter(
            title="Detect Adversarial Attempts to Bypass Security Monitoring Using Containers"
        ).count()
        == 2
    )
    assert f'{seed_path("000")}: created "Detect Adversarial Attempts' in out
    assert (
        "techniques 1, blind spots 3, false positives 3, scenarios 4 (9 steps), response steps 4, resources 6, extra sections 0"
        in out
    )
    assert f"WARNING {seed_path('002')}:55: Validation has no scenario" in out


def test_imported_seed_has_its_child_rows_in_document_order():
    strategy = import_strategy(text=seed_path("000").read_text(), path=str(seed_path("000"))).strategy
    assert child_counts(strategy) == {
        "techniques": 1,
        "blind_spots": 3,
        "false_positives": 3,
        "scenarios": 4,
        "steps": 9,
        "response": 4,
        "resources": 6,
        "extra": 0,
    }
    assert list(strategy.validation_scenarios.values_list("name", flat=True)) == [
        "ICMP C2",
        "Netcat C2",
        "Powercat C2",
        "Linux ICMP Reverse Shell using `icmp-cnc`",
    ]
    assert strategy.priority == Strategy.Priority.HIGH
    assert strategy.source_markdown == seed_path("000").read_text()
    assert strategy.source_path == str(seed_path("000"))
    assert strategy.slug == seed_path("000").stem.replace("_", "-")


def test_imported_documents_start_as_drafts_and_only_the_shipped_library_loads_as_production(engineer):
    out, _ = run("import_ads", str(LIBRARY))
    assert sorted(Strategy.objects.values_list("slug", flat=True)) == LIBRARY_SLUGS
    # Front matter cannot skip review: an import starts the lifecycle at draft.
    assert set(Strategy.objects.values_list("status", flat=True)) == {Strategy.Status.DRAFT}
    assert "WARNING" not in out
    Strategy.objects.all().delete()
    call_command("load_library", verbosity=0)
    assert set(Strategy.objects.values_list("status", flat=True)) == {Strategy.Status.PRODUCTION}
    result = import_strategy(
        text=(LIBRARY / "container-security-bypass.md").read_text() + "\n", user=engineer
    )  # the front matter names the slug: an explicit update
    assert result.updated and result.strategy.owner is None  # ownership is set on creation only


def test_a_different_document_with_the_same_file_name_or_title_is_refused(tmp_path, seed_paths):
    first, other = tmp_path / "a" / "ads.md", tmp_path / "b" / "ads.md"
    for path, seed in ((first, seed_paths[0]), (other, seed_paths[4])):
        path.parent.mkdir()
        path.write_text(seed.read_text())
    import_strategy(text=first.read_text(), path=str(first))
    with pytest.raises(StrategyConflict, match="already has the slug 'ads'"):
        import_strategy(text=other.read_text(), path=str(other))
    # Seeds 000 and 003 share a title: through the API (no path) the second is refused too.
    import_strategy(text=seed_paths[0].read_text())
    with pytest.raises(StrategyConflict):
        import_strategy(text=seed_paths[3].read_text())
    assert Strategy.objects.get(slug="ads").technique_mappings.get().attack_id == "T1095"


def test_reimporting_an_unchanged_document_writes_no_new_version(seed_paths):
    path = seed_paths[1]
    strategy = import_strategy(text=path.read_text(), path=str(path)).strategy
    versions = strategy.history.count()
    import_strategy(text=path.read_text(), path=str(path))
    assert strategy.history.count() == versions


def test_reimport_updates_without_duplicating_and_keeps_history():
    path = seed_path("001")
    first = import_strategy(text=path.read_text(), path=str(path))
    before = child_counts(first.strategy)
    second = import_strategy(text=path.read_text() + "\n", path=str(path))  # edited: one more newline
    assert first.created and second.updated
    assert Strategy.objects.count() == 1
    assert second.strategy.pk == first.strategy.pk
    assert child_counts(second.strategy) == before
    assert second.strategy.history.count() == 2
    # the replaced child rows are in history as deletions
    assert StrategyTechnique.history.filter(history_type="-").count() == 1


def test_reimport_replaces_child_rows_and_keeps_lifecycle_status():
    path = seed_path("000")
    strategy = import_strategy(text=path.read_text(), path=str(path)).strategy
    Strategy.objects.filter(pk=strategy.pk).update(status=Strategy.Status.REVIEW)
    shorter = (
        path.read_text()
        .replace("### Netcat C2\n", "### Netcat C2 (renamed)\n")
        .replace("- Legitimate use of ICMP or Netcat for debugging purposes.\n", "")
    )
    strategy = import_strategy(text=shorter, path=str(path)).strategy
    assert strategy.false_positives.count() == 2
    assert "Netcat C2 (renamed)" in strategy.validation_scenarios.values_list("name", flat=True)
    assert strategy.status == Strategy.Status.REVIEW


def test_techniques_are_linked_to_the_catalogue_when_it_has_them():
    Technique.objects.create(attack_id="T1095", name="Non-Application Layer Protocol")
    strategy = import_strategy(text=(LIBRARY / "container-c2-nonstandard-protocols.md").read_text()).strategy
    linked = {m.attack_id: m.technique_id is not None for m in strategy.technique_mappings.all()}
    assert linked == {"T1095": True, "T1059.001": False, "T1105": False}


def test_parse_error_stores_nothing_and_command_exits_1_with_file_and_line(tmp_path):
    good = tmp_path / "good-one.md"
    good.write_text((FIXTURES / "palantir_layout.md").read_text())
    bad = tmp_path / "broken.md"
    bad.write_text((FIXTURES / "bad_technique_id.md").read_text())
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 of 3 file"):
        call_command("import_ads", str(tmp_path), stdout=out, stderr=err)
    assert f"ERROR {bad}:7: 'T10X9' is not an ATT&CK technique id" in err.getvalue()
    assert f"ERROR {binary}:1: not UTF-8 text" in err.getvalue()
    assert list(Strategy.objects.values_list("slug", flat=True)) == ["good-one"]
    assert StrategyTechnique.objects.filter(attack_id="T10X9").count() == 0


def test_failed_reimport_leaves_the_stored_strategy_untouched():
    path = seed_path("003")
    strategy = import_strategy(text=path.read_text(), path=str(path)).strategy
    broken = path.read_text().replace("T1055.005 - Thread", "T1055.0X5 - Thread")
    with pytest.raises(AdsParseError):
        import_strategy(text=broken, path=str(path))
    strategy.refresh_from_db()
    assert strategy.technique_mappings.get().attack_id == "T1055.005"
    assert strategy.history.count() == 1


def test_document_without_title_is_named_after_its_file():
    result = import_strategy(
        text=(FIXTURES / "palantir_flat_layout.md").read_text(), path="ads/001-Sensor-Discovery.md"
    )
    assert result.strategy.title == "Sensor Discovery"
    assert result.strategy.slug == "001-sensor-discovery"


def test_response_steps_that_isolate_a_container_carry_the_isolation_action():
    strategy = import_strategy(text=(LIBRARY / "container-one-way-communication.md").read_text()).strategy
    actions = list(strategy.response_steps.values_list("action", flat=True))
    assert actions.count(ResponseStep.Action.ISOLATE_CONTAINER) == 1
    assert actions[2] == ResponseStep.Action.ISOLATE_CONTAINER


def test_json_export_shape_uses_the_catalogue_for_linked_techniques(engineer):
    tactic = Tactic.objects.create(attack_id="TA0011", shortname="command-and-control", name="Command and Control")
    technique = Technique.objects.create(
        attack_id="T1095", name="Non-Application Layer Protocol", platforms=["Linux", "Windows"]
    )
    technique.tactics.add(tactic)
    strategy = import_strategy(
        text=(LIBRARY / "container-c2-nonstandard-protocols.md").read_text(), user=engineer
    ).strategy
    data = export_strategy_json(strategy)
    json.dumps(data)  # JSON-able
    for key in (
        "title", "slug", "goal", "attack", "tactics", "platforms", "priority", "status", "strategy_abstract",
        "technical_context", "blind_spots", "false_positives", "validation", "response", "resources",
        "extra_sections", "data_sources", "owner",
    ):  # fmt: skip
        assert key in data
    assert data["slug"] == "container-c2-nonstandard-protocols"
    assert data["status"] == "draft" and data["priority"] == "high" and data["owner"] == "eng"
    assert data["attack"][0] == {
        "id": "T1095",
        "name": "Non-Application Layer Protocol",
        "tactics": ["Command and Control"],
        "platforms": ["Linux", "Windows"],
        "in_catalogue": True,
    }
    assert data["attack"][1]["id"] == "T1059.001" and data["attack"][1]["in_catalogue"] is False
    assert data["validation"][0]["name"] == "ICMP tunnel from a Linux container"
    assert len(data["validation"][0]["steps"]) == 4
    assert all(isinstance(step, str) for step in data["response"])
    assert data["resources"][0] == {
        "title": "ATT&CK T1095 Non-Application Layer Protocol",
        "url": "https://attack.mitre.org/techniques/T1095/",
    }


@pytest.mark.parametrize(
    "path",
    [
        seed_path("000"),
        seed_path("001"),
        seed_path("004"),
        FIXTURES / "palantir_layout.md",
        LIBRARY / "container-security-bypass.md",
    ],
    ids=lambda p: p.name,
)
def test_markdown_export_parses_back_to_the_imported_structure(path):
    strategy = import_strategy(text=path.read_text(), path=str(path)).strategy
    original = parse_ads(path.read_text()).to_dict(include_warnings=False)
    exported = parse_ads(export_strategy_markdown(strategy)).to_dict(include_warnings=False)
    assert exported.pop("metadata") == {"slug": strategy.slug, "status": strategy.status}
    original.pop("metadata")
    if not original["title"]:
        original["title"] = strategy.title
    assert exported == original


def test_exported_markdown_reimports_as_the_same_strategy():
    path = LIBRARY / "windows-container-privileged-evasion.md"
    strategy = import_strategy(text=path.read_text(), path=str(path)).strategy
    before = export_strategy_json(strategy)
    again = import_strategy(text=export_strategy_markdown(strategy))
    assert again.updated and again.strategy.pk == strategy.pk
    after = export_strategy_json(again.strategy)
    volatile = {"updated_at", "source_path"}  # where this version came from, and when
    assert {k: v for k, v in after.items() if k not in volatile} == {
        k: v for k, v in before.items() if k not in volatile
    }


def test_export_command_writes_json_list_and_markdown_files(tmp_path):
    run("import_ads", str(LIBRARY))
    out, _ = run("export_ads", "--format", "json", "container-security-bypass", "container-one-way-communication")
    data = json.loads(out)
    assert [d["slug"] for d in data] == ["container-security-bypass", "container-one-way-communication"]
    run("export_ads", "--output", str(tmp_path))
    assert sorted(p.stem for p in tmp_path.glob("*.md")) == LIBRARY_SLUGS
    assert parse_ads((tmp_path / "container-security-bypass.md").read_text()).metadata["status"] == "draft"
    out, _ = run("export_ads", "container-security-bypass")
    assert out.startswith("---\nslug: container-security-bypass\n")
    with pytest.raises(CommandError, match="unknown strategy slug"):
        run("export_ads", "no-such-strategy")


def test_revert_restores_an_older_versions_child_rows(engineer):
    path = seed_path("000")
    original_text = path.read_text()
    strategy = import_strategy(text=original_text, path=str(path)).strategy
    first_version = strategy.history.earliest("history_date")
    edited = original_text.split("## Priority")[0]  # seed 000 has Priority, Validation, Response, Resources last
    edited += "## Validation (Adversary Emulation)\nNone yet.\n\n## Priority\n**Low**: lab only.\n"
    strategy = import_strategy(text=edited, path=str(path)).strategy
    assert strategy.validation_scenarios.count() == 0 and strategy.priority == "low"
    result = revert_strategy(strategy=strategy, history_id=first_version.history_id, user=engineer)
    strategy = result.strategy
    assert strategy.priority == "high"
    assert list(strategy.validation_scenarios.values_list("name", flat=True))[:2] == ["ICMP C2", "Netcat C2"]
    assert ValidationStep.objects.filter(scenario__strategy=strategy).count() == 9
    assert strategy.response_steps.count() == 4
    assert strategy.source_markdown == original_text
    assert strategy.history.count() == 3
    assert strategy.history.latest("history_date").history_user == engineer
