"""JSON records decode to exactly what the standard json module reads, whichever decoder runs.

The parsers decode single-line records with orjson for speed and fall back to json
where the two differ (integers past 64 bits, lone surrogates, every error; 1e400 is kept as text),
so stored raw records, and therefore fingerprints, do not depend on the decoder.
No database: parsers are pure.
"""

from __future__ import annotations

import io
import json

import pytest

from telemetry.parsers import ParsedRecord, RecordError, get_parser
from telemetry.parsers.base import MAX_NESTING


def decode(line: str) -> list[ParsedRecord | RecordError]:
    return list(get_parser("generic_json", field_map={"time": "ts"}).parse_stream(io.BytesIO(line.encode() + b"\n")))


@pytest.mark.parametrize(
    "line",
    [
        '{"ts": 1735689600, "n": 18446744073709551616}',  # 2**64: orjson would read a float
        '{"ts": 1735689600, "n": -9223372036854775809}',  # below -2**63, 19 digits
        '{"ts": 1735689600, "n": 18446744073709551615, "m": -9223372036854775808}',  # the edges
        '{"ts": 1735689600, "n": 123456789012345678901234567890}',
        '{"ts": 1735689600, "nanos": 1735689600123456789}',
        '{"ts": 1735689600, "a": 1, "b": 2, "a": 3}',  # duplicate keys: the last one wins
        '{"ts": 1735689600, "s": "\\ud800"}',  # a lone surrogate escape
        '{"ts": 1735689600, "f": 0.1, "g": -0.0, "h": 1E2}',
    ],
)
def test_records_decode_to_what_json_reads(line):
    (item,) = decode(line)
    assert isinstance(item, ParsedRecord)
    expected = json.loads(line)
    assert item.event["raw"] == expected
    assert {k: type(v) for k, v in item.event["raw"].items()} == {k: type(v) for k, v in expected.items()}


def test_numbers_past_a_double_are_kept_as_their_text_whichever_decoder_runs():
    # json reads 1e400 as inf, which JSON cannot store back: the producer's text is kept instead.
    (single,) = decode('{"ts": 1735689600, "f": 1e400, "g": -1e999, "h": 1.5}')
    (long_int,) = decode('{"ts": 1735689600, "f": 1e400, "n": 18446744073709551616}')
    assert single.event["raw"] == {"ts": 1735689600, "f": "1e400", "g": "-1e999", "h": 1.5}
    assert long_int.event["raw"] == {"ts": 1735689600, "f": "1e400", "n": 2**64}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"ts": 1735689600, "f": NaN}', "invalid JSON: NaN is not valid JSON"),
        ('{"ts": 1735689600, "n": 01}', "invalid JSON: Expecting ',' delimiter (column 26)"),
        ('{"ts": 1735689600, "s": "a\tb"}', "invalid JSON: Invalid control character at (column 27)"),
    ],
)
def test_invalid_records_are_rejected_with_jsons_messages(line, reason):
    (item,) = decode(line)
    assert isinstance(item, RecordError)
    assert (item.line, item.reason) == (1, reason)


def test_nesting_is_limited_however_few_other_brackets_the_line_has():
    def nested(depth: int) -> str:
        return '{"ts": 1735689600, "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    (at_limit,) = decode(nested(MAX_NESTING))
    (past_limit,) = decode(nested(MAX_NESTING + 1))
    assert isinstance(at_limit, ParsedRecord)
    assert isinstance(past_limit, RecordError) and past_limit.reason == f"JSON nested deeper than {MAX_NESTING} levels"
