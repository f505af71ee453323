"""Emulation scenarios shipped as files: validation/scenarios/<strategy-slug>/<scenario-key>/scenario.yml.

Each scenario names its kind (attack: must raise the expected alerts; benign: must raise no
alert, or only alerts a shipped suppression removes), the telemetry files to replay in their
producers' real formats, the lab commands that produce the same telemetry for real, and the
expected outcome. Pure Python: no Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioFileError(ValueError):
    pass


@dataclass
class TelemetryFile:
    source_format: str
    path: Path


@dataclass
class ExpectedAlert:
    rule: str
    entity: str = ""


@dataclass
class Scenario:
    key: str
    strategy_slug: str
    name: str
    kind: str  # attack | benign
    description: str = ""
    validation_scenario: str = ""
    false_positive: str = ""
    lab_commands: list[str] = field(default_factory=list)
    telemetry: list[TelemetryFile] = field(default_factory=list)
    expected_alerts: list[ExpectedAlert] = field(default_factory=list)
    path: Path | None = None


def load_scenario(path: Path, strategy_slug: str) -> Scenario:
    manifest = path / "scenario.yml"
    try:
        spec = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ScenarioFileError(f"{manifest}: {error}") from error
    kind = spec.get("kind")
    if kind not in ("attack", "benign"):
        raise ScenarioFileError(f"{manifest}: kind must be attack or benign, not {kind!r}")
    telemetry = []
    for item in spec.get("telemetry") or []:
        file_path = path / item["file"]
        if not file_path.is_file():
            raise ScenarioFileError(f"{manifest}: telemetry file {item['file']} does not exist")
        telemetry.append(TelemetryFile(item["source_format"], file_path))
    expected = (spec.get("expected") or {}).get("alerts") or []
    return Scenario(
        key=path.name,
        strategy_slug=strategy_slug,
        name=spec.get("name") or path.name,
        kind=kind,
        description=spec.get("description", ""),
        validation_scenario=spec.get("validation_scenario", ""),
        false_positive=spec.get("false_positive", ""),
        lab_commands=list(spec.get("lab_commands") or []),
        telemetry=telemetry,
        expected_alerts=[ExpectedAlert(str(a["rule"]), str(a.get("entity", ""))) for a in expected],
        path=path,
    )


def scenarios_for(strategy_slug: str, base: Path = SCENARIOS_DIR) -> list[Scenario]:
    folder = base / strategy_slug
    if not folder.is_dir():
        return []
    return [load_scenario(p, strategy_slug) for p in sorted(folder.iterdir()) if (p / "scenario.yml").is_file()]
