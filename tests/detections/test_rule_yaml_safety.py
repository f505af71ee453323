"""Rule YAML that would take the server down is refused before anything walks it, on every path.

Issue 13: a ~700-byte rule nesting anchors ("billion laughs") grew the web server to 22 GB,
and a deeply nested flow sequence answered 500 (RecursionError). Every path that reads a
rule's text (the API, the admin form, library files, `hunt`, the engine) goes through one
loader that refuses aliases, deep nesting, too many nodes and oversized texts with the line.

The bombs are small (tests/detections/hostile_yaml.py) so a regression fails instead of
hanging the machine.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from detections.engine import compile_rules
from detections.forms import DetectionRuleForm
from detections.models import DetectionRule
from detections.rule_yaml import MAX_DEPTH, MAX_NODES, MAX_RULE_BYTES, RuleYamlError, load_rule_documents
from detections.services.rules import RuleValidationError, save_sigma_rule
from validation.library import LibraryError, load_library

from .hostile_yaml import FIRST_ALIAS_LINE, RULE_ID, deep_flow, finishes_within, laughs

NETCAT_ID = "0d7c1b1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e"
NETCAT = f"""title: Netcat
id: {NETCAT_ID}
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: /nc
    condition: selection
"""

# --------------------------------------------------------------------------- the loader


def test_the_loader_names_the_line_of_the_first_alias():
    with finishes_within(1), pytest.raises(RuleYamlError) as caught:
        load_rule_documents(laughs(9))  # the probe's size: refused before anything is built
    assert caught.value.line == FIRST_ALIAS_LINE
    assert str(caught.value) == f"line {FIRST_ALIAS_LINE}: YAML aliases (*a) are not allowed in rules"


def test_an_anchor_without_alias_is_refused_too():
    with pytest.raises(RuleYamlError) as caught:
        load_rule_documents(f"title: x\nid: {RULE_ID}\ntags: &t [attack.t1059]\n")
    assert (caught.value.line, caught.value.problem) == (3, "YAML anchors (&t) are not allowed in rules")


def test_nesting_deeper_than_the_limit_is_refused_with_its_line():
    load_rule_documents(deep_flow(MAX_DEPTH - 1))  # the mapping is one level, the lists the rest
    with pytest.raises(RuleYamlError) as caught:
        load_rule_documents(deep_flow(MAX_DEPTH))
    assert caught.value.line == 3
    assert f"deeper than {MAX_DEPTH} levels" in caught.value.problem


def test_more_nodes_than_the_limit_is_refused():
    text = f"title: x\nid: {RULE_ID}\nvalues: [{','.join(['a'] * MAX_NODES)}]\n"
    assert len(text.encode()) < MAX_RULE_BYTES
    with pytest.raises(RuleYamlError) as caught:
        load_rule_documents(text)
    assert caught.value.line == 3
    assert f"more than {MAX_NODES} YAML nodes" in caught.value.problem


def test_a_text_over_the_size_limit_is_refused_before_it_is_parsed():
    text = "title: x\ndescription: " + "é" * (MAX_RULE_BYTES // 2) + "\n"  # counted in UTF-8 bytes
    with pytest.raises(RuleYamlError) as caught:
        load_rule_documents(text)
    assert caught.value.problem.startswith(f"the rule is {len(text.encode())} bytes")
    assert f"at most {MAX_RULE_BYTES}" in caught.value.problem


# --------------------------------------------------------------------------- every path


@pytest.mark.django_db
@pytest.mark.parametrize("under", ["description", "detection"])
def test_saving_a_rule_with_aliases_is_refused_quickly_and_stores_nothing(under):
    with finishes_within(2), pytest.raises(RuleValidationError) as caught:
        save_sigma_rule(yaml_text=laughs(under=under))
    assert caught.value.line == FIRST_ALIAS_LINE
    assert "YAML aliases (*a) are not allowed in rules" in str(caught.value)
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_a_deep_flow_sequence_is_a_validation_error_not_a_recursion_error():
    with finishes_within(2), pytest.raises(RuleValidationError) as caught:
        save_sigma_rule(yaml_text=deep_flow(5000))
    assert caught.value.line == 3


@pytest.mark.django_db
def test_the_admin_form_shows_the_alias_line_on_the_yaml_field():
    data = {"kind": "sigma", "status": "enabled", "level": "medium", "sigma_yaml": laughs()}
    with finishes_within(2):
        form = DetectionRuleForm(data=data)
        assert not form.is_valid()
    assert form.errors["sigma_yaml"] == [f"line {FIRST_ALIAS_LINE}: YAML aliases (*a) are not allowed in rules"]


@pytest.mark.django_db
def test_the_admin_form_refuses_a_rule_over_the_size_limit():
    text = f"title: x\nid: {RULE_ID}\ndescription: {'a' * MAX_RULE_BYTES}\n"
    form = DetectionRuleForm(data={"kind": "sigma", "status": "enabled", "level": "medium", "sigma_yaml": text})
    assert not form.is_valid()
    assert f"at most {MAX_RULE_BYTES} bytes" in form.errors["sigma_yaml"][0]


def test_the_engine_reports_the_alias_line_and_compiles_the_other_rules():
    with finishes_within(2):
        ruleset = compile_rules([laughs(under="detection"), NETCAT])
    assert [(e.line, e.message) for e in ruleset.errors] == [
        (FIRST_ALIAS_LINE, "YAML aliases (*a) are not allowed in rules")
    ]
    assert [r.rule_id for r in ruleset.rules] == [NETCAT_ID]


def test_hunt_names_the_file_and_the_line_and_hunts_with_the_other_rules(tmp_path):
    (tmp_path / "laughs.yml").write_text(laughs(under="detection"))
    events = tmp_path / "events.ndjson"
    (tmp_path / "netcat.yml").write_text(NETCAT)
    events.write_text('{"Image": "/usr/bin/nc"}\n')
    out, err = StringIO(), StringIO()
    with finishes_within(5):
        call_command("hunt", "--rules", str(tmp_path), "--events", str(events), stdout=out, stderr=err)
    assert f"laughs.yml line {FIRST_ALIAS_LINE}: skipped: YAML aliases (*a) are not allowed in rules" in err.getvalue()
    assert [json.loads(line)["rule_id"] for line in out.getvalue().splitlines()] == [NETCAT_ID]


@pytest.mark.django_db
def test_a_library_rule_file_with_aliases_is_refused_with_its_path_and_line(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "laughs.yml").write_text(laughs())
    with finishes_within(2), pytest.raises(LibraryError) as caught:
        load_library(base=tmp_path)
    assert f"laughs.yml: line {FIRST_ALIAS_LINE}: YAML aliases (*a) are not allowed in rules" in str(caught.value)
    assert not DetectionRule.objects.exists()
