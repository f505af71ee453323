"""Indicator list import: CSV and STIX 2.1, bad lines reported, malformed files refused whole."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from detections.models import Indicator, IndicatorList
from detections.services.indicators import (
    IndicatorImportError,
    import_indicators_csv,
    import_indicators_stix,
)

pytestmark = pytest.mark.django_db


def stored(name: str) -> set[tuple[str, str]]:
    return set(Indicator.objects.filter(indicator_list__name=name).values_list("kind", "value"))


def test_csv_with_header_stores_good_rows_and_reports_bad_lines_by_number():
    text = (
        "type,value,description\n"
        "ip,203.0.113.66,c2 server\n"
        "cidr,198.51.100.0/24,bulletproof hosting\n"
        "ip,999.1.1.1,typo\n"
        "domain,Evil.Example.,phishing\n"
        "hash,d41d8cd98f00b204e9800998ecf8427e,not ours\n"
        "ipv6,2001:db8::bad,\n"
    )

    result = import_indicators_csv(name="feed", text=text, source="feed.csv")

    assert stored("feed") == {
        ("ip", "203.0.113.66"),
        ("cidr", "198.51.100.0/24"),
        ("domain", "evil.example"),
        ("ip", "2001:db8::bad"),
    }
    assert [e["line"] for e in result.errors] == [4, 6]
    assert "999.1.1.1" in result.errors[0]["reason"] and "unknown type" in result.errors[1]["reason"]
    assert (result.created, result.updated) == (4, 0)
    assert IndicatorList.objects.get(name="feed").source == "feed.csv"


def test_csv_of_bare_values_infers_each_type():
    result = import_indicators_csv(
        name="bare", text="# blocklist\n192.0.2.1\n10.9.0.0/16\n2001:db8:bad::/48\nbad.example\n192.0.2.7/32\n"
    )

    assert result.errors == []
    assert stored("bare") == {
        ("ip", "192.0.2.1"),
        ("cidr", "10.9.0.0/16"),
        ("cidr", "2001:db8:bad::/48"),
        ("domain", "bad.example"),
        ("ip", "192.0.2.7"),
    }


def test_reimporting_updates_descriptions_without_duplicating():
    import_indicators_csv(name="feed", text="type,value,description\nip,203.0.113.66,old\n")

    again = import_indicators_csv(
        name="feed", text="type,value,description\nip,203.0.113.66,new\ndomain,evil.example,\n"
    )

    assert (again.created, again.updated) == (1, 1)
    assert Indicator.objects.filter(indicator_list__name="feed").count() == 2
    assert Indicator.objects.get(value="203.0.113.66").description == "new"


@pytest.mark.parametrize(
    "header", ["type,indicator_value,description", "type,description", "value,value", "ioc,comment"]
)
def test_a_malformed_header_stores_nothing(header):
    with pytest.raises(IndicatorImportError, match="line 1: malformed header"):
        import_indicators_csv(name="broken", text=f"{header}\nip,203.0.113.66,c2\n")

    assert not IndicatorList.objects.filter(name="broken").exists()
    assert not Indicator.objects.exists()


BUNDLE = {
    "type": "bundle",
    "id": "bundle--6f2b1a5e-4d7c-4c6a-9a59-0b0b2d1c0001",
    "objects": [
        {"type": "identity", "id": "identity--1", "name": "CERT"},
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--a",
            "name": "C2 server",
            "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '203.0.113.66']",
        },
        {
            "type": "indicator",
            "id": "indicator--b",
            "name": "Phishing",
            "pattern_type": "stix",
            "pattern": "[domain-name:value = 'evil.example'] OR [domain-name:value = 'login-evil.example']",
        },
        {
            "type": "indicator",
            "id": "indicator--c",
            "pattern_type": "stix",
            "pattern": "[ipv4-addr:value ISSUBSET '198.51.100.0/24' OR ipv6-addr:value = '2001:db8:bad::/48']",
        },
        {
            "type": "indicator",
            "id": "indicator--d",
            "pattern_type": "stix",
            "pattern": "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
        },
        {"type": "indicator", "id": "indicator--e", "pattern_type": "sigma", "pattern": "title: x"},
        {"type": "indicator", "id": "indicator--f", "revoked": True, "pattern": "[ipv4-addr:value = '192.0.2.99']"},
        {"type": "malware", "id": "malware--1", "name": "implant"},
    ],
}


def test_stix_bundle_indicators_become_ips_networks_and_domains():
    result = import_indicators_stix(name="stix-feed", bundle_text=json.dumps(BUNDLE))

    assert stored("stix-feed") == {
        ("ip", "203.0.113.66"),
        ("domain", "evil.example"),
        ("domain", "login-evil.example"),
        ("cidr", "198.51.100.0/24"),
        ("cidr", "2001:db8:bad::/48"),
    }
    assert [e["object"] for e in result.errors] == ["indicator--d", "indicator--e"]
    assert Indicator.objects.get(value="203.0.113.66").description == "C2 server"

    again = import_indicators_stix(name="stix-feed", bundle_text=json.dumps(BUNDLE))
    assert (again.created, again.updated) == (0, 0)


def test_stix_that_is_not_json_stores_nothing():
    with pytest.raises(IndicatorImportError, match="not JSON"):
        import_indicators_stix(name="stix-feed", bundle_text="{not json")
    assert not IndicatorList.objects.exists()


def test_import_indicators_command_picks_the_format_from_the_file(tmp_path, capsys):
    csv_file = tmp_path / "block.csv"
    csv_file.write_text("value\n203.0.113.66\nnot an indicator!\n")
    stix_file = tmp_path / "bundle.json"
    stix_file.write_text(json.dumps(BUNDLE))

    call_command("import_indicators", "blocklist", str(csv_file))
    call_command("import_indicators", "stix-feed", str(stix_file))

    out, err = capsys.readouterr()
    assert "blocklist: 1 new, 0 updated, 1 rejected" in out
    assert "line 3" in err
    assert stored("stix-feed") and stored("blocklist") == {("ip", "203.0.113.66")}
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_indicators", "other", str(csv_file), "--format", "stix")
