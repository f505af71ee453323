"""Saving Sigma rules: validation errors name the line, metadata comes from the YAML, upsert by id."""

import pytest

from detections.forms import DetectionRuleForm
from detections.models import DetectionRule, Strategy
from detections.services.rules import RuleValidationError, attack_ids_from_tags, save_analytic_rule, save_sigma_rule

from .pipeline_factories import EXEC_INTO_POD, load_rule

GOOD = """title: Netcat with -e
id: 5f0b3f7e-1c2d-4a5b-9c8d-0e1f2a3b4c5d
status: test
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/nc'
        CommandLine|contains: ' -e '
    condition: selection
tags:
    - attack.execution
    - attack.t1059.004
level: high
"""


def broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def error_for(text: str) -> RuleValidationError:
    with pytest.raises(RuleValidationError) as caught:
        save_sigma_rule(yaml_text=text)
    return caught.value


@pytest.mark.django_db
def test_yaml_syntax_error_names_its_line():
    error = error_for(broken("    condition: selection", "   condition: [selection"))
    assert error.line == 11
    assert str(error).startswith("line 11:") or str(error).startswith("line 12:")


@pytest.mark.django_db
def test_unknown_modifier_names_the_line_of_its_key():
    error = error_for(broken("Image|endswith", "Image|endwith"))
    assert error.line == 9
    assert "endwith" in str(error)


@pytest.mark.django_db
def test_invalid_level_names_the_level_line():
    error = error_for(broken("level: high", "level: hihg"))
    assert error.line == 15
    assert str(error) == "line 15: 'hihg' is not a valid Sigma rule level"


@pytest.mark.django_db
def test_condition_naming_an_undefined_detection_names_the_condition_line():
    error = error_for(broken("condition: selection", "condition: selection and filter"))
    assert error.line == 11
    assert "filter" in str(error)


@pytest.mark.django_db
def test_invalid_regular_expression_is_refused_with_its_line():
    error = error_for(broken("Image|endswith: '/nc'", "Image|re: '(/nc'"))
    assert error.line == 9
    assert "(/nc" in str(error)


@pytest.mark.django_db
def test_a_regex_too_big_for_the_engine_is_refused_with_its_line_and_reason():
    error = error_for(broken("Image|endswith: '/nc'", "Image|re: '" + "\\w{1000}" * 20 + "'"))
    assert error.line == 9
    assert "exceeds size limit" in str(error)
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_rule_without_id_is_refused():
    error = error_for(broken("id: 5f0b3f7e-1c2d-4a5b-9c8d-0e1f2a3b4c5d\n", ""))
    assert "id" in str(error)
    assert not DetectionRule.objects.exists()


@pytest.mark.django_db
def test_real_rule_is_saved_with_metadata_from_the_yaml():
    rule = load_rule(EXEC_INTO_POD)
    assert rule.rule_uid == "a1b0ca4e-7835-413e-8471-3ff2b8a66be6"
    assert rule.title == "Potential Remote Command Execution In Pod Container"
    assert rule.kind == DetectionRule.Kind.SIGMA
    assert rule.level == "medium"
    assert (rule.logsource_product, rule.logsource_service) == ("kubernetes", "audit")
    assert rule.attack_ids == ["T1609"]
    assert rule.status == DetectionRule.Status.ENABLED
    assert rule.source_path.endswith("kubernetes_audit_exec_into_container.yml")


@pytest.mark.django_db
def test_saving_again_updates_the_rule_with_the_same_sigma_id():
    strategy = Strategy.objects.create(title="Netcat shells", slug="netcat-shells")
    first = save_sigma_rule(yaml_text=GOOD, strategies=[strategy], status=DetectionRule.Status.TEST)
    second = save_sigma_rule(yaml_text=GOOD.replace("level: high", "level: critical"))
    assert first.pk == second.pk
    assert DetectionRule.objects.count() == 1
    second.refresh_from_db()
    assert second.level == "critical"
    assert second.status == DetectionRule.Status.TEST  # status=None keeps the deployment state
    assert list(second.strategies.all()) == [strategy]
    assert second.attack_ids == ["T1059.004"]


def test_attack_ids_come_from_technique_tags_only():
    assert attack_ids_from_tags(["attack.execution", "attack.t1059", "attack.T1059.001", "cve.2021-44228"]) == [
        "T1059",
        "T1059.001",
    ]


@pytest.mark.django_db
def test_correlation_rule_is_stored_as_a_sigma_correlation():
    rule = save_sigma_rule(
        yaml_text="""title: Many pod execs
id: 6f0b3f7e-1c2d-4a5b-9c8d-0e1f2a3b4c5d
correlation:
    type: event_count
    rules:
        - a1b0ca4e-7835-413e-8471-3ff2b8a66be6
    group-by:
        - k8s_user
    timespan: 10m
    condition:
        gte: 5
level: high
"""
    )
    assert rule.kind == DetectionRule.Kind.SIGMA_CORRELATION
    assert rule.level == "high"


@pytest.mark.django_db
def test_correlation_with_bad_timespan_names_the_timespan_line():
    with pytest.raises(RuleValidationError) as caught:
        save_sigma_rule(
            yaml_text="""title: Many pod execs
id: 6f0b3f7e-1c2d-4a5b-9c8d-0e1f2a3b4c5d
correlation:
    type: event_count
    rules:
        - some_rule
    timespan: ten minutes
    condition:
        gte: 5
"""
        )
    assert caught.value.line == 7


@pytest.mark.django_db
def test_analytic_rule_is_upserted_by_uid():
    rule = save_analytic_rule(
        uid="beaconing",
        title="Beaconing",
        analytic_type="beaconing",
        parameters={"min_connections": 20},
        level="high",
        strategies=[],
        description="Regular outbound connections.",
    )
    again = save_analytic_rule(
        uid="beaconing",
        title="Beaconing to one host",
        analytic_type="beaconing",
        parameters={"min_connections": 30},
        level="high",
        strategies=[],
        description="",
    )
    assert rule.pk == again.pk
    again.refresh_from_db()
    assert again.kind == DetectionRule.Kind.ANALYTIC
    assert again.parameters == {"min_connections": 30}


@pytest.mark.django_db
def test_admin_form_shows_the_line_on_the_yaml_field():
    form = DetectionRuleForm(
        data={"kind": "sigma", "status": "enabled", "level": "medium", "sigma_yaml": broken("level: high", "level: x")}
    )
    assert not form.is_valid()
    assert form.errors["sigma_yaml"] == ["line 15: 'x' is not a valid Sigma rule level"]


def add_rule_in_the_admin(client, sigma_yaml: str, **options):
    """POST the admin's add form for a Sigma rule, as an engineer typing it in would."""
    form = {"kind": "sigma", "status": "enabled", "level": "medium", "sigma_yaml": sigma_yaml, "parameters": "{}"}
    return client.post("/admin/detections/detectionrule/add/", form, **options)


@pytest.mark.django_db
def test_admin_add_page_saves_a_valid_rule_with_fields_from_the_yaml(client, admin_user):
    client.force_login(admin_user)
    response = add_rule_in_the_admin(client, GOOD)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = DetectionRule.objects.get()
    assert (rule.title, rule.level, rule.rule_uid) == ("Netcat with -e", "high", "5f0b3f7e-1c2d-4a5b-9c8d-0e1f2a3b4c5d")
    assert rule.logsource_category == "process_creation"


@pytest.mark.django_db
def test_admin_add_page_shows_the_error_line(client, admin_user):
    client.force_login(admin_user)
    response = add_rule_in_the_admin(client, broken("Image|endswith", "Image|endwith"))
    assert response.status_code == 200
    assert "line 9: Unknown modifier" in response.content.decode()


@pytest.mark.django_db
def test_modifier_error_without_quoted_text_names_the_line_of_its_detection_item():
    error = error_for(broken("CommandLine|contains: ' -e '", "CommandLine|contains|all|re: ' -e '"))
    assert error.line == 10


@pytest.mark.django_db
def test_value_yaml_cannot_build_names_its_line():
    error = error_for(broken("status: test", "date: 2026-13-45"))
    assert error.line == 3


@pytest.mark.django_db
def test_missing_title_points_at_the_top_of_the_rule():
    error = error_for(broken("title: Netcat with -e\n", ""))
    assert (error.line, error.problem) == (1, "Sigma rule must have a title")


# --------------------------------------------------------------------------- warnings (issue 13)


@pytest.mark.django_db
def test_a_field_with_no_canonical_column_is_stored_with_a_warning_naming_it_and_its_line():
    rule = save_sigma_rule(yaml_text=broken("CommandLine|contains", "CommandLien|contains"))
    assert DetectionRule.objects.filter(pk=rule.pk).exists()  # stored: Sigma rules may use unmapped fields
    assert [(w.line, w.field) for w in rule.warnings] == [(10, "CommandLien")]
    assert "CommandLien" in str(rule.warnings[0]) and str(rule.warnings[0]).startswith("line 10:")


@pytest.mark.django_db
def test_a_rule_on_mapped_fields_has_no_warnings():
    assert save_sigma_rule(yaml_text=GOOD).warnings == []


@pytest.mark.django_db
def test_the_admin_shows_the_unknown_field_warning_after_saving(client, admin_user):
    client.force_login(admin_user)
    response = add_rule_in_the_admin(client, broken("CommandLine|contains", "CommandLien|contains"), follow=True)
    assert response.status_code == 200
    assert DetectionRule.objects.count() == 1
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("line 10:") and "CommandLien" in m for m in shown), shown
