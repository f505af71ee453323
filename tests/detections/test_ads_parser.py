"""The ADS markdown parser and renderer: pure functions, no database.

Every seed document is checked section by section, the Palantir framework layouts through our own
fixtures, the project's library documents for completeness, and broken inputs for errors that
carry a line number.
"""

from pathlib import Path

import pytest

from detections.ads import AdsParseError, ParsedStrategy, parse_ads, render_markdown
from detections.ads.parser import DEFAULT_SCENARIO_NAME
from tests.conftest import SEEDS_DIR

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ads"
LIBRARY = Path(__file__).resolve().parents[2] / "detections" / "library" / "strategies"


def seed(prefix: str) -> ParsedStrategy:
    (path,) = SEEDS_DIR.glob(f"{prefix}_*.txt")
    return parse_ads(path.read_bytes())


def structure(parsed: ParsedStrategy) -> dict:
    return parsed.to_dict(include_warnings=False)


def techniques(parsed: ParsedStrategy) -> list[tuple[str, str]]:
    return [(t.attack_id, t.name) for t in parsed.techniques]


MINIMAL = """# Minimal strategy

## Goal
Detect something.

## Categorization
- **MITRE ATT&CK Mapping:** {mapping}
- **Tactic / Kill Chain Phases:** Execution
- **Platforms:** Linux
"""


# --------------------------------------------------------------------------- seed 000


def test_seed_000_categorization_and_title_prefix_is_removed():
    parsed = seed("000")
    assert parsed.title == "Detect Adversarial Attempts to Bypass Security Monitoring Using Containers"
    assert techniques(parsed) == [("T1095", "Non-Application Layer Protocol")]
    assert parsed.tactics == ["Command and Control"]
    assert parsed.platforms == ["Windows", "Linux", "macOS", "Network"]


def test_seed_000_text_sections_and_data_sources():
    parsed = seed("000")
    assert parsed.goal.startswith("This technique aims to detect adversarial attempts")
    assert parsed.data_sources == [
        "Container orchestration logs (e.g., Kubernetes audit logs)",
        "Network traffic metadata",
        "Container runtime activity",
    ]
    assert parsed.strategy_abstract.endswith("deviations in typical application behavior.")
    assert "- **Netcat C2:** Executing covert communications" in parsed.technical_context
    assert parsed.technical_context.endswith("from traditional security controls.")


def test_seed_000_lists_keep_their_intro_prose():
    parsed = seed("000")
    assert parsed.blind_spots_intro == "Known limitations include:"
    assert len(parsed.blind_spots) == 3
    assert (
        parsed.blind_spots[2]
        == "Limited visibility into encrypted inter-container communication without decryption capabilities."
    )
    assert parsed.false_positives_intro.startswith("Potential benign activities")
    assert parsed.false_positives == [
        "Legitimate use of ICMP or Netcat for debugging purposes.",
        "Normal orchestration activities in microservices architectures.",
        "DevOps teams using containerized tools for rapid deployment and testing.",
    ]


def test_seed_000_one_validation_scenario_per_sub_heading():
    parsed = seed("000")
    assert parsed.validation_intro == ""
    assert [(s.name, len(s.steps)) for s in parsed.validation_scenarios] == [
        ("ICMP C2", 3),
        ("Netcat C2", 2),
        ("Powercat C2", 2),
        ("Linux ICMP Reverse Shell using `icmp-cnc`", 2),
    ]
    assert parsed.validation_scenarios[0].steps[0] == "Set up a containerized environment with network access."


def test_seed_000_bold_level_with_reason_is_priority_and_justification():
    parsed = seed("000")
    assert parsed.priority == "high"
    assert parsed.priority_justification.startswith("Given the increasing adoption of containers")
    assert parsed.priority_justification.endswith("if left unchecked.")


def test_seed_000_response_and_resources_without_links_keep_closing_paragraph():
    parsed = seed("000")
    assert parsed.response_intro == "When an alert fires, analysts should:"
    assert len(parsed.response_steps) == 4
    assert parsed.response_steps[0] == "Immediately isolate affected containers and networks."
    assert [r.title for r in parsed.resources][:2] == [
        "PowerShell Download and Execution Cradles",
        "Suspicious PowerShell Invocations - Specific - ProcessCreation",
    ]
    assert len(parsed.resources) == 6 and all(r.url == "" for r in parsed.resources)
    assert parsed.resources_intro.startswith("By understanding these resources")
    # each link-less resource is a warning on its own line; nothing else is wrong with the document
    assert [w.line for w in parsed.warnings] == [76, 77, 78, 79, 80, 81]


# --------------------------------------------------------------------------- seed 001


def test_seed_001_categorization_with_nested_reference_link():
    parsed = seed("001")
    assert parsed.title == "Adversarial Container Bypass in Security Monitoring"
    assert techniques(parsed) == [("T1059.008", "Network Device CLI")]
    assert parsed.tactics == ["Execution"]
    assert parsed.platforms == ["Network"]
    assert parsed.data_sources == [
        "Container Orchestrator Logs",
        "Network Traffic Analysis",
        "File Integrity Monitoring (FIM)",
    ]


def test_seed_001_step_by_step_validation_is_one_scenario_whose_steps_keep_sub_bullets():
    parsed = seed("001")
    (scenario,) = parsed.validation_scenarios
    assert scenario.name == "Step-by-Step Instructions"
    assert len(scenario.steps) == 4
    assert scenario.steps[0] == (
        "**Setup Test Environment:**\n"
        "- Deploy a Kubernetes cluster in a controlled environment.\n"
        "- Ensure all nodes are monitored with the detection strategy in place."
    )
    assert scenario.steps[3].startswith("**Observe and Analyze Alerts:**\n- Monitor for alerts")


def test_seed_001_priority_label_then_justification_paragraph():
    parsed = seed("001")
    assert parsed.priority == "high"
    assert parsed.priority_justification.startswith("The ability of adversaries to use containers")


def test_seed_001_response_numbered_steps_with_nested_bullets():
    parsed = seed("001")
    assert parsed.response_intro == "When an alert is fired:"
    assert len(parsed.response_steps) == 4
    assert parsed.response_steps[1] == (
        "**Forensic Analysis:**\n"
        "- Capture container logs and network traffic for detailed analysis.\n"
        "- Investigate changes in resource usage patterns associated with the suspicious activity."
    )


def test_seed_001_blind_spots_fps_and_closing_paragraph_after_rule():
    parsed = seed("001")
    assert [b.split(":**")[0] for b in parsed.blind_spots] == [
        "**Dynamic Environments",
        "**Legitimate Container Usage",
        "**Sophisticated Adversaries",
    ]
    assert len(parsed.false_positives) == 3
    assert parsed.resources == []
    assert parsed.resources_intro.startswith("Currently, no additional resources")
    assert parsed.resources_intro.endswith("aligning with Palantir's Alerting & Detection Strategy framework.")
    assert "---" not in parsed.resources_intro
    assert parsed.warnings == []


# --------------------------------------------------------------------------- seed 002


def test_seed_002_platform_with_parentheses_and_inline_data_sources():
    parsed = seed("002")
    assert parsed.title == "Compromise Infrastructure Using Containers"
    assert techniques(parsed) == [("T1584", "Compromise Infrastructure")]
    assert parsed.tactics == ["Resource Development"]
    assert parsed.platforms == ["PRE (Privileged Remote Environment)"]
    assert parsed.data_sources == [
        "network traffic logs",
        "container orchestration platform logs (e.g., Kubernetes audit logs)",
        "system event logs",
        "endpoint security tools",
    ]


def test_seed_002_sub_headings_and_commands_stay_in_technical_context():
    parsed = seed("002")
    assert "### Adversary Emulation Details" in parsed.technical_context
    assert "`docker run -d --name <malicious_container> --net host <image>`" in parsed.technical_context


def test_seed_002_validation_that_says_none_available_has_no_scenario_but_keeps_prose():
    parsed = seed("002")
    assert parsed.validation_scenarios == []
    assert parsed.validation_intro.startswith("Currently, no specific emulation steps are available")
    assert [(w.line, w.message) for w in parsed.warnings] == [
        (55, "Validation has no scenario: the strategy cannot be validated")
    ]


def test_seed_002_priority_blind_spots_fps_response_resources():
    parsed = seed("002")
    assert parsed.priority == "high"
    assert parsed.priority_justification.startswith("The severity is high")
    assert [b.split(":**")[0] for b in parsed.blind_spots] == ["**Blind Spots", "**Assumptions"]
    assert len(parsed.false_positives) == 3
    assert len(parsed.response_steps) == 4
    assert parsed.resources == []
    assert "aligned with Palantir's ADS methodology." in parsed.resources_intro


# --------------------------------------------------------------------------- seed 003


def test_seed_003_bold_headings_and_two_tactics():
    parsed = seed("003")
    assert parsed.title == "Detect Adversarial Attempts to Bypass Security Monitoring Using Containers"
    assert parsed.goal.startswith("The goal of this technique")
    assert techniques(parsed) == [("T1055.005", "Thread Local Storage")]
    assert parsed.tactics == ["Defense Evasion", "Privilege Escalation"]
    assert parsed.platforms == ["Windows"]
    assert len(parsed.data_sources) == 3
    assert "### Adversary Emulation Details" in parsed.technical_context


def test_seed_003_severity_label_with_justification_label():
    parsed = seed("003")
    assert parsed.priority == "high"
    assert parsed.priority_justification.startswith("Given the increasing adoption of container technologies")


def test_seed_003_none_available_then_general_steps_is_one_scenario():
    parsed = seed("003")
    assert parsed.validation_intro.startswith("Currently, no specific step-by-step instructions")
    (scenario,) = parsed.validation_scenarios
    assert scenario.name == DEFAULT_SCENARIO_NAME
    assert scenario.steps == [
        "Set up a Windows environment with Docker installed.",
        "Execute containers with elevated privileges.",
        "Modify TLS keys to persist processes across container restarts.",
        "Observe whether existing security monitoring tools detect these activities.",
    ]


def test_seed_003_bulleted_response_and_lists():
    parsed = seed("003")
    assert len(parsed.response_steps) == 4
    assert parsed.response_steps[0].startswith("Immediately isolate the affected container(s)")
    assert len(parsed.blind_spots) == 3
    assert len(parsed.false_positives) == 2
    assert parsed.resources == []
    assert parsed.resources_intro.startswith("Currently, no additional resources are available.")
    assert parsed.warnings == []


# --------------------------------------------------------------------------- seed 004


def test_seed_004_title_without_subject_is_kept_with_a_warning():
    parsed = seed("004")
    assert parsed.title == "Alerting & Detection Strategy (ADS) Report"
    assert [(w.line, w.message) for w in parsed.warnings] == [(1, "title heading names no subject")]


def test_seed_004_categorization_and_data_sources_under_a_sub_heading():
    parsed = seed("004")
    assert techniques(parsed) == [("T1102.003", "One-Way Communication")]
    assert parsed.tactics == ["Command and Control"]
    assert parsed.platforms == ["Linux", "macOS", "Windows"]
    assert parsed.data_sources == ["Network Traffic Logs", "Container Runtime Logs", "Endpoint Telemetry"]
    assert "```bash\ndocker run -d --name secret_comm -p 8080:80 my_image\n```" in parsed.technical_context


def test_seed_004_validation_step_keeps_its_code_block_verbatim():
    parsed = seed("004")
    (scenario,) = parsed.validation_scenarios
    assert len(scenario.steps) == 3
    assert scenario.steps[1] == (
        "**Emulate Adversarial Activity:**\n"
        "- Run the following command to create a suspicious container:\n"
        "  ```bash\n"
        "  docker run -d --name test_container -p 9999:80 alpine sleep infinity\n"
        "  ```\n"
        "- Execute a script within the container that mimics one-way communication, "
        "such as sending periodic HTTP requests without expecting responses."
    )


def test_seed_004_priority_response_resources_with_links():
    parsed = seed("004")
    assert parsed.priority == "high"
    assert parsed.priority_justification.startswith("This technique poses a significant threat")
    assert len(parsed.response_steps) == 4
    assert parsed.response_steps[1].startswith("**Isolate the Container:**")
    assert [(r.title, r.url) for r in parsed.resources] == [
        ("MITRE ATT&CK Framework", "https://attack.mitre.org/"),
        ("Docker Security Best Practices", "https://docs.docker.com/engine/security/"),
        ("Container Network Monitoring Guide", "https://www.datadoghq.com/blog/container-network-monitoring/"),
    ]
    assert parsed.resources_intro.startswith("This report provides a comprehensive overview")
    assert len(parsed.blind_spots) == 2
    assert len(parsed.false_positives) == 2


# --------------------------------------------------------------------------- Palantir layouts


def test_palantir_layout_categorization_links_give_tactics_and_sub_techniques():
    parsed = parse_ads((FIXTURES / "palantir_layout.md").read_text())
    assert parsed.title == "Kubelet API Reached From A Workload Pod"
    assert techniques(parsed) == [
        ("T1613", "Container and Resource Discovery"),
        ("T1609", "Container Administration Command"),
    ]
    assert parsed.tactics == ["Discovery", "Execution"]


def test_palantir_layout_platforms_section_fills_platforms_and_unknown_sections_are_kept():
    parsed = parse_ads((FIXTURES / "palantir_layout.md").read_text())
    assert parsed.platforms == ["Kubernetes", "Containers"]
    assert [(s.heading, s.body) for s in parsed.extra_sections] == [
        ("Environments", "* Build clusters\n* Shared analytics clusters"),
        ("Tooling", "* Cilium network flow logs\n* Falco"),
    ]


def test_palantir_layout_hash_lines_inside_code_are_not_headings():
    parsed = parse_ads((FIXTURES / "palantir_layout.md").read_text())
    assert "### The kubelet API" in parsed.technical_context
    assert (
        "# list the pods on this node\ncurl -sk https://10.0.0.12:10250/pods\n## not a heading"
        in parsed.technical_context
    )
    assert [s.heading for s in parsed.extra_sections] == ["Environments", "Tooling"]


def test_palantir_layout_sub_sections_of_blind_spots_become_item_labels():
    parsed = parse_ads((FIXTURES / "palantir_layout.md").read_text())
    assert parsed.blind_spots == [
        "**Blind Spots:** Flow logs are dropped before they reach the SIEM.",
        "**Blind Spots:** The request goes through the API server proxy instead of straight to the node.",
        "**Assumptions:** Pod address ranges are known and kept current.",
    ]
    assert parsed.blind_spots_intro == "A blind spot may occur when:"


def test_palantir_layout_alert_priority_validation_response_resources():
    parsed = parse_ads((FIXTURES / "palantir_layout.md").read_text())
    assert parsed.priority == "medium"
    assert parsed.priority_justification == "This alert is set to **Medium** priority under all circumstances."
    (scenario,) = parsed.validation_scenarios
    assert len(scenario.steps) == 3 and parsed.validation_intro == "To validate this strategy:"
    assert parsed.false_positives[0] == (
        "Monitoring agents deployed as pods that scrape the kubelet\n  * Expected: the metrics server, the node exporter."
    )
    assert parsed.response_steps[1].startswith("Answer these questions:\n  * Is the pod's image")
    assert [r.url for r in parsed.resources] == [
        "https://kubernetes.io/docs/reference/access-authn-authz/kubelet-authn-authz/",
        "https://docs.cilium.io/",
    ]
    assert parsed.warnings == []


def test_palantir_flat_layout_with_top_level_sections_and_no_title():
    parsed = parse_ads((FIXTURES / "palantir_flat_layout.md").read_text())
    assert parsed.title == ""
    assert (1, "no title heading") in [(w.line, w.message) for w in parsed.warnings]
    assert parsed.goal.startswith("Detect scripts that look for an endpoint sensor")
    # "[Tactic / Technique](.../techniques/T1518/001/)": both from one link
    assert techniques(parsed) == [("T1518.001", "Software Discovery: Security Software Discovery")]
    assert parsed.tactics == ["Discovery"]
    assert parsed.priority == "medium"
    assert len(parsed.blind_spots) == 3
    assert parsed.resources[0].url == "https://attack.mitre.org/techniques/T1518/001/"


def test_palantir_flat_layout_validation_command_is_one_step():
    parsed = parse_ads((FIXTURES / "palantir_flat_layout.md").read_text())
    (scenario,) = parsed.validation_scenarios
    (step,) = scenario.steps
    assert step.endswith("```\n/bin/sh -c ps -ef | grep sensord | grep -v grep\n```")


# --------------------------------------------------------------------------- technique id forms


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ("T1095 - Non-Application Layer Protocol", [("T1095", "Non-Application Layer Protocol")]),
        ("T1059.001: PowerShell", [("T1059.001", "PowerShell")]),
        (
            "T1095 - Non-Application Layer Protocol; T1105 - Ingress Tool Transfer",
            [("T1095", "Non-Application Layer Protocol"), ("T1105", "Ingress Tool Transfer")],
        ),
        ("[DNS](https://attack.mitre.org/techniques/T1071/004/)", [("T1071.004", "DNS")]),
        ("Non-Application Layer Protocol (T1095)", [("T1095", "Non-Application Layer Protocol")]),
        ("t1105", [("T1105", "")]),
    ],
)
def test_technique_id_forms_are_read(mapping, expected):
    assert techniques(parse_ads(MINIMAL.format(mapping=mapping))) == expected


def test_mapping_label_with_nested_bullets_lists_several_techniques():
    text = MINIMAL.format(mapping="").replace(
        "- **MITRE ATT&CK Mapping:** \n",
        "- **MITRE ATT&CK Mapping:**\n  - T1610 - Deploy Container\n  - T1611 - Escape to Host\n",
    )
    assert techniques(parse_ads(text)) == [("T1610", "Deploy Container"), ("T1611", "Escape to Host")]


# --------------------------------------------------------------------------- errors and warnings


def test_technique_id_that_is_not_an_id_raises_with_its_line():
    with pytest.raises(AdsParseError) as error:
        parse_ads(MINIMAL.format(mapping="T10X9 - Made Up"))
    assert error.value.line == 7
    assert "T10X9" in error.value.message


def test_attack_link_with_a_broken_technique_id_raises_but_other_attack_links_do_not():
    broken = MINIMAL.format(mapping="T1095") + "\n[Reference](https://attack.mitre.org/techniques/T10X9/)\n"
    with pytest.raises(AdsParseError) as error:
        parse_ads(broken)
    assert error.value.line == 11
    index_link = (
        MINIMAL.format(mapping="T1095") + "\n[All techniques](https://attack.mitre.org/techniques/enterprise/)\n"
    )
    parsed = parse_ads(index_link)
    assert techniques(parsed) == [("T1095", "")]
    assert (11, "Categorization line names no ATT&CK technique or tactic") in [
        (w.line, w.message) for w in parsed.warnings
    ]


def test_duplicated_section_heading_raises_at_the_second_heading():
    text = (FIXTURES / "duplicate_goal.md").read_text()
    with pytest.raises(AdsParseError) as error:
        parse_ads(text)
    assert error.value.line == 9
    assert "duplicate section heading 'Goal'" in error.value.message


def test_markdown_that_is_not_an_ads_raises():
    with pytest.raises(AdsParseError) as error:
        parse_ads("\n# Release notes\n\n## Fixed\n- a crash\n")
    assert error.value.line == 2
    assert error.value.message.startswith("not an ADS document")


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("", 1),
        ("\n  \n\t\n", 1),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1),  # not UTF-8
        (b"## Goal\nfine\n\xff\xfe broken", 3),  # not UTF-8 on line 3
        ("## Goal\nok\n\x00\x00binary", 3),  # NUL byte
        ("## Goal\n" + "\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c" * 4, 2),  # control characters
    ],
)
def test_empty_binary_or_garbled_input_raises_with_line(content, line):
    with pytest.raises(AdsParseError) as error:
        parse_ads(content)
    assert error.value.line == line


def test_missing_sections_and_priority_are_warnings_not_errors():
    parsed = parse_ads(MINIMAL.format(mapping="T1095") + "\n## Priority\nTo be decided.\n")
    messages = {w.message for w in parsed.warnings}
    assert "no priority level (low, medium, high or critical) in Priority" in messages
    assert "no Validation (Adversary Emulation) section" in messages
    assert parsed.priority == "" and parsed.priority_justification == "To be decided."


# --------------------------------------------------------------------------- round trip and library


ALL_DOCUMENTS = sorted(SEEDS_DIR.glob("*.txt")) + sorted(FIXTURES.glob("palantir_*.md")) + sorted(LIBRARY.glob("*.md"))


@pytest.mark.parametrize("path", ALL_DOCUMENTS, ids=lambda p: p.name)
def test_render_then_parse_gives_the_same_structure(path):
    parsed = parse_ads(path.read_bytes())
    rendered = render_markdown(parsed)
    assert structure(parse_ads(rendered)) == structure(parsed)
    assert render_markdown(parse_ads(rendered)) == rendered  # canonical form is a fixed point


LIBRARY_MAPPINGS = {
    "container-c2-nonstandard-protocols": {"T1095", "T1059.001", "T1105"},
    "container-security-bypass": {"T1610", "T1611", "T1609", "T1204.003", "T1496", "T1071"},
    "container-infrastructure-compromise": {"T1610", "T1612", "T1525"},
    "windows-container-privileged-evasion": {"T1611", "T1610"},
    "container-one-way-communication": {"T1071.001", "T1041", "T1029"},
}


def test_library_has_one_document_per_slug():
    assert sorted(p.stem for p in LIBRARY.glob("*.md")) == sorted(LIBRARY_MAPPINGS)


@pytest.mark.parametrize("slug", sorted(LIBRARY_MAPPINGS))
def test_library_document_is_complete_and_clean(slug):
    parsed = parse_ads((LIBRARY / f"{slug}.md").read_text())
    assert parsed.warnings == []
    assert parsed.metadata == {"slug": slug, "status": "production"}
    assert {t.attack_id for t in parsed.techniques} == LIBRARY_MAPPINGS[slug]
    assert all(t.name for t in parsed.techniques)
    for text in (
        parsed.title,
        parsed.goal,
        parsed.strategy_abstract,
        parsed.technical_context,
        parsed.priority_justification,
    ):
        assert len(text) > 40 or text == parsed.title
    assert parsed.tactics and parsed.platforms and parsed.data_sources
    assert len(parsed.blind_spots) >= 3 and len(parsed.false_positives) >= 3
    assert len(parsed.validation_scenarios) >= 3
    assert all(len(s.steps) >= 2 for s in parsed.validation_scenarios)
    assert parsed.priority in {"medium", "high", "critical"}
    assert len(parsed.response_steps) >= 5
    assert len(parsed.resources) >= 5 and all(r.url.startswith("https://") for r in parsed.resources)
    assert parsed.extra_sections == []


def test_library_explains_dropped_seed_mappings_in_technical_context():
    windows = parse_ads((LIBRARY / "windows-container-privileged-evasion.md").read_text())
    assert "T1055.005" in windows.technical_context
    assert any("TLS callback" in b and "invisible" in b for b in windows.blind_spots)
    one_way = parse_ads((LIBRARY / "container-one-way-communication.md").read_text())
    assert "T1102.003" in one_way.technical_context
