"""The raw record on the alert page: pretty JSON line for line, with the matched fields' lines marked."""

import json

from triage.json_view import json_lines

K8S_AUDIT = {
    "verb": "create",
    "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default", "name": "web-1"},
    "sourceIPs": ["10.9.9.9", "10.0.0.1"],
    "user": {"username": "mallory", "groups": ["system:authenticated"]},
    "responseStatus": {"code": 200, "metadata": {}},
    "annotations": [],
}


def text_of(lines) -> str:
    return "\n".join(f"{line.indent}{line.key + ': ' if line.key else ''}{line.text}{line.tail}" for line in lines)


def hits(lines) -> list[str]:
    return [f"{line.key}: {line.text}" if line.key else line.text for line in lines if line.hit]


def test_the_lines_read_exactly_as_pretty_printed_json():
    assert text_of(json_lines(K8S_AUDIT)) == json.dumps(K8S_AUDIT, indent=2, sort_keys=True, ensure_ascii=False)


def test_dotted_sigma_fields_mark_the_nested_keys_they_read():
    lines = json_lines(K8S_AUDIT, {"verb": "create", "objectRef.resource": "pods", "objectRef.subresource": "exec"})
    assert hits(lines) == ['"resource": "pods"', '"subresource": "exec"', '"verb": "create"']  # sorted keys


def test_a_matched_list_marks_the_list_and_its_items():
    lines = json_lines(K8S_AUDIT, {"sourceIPs": ["10.9.9.9", "10.0.0.1"]})
    assert hits(lines) == ['"sourceIPs": [', '"10.9.9.9"', '"10.0.0.1"', "]"]


def test_a_source_prefix_and_a_differently_named_raw_key_are_found():
    falco = {"output_fields": {"proc.exepath": "/usr/bin/nc", "proc.cmdline": "nc -lvp 4444", "user.name": "root"}}
    # proc.cmdline by its name under the output_fields. prefix; Image (a canonical column) by its value.
    lines = json_lines(falco, {"proc.cmdline": "nc -lvp 4444", "Image": "/usr/bin/nc"})
    assert hits(lines) == ['"proc.cmdline": "nc -lvp 4444"', '"proc.exepath": "/usr/bin/nc"']


def test_one_character_values_do_not_mark_every_line_that_holds_them():
    assert hits(json_lines({"a": "1", "b": "1", "EventID": 1}, {"EventID": 1})) == ['"EventID": 1']


def test_hostile_text_is_kept_as_text_for_the_template_to_escape():
    lines = json_lines({"<b>key</b>": "<script>alert(1)</script>"}, {"<b>key</b>": "x"})
    assert lines[1].key == '"<b>key</b>"' and lines[1].text == '"<script>alert(1)</script>"' and lines[1].hit


def test_a_huge_record_is_cut_with_the_count_of_lines_left_out():
    lines = json_lines({f"k{i:04d}": i for i in range(100)}, max_lines=10)
    assert len(lines) == 11 and lines[-1].text == "… 92 more lines not shown"
