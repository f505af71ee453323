"""The shipped detection content and emulation datasets are well-formed (no database needed).

Covers detections/library/{rules,analytics,indicators,suppressions.yml} and
validation/scenarios/<strategy>/<scenario>/: every Sigma rule parses with pySigma and is
accepted by the rule service (validators + engine), ids are unique, ATT&CK tags and strategy
links are valid, every analytic's parameters are accepted by its analytic, suppressions name
existing rules, and every scenario names existing rules and telemetry files that the project
parsers read without a single RecordError. Whether the datasets raise the expected alerts is
the validation runner's job, not this file's.
"""

from __future__ import annotations

import csv
import importlib
import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from telemetry.schema import CANONICAL_FIELDS
from validation.scenarios import SCENARIOS_DIR, load_scenario

LIBRARY = Path(settings.BASE_DIR) / "detections" / "library"
RULES_DIR = LIBRARY / "rules"
ANALYTICS_DIR = LIBRARY / "analytics"
INDICATORS_DIR = LIBRARY / "indicators"
SUPPRESSIONS_FILE = LIBRARY / "suppressions.yml"
STRATEGIES_DIR = LIBRARY / "strategies"

# Seed file prefix -> the project's strategy slug (one ADS document each).
SEED_SLUGS = {
    "000": "container-c2-nonstandard-protocols",
    "001": "container-security-bypass",
    "002": "container-infrastructure-compromise",
    "003": "windows-container-privileged-evasion",
    "004": "container-one-way-communication",
}
STRATEGY_SLUGS = frozenset(SEED_SLUGS.values())
ANALYTIC_TYPES = frozenset(
    {"one_way_communication", "icmp_tunnel", "resource_spike", "indicator_match", "silent_source"}
)
SOURCE_FORMATS = frozenset(
    {
        "k8s_audit",
        "falco",
        "docker_events",
        "docker_inspect",
        "zeek_conn",
        "zeek_dns",
        "linux_process",
        "windows_process",
        "container_metrics",
    }
)
ATTACK_TECHNIQUE_TAG = re.compile(r"^attack\.t\d{4}(\.\d{3})?$")
ATTACK_TACTIC_TAGS = frozenset(
    "attack." + tactic
    for tactic in [
        "reconnaissance",
        "resource-development",
        "initial-access",
        "execution",
        "persistence",
        "privilege-escalation",
        "defense-evasion",
        "credential-access",
        "discovery",
        "lateral-movement",
        "collection",
        "command-and-control",
        "exfiltration",
        "impact",
    ]
)
ATTACK_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
REQUIRED_RULE_KEYS = (
    "title",
    "id",
    "status",
    "description",
    "references",
    "author",
    "date",
    "tags",
    "falsepositives",
    "level",
)
REQUIRED_ANALYTIC_KEYS = ("uid", "title", "description", "analytic_type", "level", "strategies", "attack", "parameters")
# Documentation and test ranges only: the emulation must never name a real host as malicious.
DOCUMENTATION_NETWORKS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
RESERVED_DOMAIN = re.compile(r"(^|\.)(example\.(com|net|org)|test|example|invalid)$")

# Validation scenarios of the strategy documents that no telemetry format of the project can show.
UNCOVERABLE_VALIDATION_SCENARIOS = {
    # Registry push notifications (new digest for an existing tag) are not an ingested source.
    ("container-infrastructure-compromise", "Existing tag overwritten in the internal registry"),
}


def rule_paths() -> list[Path]:
    return sorted(RULES_DIR.glob("*/*.yml"))


def rule_documents() -> list[tuple[Path, dict]]:
    return [(path, yaml.safe_load(path.read_text(encoding="utf-8"))) for path in rule_paths()]


def analytic_documents() -> list[tuple[Path, dict]]:
    return [(path, yaml.safe_load(path.read_text(encoding="utf-8"))) for path in sorted(ANALYTICS_DIR.glob("*.yml"))]


def scenario_dirs() -> list[Path]:
    return sorted(path.parent for path in SCENARIOS_DIR.glob("*/*/scenario.yml"))


def known_rule_uids() -> set[str]:
    return {str(doc["id"]) for _, doc in rule_documents()} | {str(doc["uid"]) for _, doc in analytic_documents()}


# --------------------------------------------------------------------------- Sigma rules


def test_the_library_ships_rules_for_every_strategy():
    linked = {slug for _, doc in rule_documents() for slug in doc.get("strategies") or []}
    assert linked == STRATEGY_SLUGS


@pytest.mark.parametrize("path", rule_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rule_file_is_one_complete_sigma_rule_linked_to_strategies(path: Path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED_RULE_KEYS if not doc.get(key)]
    assert not missing, f"missing keys: {missing}"
    assert ("correlation" in doc) != ("detection" in doc), "a rule has either detection or correlation"
    if "detection" in doc:
        assert doc.get("logsource"), "single-event rules need a logsource"
    assert doc["author"] == "ADS Portal"
    strategies = doc.get("strategies") or []
    assert strategies and set(strategies) <= STRATEGY_SLUGS, strategies
    assert path.parent.name in strategies, "a rule lives in the folder of one of its strategies"
    tags = [str(tag) for tag in doc["tags"]]
    assert any(ATTACK_TECHNIQUE_TAG.match(tag) for tag in tags), tags
    assert any(tag in ATTACK_TACTIC_TAGS for tag in tags), tags
    assert all(ATTACK_TECHNIQUE_TAG.match(tag) or tag in ATTACK_TACTIC_TAGS for tag in tags), tags
    if "detection" in doc:
        rules = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules
        assert len(rules) == 1 and isinstance(rules[0], SigmaRule)
        assert rules[0].custom_attributes.get("strategies") == strategies


@pytest.mark.parametrize("path", rule_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rule_file_is_accepted_by_the_rule_service(path: Path):
    from detections.services.rules import parse_sigma_rule

    parsed = parse_sigma_rule(path.read_text(encoding="utf-8"))
    assert parsed.rule_uid == str(yaml.safe_load(path.read_text(encoding="utf-8"))["id"])
    assert parsed.attack_ids


def test_rule_ids_and_names_are_unique_and_correlations_resolve():
    texts = [path.read_text(encoding="utf-8") for path in rule_paths()]
    collection = SigmaCollection.from_yaml("\n---\n".join(texts))  # resolves correlation references
    ids = [str(rule.id) for rule in collection.rules]
    assert len(ids) == len(set(ids)) == len(texts)
    names = [rule.name for rule in collection.rules if rule.name]
    assert len(names) == len(set(names))
    correlations = [rule for rule in collection.rules if isinstance(rule, SigmaCorrelationRule)]
    assert correlations, "the library ships correlation rules"
    for correlation in correlations:
        assert all(reference.rule is not None for reference in correlation.rules)


# --------------------------------------------------------------------------- analytics, indicators, suppressions


@pytest.mark.parametrize("path", sorted(ANALYTICS_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_analytic_file_has_the_required_keys_and_parameters_its_analytic_accepts(path: Path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [key for key in REQUIRED_ANALYTIC_KEYS if key not in doc]
    assert not missing, f"missing keys: {missing}"
    assert doc["analytic_type"] in ANALYTIC_TYPES
    assert doc["level"] in ("informational", "low", "medium", "high", "critical")
    assert doc["strategies"] and set(doc["strategies"]) <= STRATEGY_SLUGS
    assert doc["attack"] and all(ATTACK_ID.match(str(t)) for t in doc["attack"])
    assert isinstance(doc["parameters"], dict)
    module = importlib.import_module(f"detections.services.analytics.{doc['analytic_type']}")
    from detections.services.analytics.base import validate_against

    unknown = set(doc["parameters"]) - set(module.PARAMETERS)
    assert not unknown, f"parameters the analytic does not know: {sorted(unknown)}"
    if doc["analytic_type"] != "indicator_match":  # its list check needs the database
        validate_against(module.PARAMETERS, doc["parameters"])


def test_analytic_uids_are_unique_and_distinct_from_sigma_ids():
    uids = [str(doc["uid"]) for _, doc in analytic_documents()]
    assert len(uids) == len(set(uids))
    assert not set(uids) & {str(doc["id"]) for _, doc in rule_documents()}
    assert {doc["analytic_type"] for _, doc in analytic_documents()} == ANALYTIC_TYPES


def test_indicator_lists_name_only_documentation_addresses_and_reserved_domains():
    paths = sorted(INDICATORS_DIR.glob("*.csv"))
    assert paths
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, path.name
        for row in rows:
            assert set(row) == {"kind", "value", "description"}, row
            if row["kind"] == "ip":
                address = ipaddress.ip_address(row["value"])
                assert any(address in network for network in DOCUMENTATION_NETWORKS), row
            elif row["kind"] == "cidr":
                network = ipaddress.ip_network(row["value"])
                assert any(network.subnet_of(doc) for doc in DOCUMENTATION_NETWORKS), row
            else:
                assert row["kind"] == "domain" and RESERVED_DOMAIN.search(row["value"]), row


def test_indicator_lists_used_by_analytics_exist():
    lists = {path.stem for path in INDICATORS_DIR.glob("*.csv")}
    for _, doc in analytic_documents():
        if doc["analytic_type"] == "indicator_match":
            assert set(doc["parameters"].get("lists") or []) <= lists


def test_suppressions_name_an_existing_rule_or_strategy_and_canonical_fields():
    entries = yaml.safe_load(SUPPRESSIONS_FILE.read_text(encoding="utf-8"))
    assert isinstance(entries, list), "suppressions.yml is a YAML list of suppressions"
    assert entries
    slugs = [entry["slug"] for entry in entries]
    assert len(slugs) == len(set(slugs))
    uids = known_rule_uids()
    for entry in entries:
        for key in ("slug", "name", "conditions", "reason", "owner_name"):
            assert entry.get(key), f"{entry.get('slug')}: missing {key}"
        assert "expires_at" in entry
        assert ("rule" in entry) != ("strategy" in entry), entry["slug"]
        if "rule" in entry:
            assert entry["rule"] in uids, entry["slug"]
        else:
            assert entry["strategy"] in STRATEGY_SLUGS, entry["slug"]
        assert set(entry["conditions"]) <= set(CANONICAL_FIELDS), entry["slug"]


# --------------------------------------------------------------------------- scenarios


def test_every_strategy_has_attack_and_benign_scenarios():
    kinds: dict[str, set[str]] = {slug: set() for slug in STRATEGY_SLUGS}
    for path in scenario_dirs():
        assert path.parent.name in STRATEGY_SLUGS, path
        kinds[path.parent.name].add(yaml.safe_load((path / "scenario.yml").read_text(encoding="utf-8"))["kind"])
    assert all(found == {"attack", "benign"} for found in kinds.values()), kinds


@pytest.mark.parametrize("path", scenario_dirs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_names_existing_rules_and_telemetry_files(path: Path):
    spec = yaml.safe_load((path / "scenario.yml").read_text(encoding="utf-8"))
    scenario = load_scenario(path, path.parent.name)  # the runner's loader: raises on a missing file
    assert scenario.name and scenario.description and scenario.lab_commands
    assert scenario.telemetry
    assert {item.source_format for item in scenario.telemetry} <= SOURCE_FORMATS
    uids = known_rule_uids()
    assert all(alert.rule in uids for alert in scenario.expected_alerts), [a.rule for a in scenario.expected_alerts]
    if scenario.kind == "attack":
        assert scenario.validation_scenario
        assert scenario.expected_alerts and all(alert.entity for alert in scenario.expected_alerts)
    else:
        assert scenario.false_positive or scenario.validation_scenario
        assert not scenario.expected_alerts
        assert spec["expected"].get("no_alerts_except_suppressed") is True


@pytest.mark.parametrize("path", scenario_dirs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scenario_telemetry_parses_without_record_errors(path: Path):
    from telemetry.parsers import RecordError, get_parser

    scenario = load_scenario(path, path.parent.name)
    for item in scenario.telemetry:
        parser = get_parser(item.source_format)
        with item.path.open("rb") as handle:
            results = list(parser.parse_stream(handle))
        errors = [r for r in results if isinstance(r, RecordError)]
        assert not errors, f"{item.path.name}: {errors[:3]}"
        assert results, f"{item.path.name}: no events"
        times = [r.event["time"] for r in results]
        assert all(t.year == 2026 and t.month == 11 and t.day == 20 for t in times), (
            f"{item.path.name}: not on 2026-11-20"
        )


def _validation_scenario_names(slug: str) -> set[str]:
    from detections.ads.parser import parse_ads

    names: set[str] = set()
    document = STRATEGIES_DIR / f"{slug}.md"
    if document.is_file():
        names |= {s.name for s in parse_ads(document.read_text(encoding="utf-8")).validation_scenarios}
    return names


def _seed_validation_scenario_names(slug: str, seed_paths: list[Path]) -> set[str]:
    from detections.ads.parser import parse_ads

    prefix = {v: k for k, v in SEED_SLUGS.items()}[slug]
    return {
        s.name
        for path in seed_paths
        if path.name.startswith(prefix)
        for s in parse_ads(path.read_text(encoding="utf-8")).validation_scenarios
    }


def test_attack_scenarios_follow_a_validation_scenario_of_their_strategy(seed_paths):
    for path in scenario_dirs():
        spec = yaml.safe_load((path / "scenario.yml").read_text(encoding="utf-8"))
        if spec["kind"] != "attack":
            continue
        slug = path.parent.name
        known = _validation_scenario_names(slug) | _seed_validation_scenario_names(slug, seed_paths)
        assert spec["validation_scenario"] in known, f"{slug}/{path.name}: {spec['validation_scenario']!r}"


def test_every_validation_scenario_of_the_strategies_and_seeds_has_a_dataset(seed_paths):
    followed: dict[str, set[str]] = {slug: set() for slug in STRATEGY_SLUGS}
    for path in scenario_dirs():
        spec = yaml.safe_load((path / "scenario.yml").read_text(encoding="utf-8"))
        if spec.get("validation_scenario"):
            followed[path.parent.name].add(spec["validation_scenario"])
    for slug in STRATEGY_SLUGS:
        wanted = _validation_scenario_names(slug) | _seed_validation_scenario_names(slug, seed_paths)
        # A seed scenario with the same steps may be followed under the strategy document's name.
        wanted -= {name for (s, name) in UNCOVERABLE_VALIDATION_SCENARIOS if s == slug}
        wanted -= SEED_SCENARIOS_FOLLOWED_UNDER_STRATEGY_NAMES.get(slug, set())
        assert wanted <= followed[slug], f"{slug}: no dataset for {sorted(wanted - followed[slug])}"


# Seed validation scenarios whose dataset uses the project strategy document's name for the same steps.
SEED_SCENARIOS_FOLLOWED_UNDER_STRATEGY_NAMES = {
    "container-c2-nonstandard-protocols": {"Powercat C2"},  # -> "Powercat from a Windows container"
    "windows-container-privileged-evasion": {"Adversary emulation"},  # seed's general steps -> the three named ones
    "container-one-way-communication": {"Step-by-Step Instructions"},  # -> "Periodic one-way HTTP beacon"
}


def test_benign_scenarios_cover_every_false_positive_of_the_seeds(seed_paths):
    from detections.ads.parser import parse_ads

    covered: dict[str, set[str]] = {slug: set() for slug in STRATEGY_SLUGS}
    for path in scenario_dirs():
        spec = yaml.safe_load((path / "scenario.yml").read_text(encoding="utf-8"))
        if spec["kind"] == "benign":
            covered[path.parent.name].add(spec.get("false_positive", ""))
            covered[path.parent.name].add(spec.get("description", ""))
    for seed in seed_paths:
        slug = SEED_SLUGS[seed.name[:3]]
        for item in parse_ads(seed.read_text(encoding="utf-8")).false_positives:
            text = str(getattr(item, "text", item)).rstrip(".")
            key = text.split(" (")[0][:40].lower()
            assert any(key in found.lower() for found in covered[slug]), f"{slug}: no benign dataset for {text!r}"


# --------------------------------------------------------------------------- rules over real producer samples


def _titles_matching(source_format: str, path: Path) -> set[str]:
    """Titles of the library's single-event rules that match any event of a real sample file."""
    from detections.engine import compile_rules
    from detections.pipelines import (
        canonical_column,
        field_mapping_for_format,
        formats_for_logsource,
        referenced_fields,
    )
    from detections.services.detection import EVENT_COLUMNS, build_frame
    from telemetry.parsers import RecordError, get_parser

    texts = []
    for rule_path, doc in rule_documents():
        logsource = doc.get("logsource") or {}
        if "detection" in doc and source_format in formats_for_logsource(
            logsource.get("product", ""), logsource.get("category", ""), logsource.get("service", "")
        ):
            texts.append(rule_path.read_text(encoding="utf-8"))
    mapping = field_mapping_for_format(source_format)
    ruleset = compile_rules(texts, field_mapping=mapping)
    assert not ruleset.errors, ruleset.errors
    fields = set()
    for rule in ruleset.rules:
        for detection in rule.sigma_rule.detection.detections.values():
            fields |= referenced_fields(detection.detection_items)
    raw_fields = sorted(f for f in fields if canonical_column(f, mapping) is None)
    with path.open("rb") as handle:
        events = [r.event for r in get_parser(source_format).parse_stream(handle) if not isinstance(r, RecordError)]
    rows = [(i + 1, e["time"], *[e.get(c) for c in EVENT_COLUMNS], e["raw"]) for i, e in enumerate(events)]
    frame = build_frame(rows, raw_fields=raw_fields, source_format=source_format)
    titles = {str(rule.rule_id): rule.title for rule in ruleset.rules}
    return {titles[rule_id] for rule_id, _ in ruleset.match(frame)}


PRIVILEGED = "Kubernetes Pod Or Workload Created With A Privileged Container"
HOST_NETWORK = "Kubernetes Pod Or Workload Created With Host Network"
SENSITIVE_MOUNT = "Kubernetes Pod Created With A Sensitive Host Path Mount"
EXEC = "Kubernetes Exec Or Attach Into A Pod"
HUMAN_DEPLOYMENT = "Kubernetes Deployment Created Outside The Delivery Pipeline"


@pytest.mark.parametrize(
    ("sample", "fires", "stays_quiet"),
    [
        ("create_nginx_pod_privileged.json", {PRIVILEGED}, {HOST_NETWORK, SENSITIVE_MOUNT}),
        ("create_nginx_pod_privileged_2nd_container.json", {PRIVILEGED}, set()),
        ("create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json", {PRIVILEGED}, set()),
        ("create_nginx_pod_unprivileged.json", set(), {PRIVILEGED}),
        ("create_nginx_pod_hostnetwork.json", {HOST_NETWORK}, {PRIVILEGED}),
        ("create_nginx_pod_nohostnetwork.json", set(), {HOST_NETWORK}),
        ("create_nginx_pod_sensitive_mount.json", {SENSITIVE_MOUNT}, {PRIVILEGED}),
        ("create_nginx_pod_sensitive_mount_2nd_container.json", {SENSITIVE_MOUNT}, set()),
        ("create_nginx_pod_unsensitive_mount.json", set(), {SENSITIVE_MOUNT}),
        ("exec_pod.json", {EXEC}, set()),
        ("attach_pod.json", {EXEC}, set()),
        ("create_deployment.json", {HUMAN_DEPLOYMENT}, {PRIVILEGED, HOST_NETWORK}),
    ],
)
def test_kubernetes_rules_over_falco_audit_fixtures(shared_data, sample, fires, stays_quiet):
    matched = _titles_matching("k8s_audit", shared_data / "k8s-audit-falco" / "trace_files" / sample)
    assert fires <= matched, matched
    assert not stays_quiet & matched, matched


def test_benign_real_samples_raise_nothing(shared_data):
    assert _titles_matching("k8s_audit", next((shared_data / "k8s-audit-extra").glob("*.log"))) == set()
    assert _titles_matching("falco", next((shared_data / "falco-alerts").glob("*.jsonl"))) == set()
    assert _titles_matching("windows_process", shared_data / "windows-sysmon" / "grapl_36_eventlog.xml") == set()
    for sample in (shared_data / "docker-inspect").glob("watchtower_container_*.json"):
        assert _titles_matching("docker_inspect", sample) == set(), sample.name
    assert _titles_matching("linux_process", shared_data / "sysmon-linux" / "grapl_process_creation.xml") == set()


def test_encoded_powershell_rule_fires_on_the_real_empire_stager(shared_data):
    sample = shared_data / "windows-sysmon" / "otrf_empire_launcher_vbs_2020-09-04160940.subset.json"
    assert "PowerShell Encoded Command From A Container Or Non-Interactive Parent" in _titles_matching(
        "windows_process", sample
    )
