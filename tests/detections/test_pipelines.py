"""Routing of Sigma logsources to source formats, field mappings, and raw dotted paths (no database)."""

from sigma.rule import SigmaRule

from detections.pipelines import (
    field_mapping_for_format,
    formats_for_logsource,
    processing_pipeline,
    raw_value,
)


def test_kubernetes_audit_rules_route_to_k8s_audit_whatever_their_category():
    assert formats_for_logsource("kubernetes", "application", "audit") == ("k8s_audit",)


def test_process_creation_routes_by_product():
    assert formats_for_logsource("linux", "process_creation", "") == ("linux_process",)
    assert formats_for_logsource("windows", "process_creation", "") == ("windows_process",)
    assert set(formats_for_logsource("", "process_creation", "")) == {"linux_process", "windows_process"}


def test_zeek_and_network_rules_route_to_zeek_formats():
    assert formats_for_logsource("zeek", "", "dns") == ("zeek_dns",)
    assert formats_for_logsource("zeek", "", "conn") == ("zeek_conn",)
    assert formats_for_logsource("linux", "network_connection", "") == ("zeek_conn",)
    assert formats_for_logsource("zeek", "", "smb_files") == ()


def test_field_mappings_follow_the_team_contract():
    k8s = field_mapping_for_format("k8s_audit")
    assert k8s["objectRef.subresource"] == "k8s_subresource"
    assert k8s["user.username"] == "k8s_user"
    zeek = field_mapping_for_format("zeek_conn")
    assert (zeek["id.resp_h"], zeek["DestinationPort"], zeek["conn_state"]) == ("dst_ip", "dst_port", "action")
    assert field_mapping_for_format("linux_process")["CommandLine"] == "process_command_line"
    assert field_mapping_for_format("zeek_dns")["query"] == "dns_query"


def test_raw_values_are_found_by_dotted_path_through_dotted_keys_and_lists():
    raw = {
        "requestObject": {"spec": {"containers": [{"securityContext": {"privileged": True}}, {"name": "side"}]}},
        "id.orig_h": "10.0.0.1",
        "output_fields": {"proc.cmdline": "sh -i"},
    }
    assert raw_value(raw, "requestObject.spec.containers.securityContext.privileged") == [True]
    assert raw_value(raw, "id.orig_h") == "10.0.0.1"
    assert raw_value(raw, "proc.cmdline", source_format="falco") == "sh -i"
    assert raw_value(raw, "requestObject.spec.hostNetwork") is None


def test_processing_pipeline_maps_sigma_fields_for_the_rules_logsource():
    rule = SigmaRule.from_yaml(
        """title: t
logsource: {product: kubernetes, service: audit}
detection:
    sel: {verb: create, objectRef.subresource: exec}
    condition: sel
"""
    )
    processing_pipeline().apply(rule)
    fields = [item.field for item in rule.detection.detections["sel"].detection_items]
    assert fields == ["k8s_verb", "k8s_subresource"]
