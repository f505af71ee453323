"""The engine's Sigma value semantics, one behaviour per test (no database)."""

import textwrap
import time

import polars as pl
import pytest

from detections.engine import compile_rules
from detections.engine.hunt import hunt


def rule(detection: str, *, title: str = "t", rule_id: str | None = None, logsource: str = "product: linux") -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip(), "    ")
    ident = f"id: {rule_id}\n" if rule_id else ""
    return f"title: {title}\n{ident}status: test\nlogsource:\n    {logsource}\ndetection:\n{body}\nlevel: high\n"


def rows_matched(detection: str, events) -> list[int]:
    ruleset = compile_rules([rule(detection)])
    assert not ruleset.errors, ruleset.errors
    return [row for _, row in ruleset.match(events)]


def test_plain_equality_ignores_case_and_matches_whole_value():
    events = [{"Image": "/usr/bin/CURL"}, {"Image": "/usr/bin/curl2"}, {"Image": None}, {}]
    assert rows_matched("sel:\n  Image: /usr/bin/curl\ncondition: sel", events) == [0]


def test_wildcards_and_escaped_wildcards():
    events = [{"A": "x*y"}, {"A": "xzzy"}, {"A": "xy"}, {"A": "x?y"}, {"A": "xqy"}]
    assert rows_matched("sel:\n  A: 'x*y'\ncondition: sel", events) == [0, 1, 2, 3, 4]
    assert rows_matched("sel:\n  A: 'x\\*y'\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  A: 'x?y'\ncondition: sel", events) == [0, 3, 4]
    assert rows_matched("sel:\n  A: 'x\\?y'\ncondition: sel", events) == [3]


def test_backslashes_stay_literal():
    events = [{"Image": "C:\\Windows\\System32\\cmd.exe"}, {"Image": "C:/Windows/System32/cmd.exe"}]
    assert rows_matched("sel:\n  Image|endswith: '\\System32\\cmd.exe'\ncondition: sel", events) == [0]


def test_contains_startswith_endswith_ignore_case():
    events = [{"C": "Foo BAR baz"}, {"C": "bar"}, {"C": "nothing"}]
    assert rows_matched("sel:\n  C|contains: bar\ncondition: sel", events) == [0, 1]
    assert rows_matched("sel:\n  C|startswith: FOO\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  C|endswith: BAZ\ncondition: sel", events) == [0]


def test_list_is_or_and_all_is_and():
    events = [{"C": "alpha beta"}, {"C": "alpha"}, {"C": "gamma"}]
    assert rows_matched("sel:\n  C|contains:\n    - beta\n    - gamma\ncondition: sel", events) == [0, 2]
    assert rows_matched("sel:\n  C|contains|all:\n    - alpha\n    - beta\ncondition: sel", events) == [0]


def test_regex_is_case_sensitive_unless_i_flag():
    events = [{"C": "Hello World"}, {"C": "hello world"}]
    assert rows_matched("sel:\n  C|re: '^Hello'\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  C|re|i: '^hello'\ncondition: sel", events) == [0, 1]


def test_regex_multiline_and_dotall_flags():
    events = [{"C": "first\nsecond"}]
    assert rows_matched("sel:\n  C|re: '^second'\ncondition: sel", events) == []
    assert rows_matched("sel:\n  C|re|m: '^second'\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  C|re: 'first.second'\ncondition: sel", events) == []
    assert rows_matched("sel:\n  C|re|s: 'first.second'\ncondition: sel", events) == [0]


def test_cased_is_case_sensitive():
    events = [{"C": "Secret"}, {"C": "secret"}]
    assert rows_matched("sel:\n  C|cased: Secret\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  C|contains|cased: cre\ncondition: sel", events) == [0, 1]
    assert rows_matched("sel:\n  C|startswith|cased: S\ncondition: sel", events) == [0]


def test_cidr_ipv4_and_ipv6():
    events = [{"ip": "10.1.2.3"}, {"ip": "11.0.0.1"}, {"ip": "fe80::1"}, {"ip": "2001:db8::1"}, {"ip": "not-an-ip"}]
    assert rows_matched("sel:\n  ip|cidr: 10.0.0.0/8\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  ip|cidr:\n    - fe80::/10\n    - 10.0.0.0/8\ncondition: sel", events) == [0, 2]


def test_base64_and_base64offset():
    import base64

    encoded = base64.b64encode(b"xx/bin/bash -i yy").decode()
    events = [{"C": f"echo {encoded} | base64 -d"}, {"C": "echo plain"}]
    assert rows_matched("sel:\n  C|base64offset|contains: '/bin/bash -i'\ncondition: sel", events) == [0]
    whole = base64.b64encode(b"whoami").decode()
    assert rows_matched("sel:\n  C|base64: whoami\ncondition: sel", [{"C": whole}, {"C": "whoami"}]) == [0]


def test_windash_matches_dash_and_slash_forms():
    events = [{"C": "net user -add"}, {"C": "net user /add"}, {"C": "net user add"}]
    assert rows_matched("sel:\n  C|windash|contains: ' -add'\ncondition: sel", events) == [0, 1]


def test_wide_base64_matches_utf16le_encoding():
    import base64

    encoded = base64.b64encode("Invoke-Thing".encode("utf-16le")).decode()
    events = [{"C": f"powershell -enc {encoded}"}, {"C": "Invoke-Thing"}]
    assert rows_matched("sel:\n  C|wide|base64offset|contains: 'Invoke-Thing'\ncondition: sel", events) == [0]


def test_null_matches_missing_and_null_but_not_empty():
    events = [{"A": None}, {}, {"A": ""}, {"A": "x"}]
    assert rows_matched("sel:\n  A: null\ncondition: sel", events) == [0, 1]
    assert rows_matched("sel:\n  A: ''\ncondition: sel", events) == [2]


def test_exists_true_and_false():
    events = [{"A": "x"}, {"B": "y"}, {"A": ""}]
    assert rows_matched("sel:\n  A|exists: true\ncondition: sel", events) == [0, 2]
    assert rows_matched("sel:\n  A|exists: false\ncondition: sel", events) == [1]


def test_numeric_comparisons_cast_strings_to_numbers():
    events = [{"n": 5}, {"n": "12"}, {"n": "abc"}, {"n": 10.5}, {}]
    assert rows_matched("sel:\n  n|gt: 9\ncondition: sel", events) == [1, 3]
    assert rows_matched("sel:\n  n|lte: 5\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  n|gte: 12\ncondition: sel", events) == [1]
    assert rows_matched("sel:\n  n|lt: 11\ncondition: sel", events) == [0, 3]


def test_number_equality_and_number_as_text():
    events = [{"EventID": 1}, {"EventID": 2}]
    assert rows_matched("sel:\n  EventID: 1\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  EventID: '2'\ncondition: sel", events) == [1]


def test_boolean_values_match_json_booleans_and_their_text():
    events = [{"privileged": True}, {"privileged": False}]
    assert rows_matched("sel:\n  privileged: true\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  privileged: 'true'\ncondition: sel", [{"privileged": "TRUE"}]) == [0]


def test_fieldref_compares_two_fields():
    events = [{"a": "Root", "b": "root"}, {"a": "x", "b": "y"}, {"a": "prefix-x", "b": "prefix"}]
    assert rows_matched("sel:\n  a|fieldref: b\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  a|fieldref|startswith: b\ncondition: sel", events) == [0, 2]


def test_keywords_search_every_string_value():
    events = [{"A": "nothing", "B": "here is EVIL stuff"}, {"A": "clean"}, {"n": 7}]
    detection = "keywords:\n  - evil\n  - 'sp?cial'\ncondition: keywords"
    assert rows_matched(detection, events) == [0]


def test_keywords_all_need_every_value():
    events = [{"A": "one two"}, {"A": "one"}]
    assert rows_matched("keywords:\n  '|all':\n    - one\n    - two\ncondition: keywords", events) == [0]


def test_not_of_a_condition_on_a_missing_field_is_true():
    events = [{"Image": "/bin/sh"}, {"Image": "/bin/sh", "User": "root"}]
    detection = "sel:\n  Image: /bin/sh\nfilter:\n  User: root\ncondition: sel and not filter"
    assert rows_matched(detection, events) == [0]


def test_one_of_and_all_of_selections_and_them():
    events = [{"A": "1"}, {"B": "2"}, {"A": "1", "B": "2"}]
    base = "sel_a:\n  A: '1'\nsel_b:\n  B: '2'\n"
    assert rows_matched(base + "condition: 1 of sel_*", events) == [0, 1, 2]
    assert rows_matched(base + "condition: all of sel_*", events) == [2]
    assert rows_matched(base + "condition: 1 of them", events) == [0, 1, 2]
    assert rows_matched(base + "condition: all of them", events) == [2]
    assert rows_matched(base + "condition: sel_a and not (sel_b)", events) == [0]


def test_neq_modifier_negates_a_value():
    events = [{"A": "x"}, {"A": "y"}]
    assert rows_matched("sel:\n  A|neq: x\ncondition: sel", events) == [1]


def test_dotted_fields_read_nested_objects():
    events = [{"objectRef": {"resource": "pods", "subresource": "exec"}}, {"objectRef": {"resource": "pods"}}]
    assert rows_matched("sel:\n  objectRef.subresource: exec\ncondition: sel", events) == [0]


def test_list_values_match_when_any_element_matches():
    events = [{"sourceIPs": ["10.0.0.1", "8.8.8.8"]}, {"sourceIPs": ["1.1.1.1"]}]
    assert rows_matched("sel:\n  sourceIPs: 8.8.8.8\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  sourceIPs|cidr: 10.0.0.0/8\ncondition: sel", events) == [0]


def test_field_mapping_renames_sigma_fields_to_columns():
    ruleset = compile_rules(
        [rule("sel:\n  Image|endswith: /nc\ncondition: sel")], field_mapping={"Image": "process_image"}
    )
    assert ruleset.match([{"process_image": "/usr/bin/nc"}, {"Image": "/usr/bin/nc"}]) == [("t", 0)]


def test_polars_frame_input_and_match_by_rule():
    frame = pl.DataFrame({"Image": ["/bin/a", "/bin/b", "/bin/a"]})
    ruleset = compile_rules(
        [rule("sel:\n  Image: /bin/a\ncondition: sel", rule_id="0e0b8a7c-6d9a-4a43-9f0f-2a1c1b3a4d5e")]
    )
    assert ruleset.match_by_rule(frame) == {"0e0b8a7c-6d9a-4a43-9f0f-2a1c1b3a4d5e": [0, 2]}


def test_a_broken_rule_is_reported_and_the_others_still_match():
    good = rule("sel:\n  A: x\ncondition: sel", title="good")
    broken = rule("sel:\n  A: x\ncondition: sel and missing", title="broken")
    not_yaml = "title: [unclosed\n"
    ruleset = compile_rules([good, broken, not_yaml])
    assert [r.title for r in ruleset.rules] == ["good"]
    assert {e.title for e in ruleset.errors} >= {"broken"}
    assert len(ruleset.errors) == 2
    assert ruleset.match([{"A": "x"}]) == [("good", 0)]


def test_redos_regex_runs_in_linear_time_or_is_rejected():
    ruleset = compile_rules([rule("sel:\n  C|re: '(a+)+$'\ncondition: sel")])
    events = [{"C": "a" * 5000 + "!"}] * 200
    started = time.perf_counter()
    matched = ruleset.match(events) if ruleset.rules else []
    assert time.perf_counter() - started < 2
    assert matched == [] or not ruleset.rules


def test_a_catastrophic_backtracking_regex_is_accepted_and_harmless():
    # Not refused, and need not be: regexes run on Rust `regex` (polars), linear in the input,
    # where Python's re would backtrack for ages on each of these values.
    ruleset = compile_rules([rule("sel:\n  C|re: '^(a+)+$'\ncondition: sel")])
    assert ruleset.errors == [] and len(ruleset.rules) == 1
    events = [{"C": "a" * 20_000 + "!"}] * 200 + [{"C": "aaaa"}]
    started = time.perf_counter()
    matched = ruleset.match(events)
    assert time.perf_counter() - started < 2
    assert [row for _, row in matched] == [200]


@pytest.mark.parametrize(
    "pattern, reason",
    [
        ("\\w{1000}" * 20, "exceeds size limit"),  # small text, a compiled program over 10 MB
        ("a{1000}{1000}", "bad repetition operator"),  # RE2 (pySigma's check) refuses it first
        ("x" * 4097, "longer than 4096 characters"),
    ],
    ids=["compiled-size", "nested-repetition", "length"],
)
def test_a_regex_too_big_to_run_is_a_rule_error_saying_why(pattern, reason):
    started = time.perf_counter()
    ruleset = compile_rules([rule(f"sel:\n  C|re: '{pattern}'\ncondition: sel")])
    assert time.perf_counter() - started < 2
    assert ruleset.rules == []
    assert reason in ruleset.errors[0].message


def test_regex_the_engine_cannot_run_is_a_rule_error_naming_the_rule():
    from sigma.collection import SigmaCollection
    from sigma.policy.profiles import TrustedPolicy

    text = rule("sel:\n  C|re: '(a)\\1'\ncondition: sel", title="backref")
    parsed = SigmaCollection.from_yaml(text, policy=TrustedPolicy).rules  # Python re accepts it
    ruleset = compile_rules(parsed)
    assert ruleset.rules == []
    assert ruleset.errors[0].title == "backref"


def test_correlation_documents_are_returned_parsed_not_compiled():
    base = rule("sel:\n  A: x\ncondition: sel", title="base").replace("title: base\n", "title: base\nname: base_rule\n")
    correlation = textwrap.dedent(
        """
        title: many
        correlation:
            type: event_count
            rules:
                - base_rule
            group-by:
                - User
            timespan: 5m
            condition:
                gte: 3
        """
    )
    ruleset = compile_rules([base + "---\n" + correlation])
    assert [r.title for r in ruleset.rules] == ["base"]
    assert [c.title for c in ruleset.correlations] == ["many"]
    assert not ruleset.errors


def test_logsource_routing_runs_only_compatible_rules():
    linux = rule("sel:\n  A: x\ncondition: sel", title="linux", logsource="product: linux")
    windows = rule("sel:\n  A: x\ncondition: sel", title="windows", logsource="product: windows")
    ruleset = compile_rules([linux, windows])
    events = [{"A": "x"}]
    assert ruleset.match(events, logsource=("linux", "process_creation", None)) == [("linux", 0)]
    assert ruleset.match(events) == [("linux", 0), ("windows", 0)]
    routed = [
        {"A": "x", "logsource_product": "Windows"},
        {"A": "x", "logsource_product": "linux"},
        {"A": "x"},  # no logsource: every rule may match
    ]
    assert ruleset.match(routed, route_by_logsource=True) == [
        ("windows", 0),
        ("linux", 1),
        ("linux", 2),
        ("windows", 2),
    ]


def test_unresolved_expand_placeholder_is_a_rule_error():
    ruleset = compile_rules([rule("sel:\n  A|expand: '%admins%'\ncondition: sel", title="expand")])
    assert ruleset.rules == [] and ruleset.errors[0].title == "expand"


def test_hunt_reads_rule_directories_and_counts_events_across_batches(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "r.yml").write_text(rule("sel:\n  A: x\ncondition: sel", title="hunted"))
    events = ({"A": "x" if i % 3 == 0 else "y"} for i in range(10))
    found = list(hunt([tmp_path], events, batch_size=4))
    assert [m["event_index"] for m in found] == [0, 3, 6, 9]
    assert found[0] == {"rule_id": "hunted", "rule_title": "hunted", "event_index": 0, "level": "high"}


@pytest.mark.parametrize("value", ["a", "A"])
def test_mixed_type_column_treats_strings_as_strings(value):
    events = [{"A": value}, {"A": 3}, {"A": True}]
    assert rows_matched("sel:\n  A: a\ncondition: sel", events) == [0]


def test_paths_through_lists_of_objects_match_any_item():
    events = [
        {
            "spec": {
                "containers": [{"securityContext": {"privileged": False}}, {"securityContext": {"privileged": True}}]
            }
        },
        {"spec": {"containers": [{"securityContext": {"privileged": False}}]}},
    ]
    assert rows_matched("sel:\n  spec.containers.securityContext.privileged: true\ncondition: sel", events) == [0]


def test_processing_pipeline_maps_fields_before_compiling():
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldMappingTransformation

    pipeline = ProcessingPipeline(
        items=[ProcessingItem(identifier="map", transformation=FieldMappingTransformation({"Image": "process_image"}))]
    )
    ruleset = compile_rules([rule("sel:\n  Image|endswith: /nc\ncondition: sel")], pipeline=pipeline)
    assert ruleset.match([{"process_image": "/usr/bin/nc"}, {"Image": "/usr/bin/nc"}]) == [("t", 0)]


def test_dataframe_and_dict_inputs_agree_on_nested_and_typed_values():
    events = [{"a": {"b": "X"}, "n": 3}, {"a": {"b": "y"}, "n": 30}]
    ruleset = compile_rules([rule("sel:\n  a.b: x\n  n|lt: 10\ncondition: sel")])
    assert ruleset.match(events) == ruleset.match(pl.DataFrame(events)) == [("t", 0)]


def test_timestamp_parts_read_iso_times_in_utc():
    events = [
        {"t": "2024-03-05T10:20:30Z"},
        {"t": "2024-03-05 11:20:30"},
        {"t": "2024-03-05T12:20:30+02:00"},
        {"t": "x"},
    ]
    assert rows_matched("sel:\n  t|hour: 10\ncondition: sel", events) == [0, 2]
    assert rows_matched("sel:\n  t|minute: 20\ncondition: sel", events) == [0, 1, 2]
    frame = pl.DataFrame({"t": pl.Series(["2024-03-05T10:20:30"]).str.to_datetime()})
    ruleset = compile_rules([rule("sel:\n  t|month: 3\ncondition: sel")])
    assert ruleset.match(frame) == [("t", 0)]


def test_utf16_encodings_with_base64offset():
    import base64

    le = base64.b64encode("whoami".encode("utf-16le")).decode()
    be = base64.b64encode("whoami".encode("utf-16be")).decode()
    events = [{"C": le}, {"C": be}]
    assert rows_matched("sel:\n  C|utf16le|base64offset|contains: whoami\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  C|utf16be|base64offset|contains: whoami\ncondition: sel", events) == [1]


def test_expand_placeholders_resolved_by_a_pipeline():
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import ValueListPlaceholderTransformation

    pipeline = ProcessingPipeline(
        items=[ProcessingItem(identifier="admins", transformation=ValueListPlaceholderTransformation())],
        vars={"admins": ["alice", "bob"]},
    )
    ruleset = compile_rules([rule("sel:\n  User|expand: '%admins%'\ncondition: sel")], pipeline=pipeline)
    assert not ruleset.errors
    assert [row for _, row in ruleset.match([{"User": "Bob"}, {"User": "eve"}])] == [0]


def test_case_insensitive_regex_prefilter_keeps_unicode_case_folds():
    # (?i) lets `s` match LONG S and `k` match KELVIN SIGN; the literal prefilter must not drop them.
    events = [{"C": "POWER\u017fHELL -enc"}, {"C": "\u212aill"}, {"C": "other"}]
    assert rows_matched("sel:\n  C|re|i: 'powershell -enc'\ncondition: sel", events) == [0]
    assert rows_matched("sel:\n  C|re|i: '^kill'\ncondition: sel", events) == [1]


def test_regex_literal_prefilter_still_matches_alternations():
    events = [{"C": "run abc now"}, {"C": "run defg now"}, {"C": "nothing"}] * 50
    assert rows_matched("sel:\n  C|re: 'abc|defg'\ncondition: sel", events) == [i for i in range(150) if i % 3 != 2]
