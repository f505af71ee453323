"""Analytics: each behaviour on suspicious data and on the benign look-alike it must leave alone.

Events are written straight into the database (bulk_create), shaped as the Zeek conn
and cAdvisor parsers store them, so these tests exercise the analytics and the
scheduler, not the parsers.
"""

import math
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.utils import timezone

from detections.models import AnalyticState, DetectionRule, DetectionRun, IndicatorList, RuleMatch
from detections.services.analytics import ANALYTICS, run_due_analytics, validate_parameters
from detections.services.indicators import import_indicators_csv
from telemetry.models import Event, IngestBatch, Source

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # on an hour boundary: one analytic window
_fingerprints = count()


@pytest.fixture
def zeek(db) -> Source:
    return Source.objects.create(name="zeek-sensor", format=Source.Format.ZEEK_CONN)


@pytest.fixture
def cadvisor(db) -> Source:
    return Source.objects.create(name="cadvisor", format=Source.Format.CONTAINER_METRICS)


def store(source: Source, rows: list[dict]) -> list[Event]:
    batch = IngestBatch.objects.create(source=source, channel=IngestBatch.Channel.CLI, accepted=len(rows))
    return Event.objects.bulk_create(
        [Event(source=source, batch=batch, fingerprint=f"fp{next(_fingerprints)}", raw={}, **row) for row in rows]
    )


def flow(at: datetime, src: str, dst: str, dst_port: int = 80, *, answered: bool, **extra) -> dict:
    return {
        "time": at,
        "kind": "network",
        "src_ip": src,
        "src_port": 40000 + int(at.timestamp()) % 20000,
        "dst_ip": dst,
        "dst_port": dst_port,
        "protocol": "tcp",
        "action": "SF" if answered else "S0",
        "bytes_out": 120 if answered else 0,
        "bytes_in": 840 if answered else 0,
        "packets_out": 4 if answered else 2,
        "packets_in": 4 if answered else 0,
        **extra,
    }


def analytic(analytic_type: str, **parameters) -> DetectionRule:
    return DetectionRule.objects.create(
        title=analytic_type.replace("_", " "),
        rule_uid=f"analytic-{analytic_type}-{len(parameters)}-{next(_fingerprints)}",
        kind=DetectionRule.Kind.ANALYTIC,
        analytic_type=analytic_type,
        parameters=parameters,
    )


def evaluate(rule: DetectionRule, start: datetime = T0, end: datetime = T0 + timedelta(hours=1)):
    return ANALYTICS[rule.analytic_type](rule, start, end)


# --------------------------------------------------------------------------- one-way communication


def beacon(src: str, dst: str, *, every_s: int = 60, jitter_s: tuple = (0, 2, -1, 1, 0, -2, 1, 0), **kw) -> list[dict]:
    """The ADS's emulation: `docker run -p 9999:80 alpine` sending periodic HTTP requests nobody answers."""
    return [
        flow(T0 + timedelta(minutes=5, seconds=i * every_s + j), src, dst, answered=False, **kw)
        for i, j in enumerate(jitter_s)
    ]


def test_periodic_unanswered_requests_from_a_container_are_one_way_communication(zeek):
    store(zeek, beacon("172.17.0.2", "203.0.113.10"))
    # The telemetry agent next to it talks to the internet just as regularly, and gets answers.
    store(
        zeek,
        [
            flow(T0 + timedelta(seconds=30 + 60 * i), "172.17.0.3", "198.51.100.20", 443, answered=True)
            for i in range(10)
        ],
    )

    matches = evaluate(analytic("one_way_communication"))

    assert len(matches) == 1
    match = matches[0]
    assert (match.entity_type, match.entity) == ("ip", "172.17.0.2")
    assert match.fields["dst_ip"] == "203.0.113.10" and match.fields["dst_port"] == 80
    assert match.fields["connections"] == 8
    assert 59 <= match.fields["mean_interval_s"] <= 61 and match.fields["cv"] <= 0.35
    assert len(match.evidence_event_ids) == 8


def test_a_flow_naming_the_container_makes_it_the_entity(zeek):
    store(zeek, beacon("172.17.0.2", "203.0.113.10", container_id="a1b2c3d4e5f6", container_name="test_container"))

    [match] = evaluate(analytic("one_way_communication"))

    assert (match.entity_type, match.entity) == ("container", "a1b2c3d4e5f6")


def test_a_telemetry_agent_with_request_and_response_is_not_one_way(zeek):
    store(
        zeek,
        [flow(T0 + timedelta(seconds=60 * i), "10.42.0.7", "198.51.100.20", 443, answered=True) for i in range(30)],
    )

    assert evaluate(analytic("one_way_communication")) == []


def test_inbound_traffic_from_the_destination_makes_the_pair_two_way(zeek):
    store(zeek, beacon("172.17.0.2", "203.0.113.10"))
    store(zeek, [flow(T0 + timedelta(minutes=20), "203.0.113.10", "172.17.0.2", 9999, answered=True)])

    assert evaluate(analytic("one_way_communication")) == []


def test_irregular_or_too_few_unanswered_connections_are_not_beaconing(zeek):
    irregular = [5, 300, 320, 1100, 1140, 2400, 2405, 3000]
    store(zeek, [flow(T0 + timedelta(seconds=s), "172.17.0.4", "203.0.113.11", answered=False) for s in irregular])
    store(zeek, beacon("172.17.0.5", "203.0.113.12", jitter_s=(0, 0, 0, 0)))  # four: under min_connections

    assert evaluate(analytic("one_way_communication")) == []
    assert len(evaluate(analytic("one_way_communication", min_connections=4, max_interval_cv=2.0))) == 2


@pytest.mark.parametrize(
    ("bytes_in", "packets_in", "conn_state"),
    [
        (0, 2, "RSTO"),  # the strategy's lab step: `nc -lk` accepts, ACKs and never writes; curl gives up
        (0, 3, "SF"),  # a listener that accepts, reads and closes without a byte of reply
        (None, None, "S0"),  # SYN, nothing back (payload bytes unset)
        (None, 1, "REJ"),  # refused with a RST: no payload either
    ],
)
def test_connections_whose_responder_sends_no_payload_are_unanswered_whatever_its_packets(
    zeek, bytes_in, packets_in, conn_state
):
    store(
        zeek,
        beacon(
            "172.17.0.5", "198.51.100.90", dst_port=8080, bytes_in=bytes_in, packets_in=packets_in, action=conn_state
        ),
    )

    [match] = evaluate(analytic("one_way_communication"))

    assert (match.entity, match.fields["dst_ip"], match.fields["connections"]) == ("172.17.0.5", "198.51.100.90", 8)


@pytest.mark.parametrize(
    ("bytes_in", "packets_in", "conn_state"),
    [
        (150, 3, "SF"),  # a partner endpoint answering `204 No Content`: headers are response payload
        (3921, 5, "SF"),  # the same over TLS
        (None, 3, "SF"),  # payload unknown on an established connection: not judged unanswered
        (None, None, ""),  # a connect event (Sysmon 3) says nothing about an answer
    ],
)
def test_connections_whose_responder_sent_payload_or_may_have_are_answered(zeek, bytes_in, packets_in, conn_state):
    store(
        zeek,
        beacon("172.17.0.14", "192.0.2.60", dst_port=443, bytes_in=bytes_in, packets_in=packets_in, action=conn_state),
    )

    assert evaluate(analytic("one_way_communication")) == []


# --------------------------------------------------------------------------- ICMP tunnel


def icmp(at: datetime, src: str, dst: str, *, icmp_type: int = 8, pkts=(1, 1), payload=(56, 56)) -> dict:
    return {
        "time": at,
        "kind": "network",
        "src_ip": src,
        "dst_ip": dst,
        "protocol": "icmp",
        "icmp_type": icmp_type,
        "packets_out": pkts[0],
        "packets_in": pkts[1],
        "bytes_out": payload[0] * pkts[0],
        "bytes_in": payload[1] * pkts[1],
    }


def test_ping_with_standard_payloads_at_normal_rates_is_not_a_tunnel(zeek):
    # Zeek's view of `ping -c 4` (one flow, 56-byte payloads), a health check pinging every 10 s,
    # and a continuous ping at one packet a second logged per packet, echo replies as their own records.
    store(zeek, [icmp(T0 + timedelta(seconds=5), "172.17.0.5", "8.8.8.8", pkts=(4, 4))])
    store(zeek, [icmp(T0 + timedelta(seconds=10 * i), "10.0.0.8", "10.0.0.1") for i in range(360)])
    per_packet = []
    for second in range(600):
        at = T0 + timedelta(seconds=second)
        per_packet.append(icmp(at, "172.17.0.6", "1.1.1.1", pkts=(1, 0), payload=(56, 0)))
        per_packet.append(icmp(at, "1.1.1.1", "172.17.0.6", icmp_type=0, pkts=(1, 0), payload=(56, 0)))
    store(zeek, per_packet)
    # Windows ping: 32 bytes.
    store(zeek, [icmp(T0 + timedelta(seconds=30), "10.0.0.9", "10.0.0.1", pkts=(4, 4), payload=(32, 32))])

    assert evaluate(analytic("icmp_tunnel")) == []


def test_echo_requests_carrying_large_varying_payloads_are_a_tunnel(zeek):
    sizes = [420, 1100, 870, 1300, 260, 990, 1210, 640]
    store(
        zeek,
        [
            icmp(T0 + timedelta(seconds=2 * i), "172.17.0.9", "198.51.100.99", payload=(s, s))
            for i, s in enumerate(sizes)
        ],
    )

    [match] = evaluate(analytic("icmp_tunnel"))

    assert (match.entity_type, match.entity) == ("ip", "172.17.0.9")
    assert match.fields["dst_ip"] == "198.51.100.99"
    assert {"large_payload", "varying_payload"} <= set(match.fields["reasons"])


def test_ping_sized_packets_in_bulk_are_a_tunnel_by_volume(zeek):
    store(zeek, [icmp(T0 + timedelta(seconds=1), "172.17.0.9", "198.51.100.98", pkts=(400, 400))])

    [match] = evaluate(analytic("icmp_tunnel"))

    assert "high_packets" in match.fields["reasons"] and "large_payload" not in match.fields["reasons"]
    assert match.fields["packets"] == 400


def shipped_parameters(name: str) -> dict:
    path = Path(settings.BASE_DIR) / "detections" / "library" / "analytics" / name
    return yaml.safe_load(path.read_text())["parameters"]


def test_the_shipped_icmp_analytic_leaves_ten_minutes_of_one_per_second_ping_alone(zeek):
    # `ping 10.0.0.1` left running for ten minutes (one Zeek flow per echo), and a quick `ping -i 0.2 -c 90`.
    store(zeek, [icmp(T0 + timedelta(seconds=s), "172.17.0.6", "10.0.0.1") for s in range(600)])
    store(zeek, [icmp(T0 + timedelta(minutes=20, seconds=0.2 * i), "172.17.0.7", "10.0.0.1") for i in range(90)])
    rule = analytic("icmp_tunnel", **shipped_parameters("icmp-tunnel.yml"))

    assert evaluate(rule, T0, T0 + timedelta(minutes=30)) == []


def test_the_shipped_icmp_analytic_thresholds_are_per_minute_and_catch_a_flood_in_one(zeek):
    params = validate_parameters("icmp_tunnel", shipped_parameters("icmp-tunnel.yml"))
    assert params["window_seconds"] == 60  # max_packets and max_bytes are per window
    store(zeek, [icmp(T0 + timedelta(seconds=0.25 * i), "172.17.0.9", "198.51.100.98") for i in range(200)])

    [match] = evaluate(analytic("icmp_tunnel", **params), T0, T0 + timedelta(minutes=5))

    assert "high_packets" in match.fields["reasons"] and "large_payload" not in match.fields["reasons"]
    assert match.fields["window_seconds"] == 60


# --------------------------------------------------------------------------- resource spike


def metrics(container: str, values: list[float], *, start: datetime = T0, every_s: int = 30, metric="cpu_cores"):
    return [
        {"time": start + timedelta(seconds=every_s * i), "kind": "metric", "container_name": container, metric: v}
        for i, v in enumerate(values)
    ]


def test_a_busy_but_steady_container_does_not_spike(cadvisor):
    steady = [4.0 + 0.05 * math.sin(i) for i in range(180)]  # four cores, all the time
    store(cadvisor, metrics("encoder", steady))
    store(cadvisor, metrics("encoder", [2.0e9 + 1e6 * math.cos(i) for i in range(180)], metric="memory_bytes"))

    assert evaluate(analytic("resource_spike"), T0, T0 + timedelta(minutes=90)) == []


def test_a_container_jumping_far_above_its_baseline_spikes_once(cadvisor):
    baseline = [0.2 + 0.01 * math.sin(i) for i in range(60)]  # 30 minutes idle
    store(cadvisor, metrics("web", [*baseline, 3.5, 3.6, 3.55, 3.5, 3.6]))

    rule = analytic("resource_spike")
    matches = evaluate(rule, T0, T0 + timedelta(hours=1))

    assert len(matches) == 1
    match = matches[0]
    assert (match.entity_type, match.entity) == ("container", "web")
    assert match.fields["metric"] == "cpu_cores" and match.fields["value"] == 3.6
    assert match.fields["z"] >= 4 and abs(match.fields["baseline_mean"] - 0.2) < 0.02
    # Evaluating the next window (the spike's samples behind it) reports nothing new.
    assert evaluate(rule, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == []


def test_a_spike_needs_consecutive_samples_and_a_baseline(cadvisor):
    store(cadvisor, metrics("blip", [0.2] * 40 + [3.5, 3.5, 0.2, 0.2]))  # two samples: under min_samples
    store(cadvisor, metrics("newborn", [0.2] * 5 + [3.5] * 5))  # five samples of baseline: under 10

    assert evaluate(analytic("resource_spike")) == []


def test_a_spike_after_a_quarter_hour_of_quiet_minute_scrapes_is_seen(cadvisor):
    # The lab step: the pod idles for 15 minutes (15 scrapes at 60 s, over min_baseline_samples 10),
    # then `yes > /dev/null` burns a core for three scrapes. The run's first samples must not
    # become the baseline the later ones are judged against.
    quiet = [0.02 + 0.002 * math.sin(i) for i in range(15)]
    store(cadvisor, metrics("burner", [*quiet, 1.0, 1.01, 0.99], every_s=60))

    [match] = evaluate(analytic("resource_spike"), T0, T0 + timedelta(hours=1))

    assert (match.entity, match.fields["metric"], match.fields["samples"]) == ("burner", "cpu_cores", 3)
    assert abs(match.fields["baseline_mean"] - 0.02) < 0.005
    assert match.time == T0 + timedelta(minutes=17)  # reported on its third high sample


def test_minute_scrapes_of_a_steady_busy_container_and_a_gradual_daily_peak_stay_quiet(cadvisor):
    day = 24 * 60  # a day of 60 s scrapes, starting the evening before T0
    start = T0 - timedelta(hours=12)
    store(cadvisor, metrics("encoder", [4.0 + 0.05 * math.sin(7.3 * i) for i in range(day)], start=start, every_s=60))
    # A search indexer: 0.5 cores at night, climbing to 3.5 cores at its evening peak, with jitter.
    daily = [2.0 - 1.5 * math.cos(2 * math.pi * i / day) + 0.04 * math.sin(5.1 * i) for i in range(day)]
    store(cadvisor, metrics("indexer", daily, start=start, every_s=60))

    assert evaluate(analytic("resource_spike"), T0 - timedelta(hours=10), T0 + timedelta(hours=12)) == []


# --------------------------------------------------------------------------- indicators


@pytest.fixture
def bad_list(db) -> IndicatorList:
    text = "type,value,description\nip,203.0.113.66,c2\ncidr,198.51.100.0/24,bulletproof host\ncidr,2001:db8:bad::/48,\ndomain,evil.example,phishing kit\n"
    return import_indicators_csv(name="threat-feed", text=text).indicator_list


def test_indicator_ips_networks_and_domains_match_and_near_misses_do_not(zeek, bad_list):
    at = T0 + timedelta(minutes=1)
    store(
        zeek,
        [
            flow(at, "172.17.0.2", "203.0.113.66", answered=True),  # listed IP
            flow(at, "172.17.0.2", "198.51.100.77", answered=True),  # in a listed network
            flow(at, "2001:db8:bad::5", "2001:db8:1::10", 22, answered=True),  # in a listed IPv6 network, inbound
            flow(at, "172.17.0.2", "203.0.113.67", answered=True),  # next door: miss
            flow(at, "172.17.0.2", "198.51.101.1", answered=True),  # next network: miss
            {"time": at, "kind": "dns", "src_ip": "172.17.0.3", "dns_query": "c2.evil.example"},  # subdomain
            {"time": at, "kind": "dns", "src_ip": "172.17.0.3", "dns_query": "EVIL.example."},  # the domain itself
            {"time": at, "kind": "dns", "src_ip": "172.17.0.3", "dns_query": "notevil.example"},  # miss
            {"time": at, "kind": "dns", "src_ip": "172.17.0.3", "dns_query": "evil.example.com"},  # miss
        ],
    )

    matches = evaluate(analytic("indicator_match"))

    found = sorted((m.fields["field"], m.fields[m.fields["field"]], m.fields["indicator"], m.entity) for m in matches)
    assert found == [
        ("dns_query", "EVIL.example.", "evil.example", "172.17.0.3"),
        ("dns_query", "c2.evil.example", "evil.example", "172.17.0.3"),
        ("dst_ip", "198.51.100.77", "198.51.100.0/24", "172.17.0.2"),
        ("dst_ip", "203.0.113.66", "203.0.113.66", "172.17.0.2"),
        ("src_ip", "2001:db8:bad::5", "2001:db8:bad::/48", "2001:db8:1::10"),
    ]
    assert all(m.fields["indicator_list"] == "threat-feed" for m in matches)


def test_repeated_hits_on_one_indicator_are_one_match_per_entity_and_window(zeek, bad_list):
    store(zeek, [flow(T0 + timedelta(seconds=60 * i), "172.17.0.2", "203.0.113.66", answered=True) for i in range(20)])

    [match] = evaluate(analytic("indicator_match"))

    assert match.fields["events"] == 20 and len(match.evidence_event_ids) == 20


def test_indicator_match_reads_only_the_lists_it_names(zeek, bad_list):
    import_indicators_csv(name="other", text="192.0.2.1\n")
    store(zeek, [flow(T0 + timedelta(minutes=1), "172.17.0.2", "203.0.113.66", answered=True)])

    assert evaluate(analytic("indicator_match", lists=["other"])) == []
    assert len(evaluate(analytic("indicator_match", lists=["threat-feed"]))) == 1


def test_a_listed_address_calling_the_kubernetes_api_is_never_an_empty_entity(zeek, bad_list):
    # kubectl from outside with a stolen kubeconfig: the audit event names the caller's address
    # and nothing local (no container, pod, host or destination address).
    at = T0 + timedelta(minutes=1)
    audit = {"time": at, "kind": "k8s_audit", "k8s_verb": "create", "k8s_resource": "deployments"}
    store(
        zeek,
        [
            {**audit, "src_ip": "198.51.100.200", "namespace": "production"},
            {**audit, "src_ip": "203.0.113.66", "namespace": "production", "pod": "web-cache-6b8f7d9c4-t5r2w"},
        ],
    )

    matches = evaluate(analytic("indicator_match"))

    assert sorted((m.entity_type, m.entity, m.fields["src_ip"]) for m in matches) == [
        ("ip", "198.51.100.200", "198.51.100.200"),
        ("pod", "production/web-cache-6b8f7d9c4-t5r2w", "203.0.113.66"),
    ]


def test_a_listed_address_changing_a_workload_names_the_workload(zeek, bad_list):
    # entity_of's order for audit events: a named workload outranks the caller's address.
    at = T0 + timedelta(minutes=1)
    audit = {"time": at, "kind": "k8s_audit", "k8s_verb": "create", "k8s_resource": "deployments"}
    store(zeek, [{**audit, "src_ip": "198.51.100.200", "namespace": "payments", "k8s_object_name": "implant"}])

    matches = evaluate(analytic("indicator_match"))

    assert [(m.entity_type, m.entity) for m in matches] == [("workload", "payments/deployments/implant")]


def test_indicator_entities_follow_the_canonical_order_container_pod_host_local_address(zeek, bad_list):
    at = T0 + timedelta(minutes=1)
    store(
        zeek,
        [
            flow(at, "10.42.3.41", "203.0.113.66", answered=True, container_id="c0ffee", pod="beacon", namespace="ns"),
            flow(at, "10.42.3.42", "203.0.113.66", answered=True, pod="beacon-2", namespace="ns", host="node-1"),
            flow(at, "10.10.0.27", "203.0.113.66", answered=True, host="lab-node-7"),
            flow(at, "10.10.0.28", "203.0.113.66", answered=True),
        ],
    )

    matches = evaluate(analytic("indicator_match"))

    assert sorted((m.entity_type, m.entity) for m in matches) == [
        ("container", "c0ffee"),
        ("host", "lab-node-7"),
        ("ip", "10.10.0.28"),
        ("pod", "ns/beacon-2"),
    ]


# --------------------------------------------------------------------------- silent source


def test_a_source_quiet_for_longer_than_its_cadence_is_reported_once_per_silence(db):
    now = timezone.now()
    quiet = Source.objects.create(name="k8s-audit", format=Source.Format.K8S_AUDIT, expected_cadence_seconds=300)
    chatty = Source.objects.create(name="falco", format=Source.Format.FALCO, expected_cadence_seconds=300)
    Source.objects.create(name="uploads", format=Source.Format.GENERIC_JSON)  # no cadence: never silent
    IngestBatch.objects.create(source=quiet, channel="api", accepted=10, received_at=now - timedelta(hours=1))
    IngestBatch.objects.create(source=chatty, channel="api", accepted=10, received_at=now - timedelta(seconds=60))
    rule = analytic("silent_source")

    run_due_analytics(now=now)
    assert list(RuleMatch.objects.filter(rule=rule).values_list("entity", flat=True)) == ["k8s-audit"]
    run_due_analytics(now=now + timedelta(minutes=5))  # k8s-audit: the same silence; falco: now silent too

    assert sorted(RuleMatch.objects.filter(rule=rule).values_list("entity", flat=True)) == ["falco", "k8s-audit"]
    match = RuleMatch.objects.get(rule=rule, entity="k8s-audit")
    assert (match.entity_type, match.entity, match.event) == ("source", "k8s-audit", None)
    assert match.fields["expected_cadence_seconds"] == 300 and match.fields["silent_for_seconds"] >= 3600


# --------------------------------------------------------------------------- scheduling


def test_run_due_analytics_records_a_scheduled_run_and_moves_the_watermark(zeek):
    store(zeek, beacon("172.17.0.2", "203.0.113.10"))
    rule = analytic("one_way_communication")
    now = T0 + timedelta(minutes=59)

    run = run_due_analytics(now=now)

    assert run.kind == DetectionRun.Kind.SCHEDULED and run.status == DetectionRun.Status.SUCCEEDED
    assert (run.matches, run.events_scanned, run.errors) == (1, 8, [])
    assert list(run.rules.all()) == [rule]
    assert AnalyticState.objects.get(rule=rule).evaluated_until == now
    assert RuleMatch.objects.get(rule=rule).run == run


def test_re_evaluating_a_window_records_nothing_twice(zeek):
    store(zeek, beacon("172.17.0.2", "203.0.113.10"))
    rule = analytic("one_way_communication")
    run_due_analytics(now=T0 + timedelta(minutes=59))
    AnalyticState.objects.filter(rule=rule).update(evaluated_until=None)  # as if the watermark were lost

    again = run_due_analytics(now=T0 + timedelta(minutes=59))

    assert again.matches == 0
    assert RuleMatch.objects.filter(rule=rule).count() == 1


def test_a_broken_analytic_is_reported_on_the_run_and_keeps_its_watermark(zeek):
    broken = analytic("one_way_communication", min_connections="many")
    working = analytic("silent_source")

    run = run_due_analytics(now=T0)

    assert run.status == DetectionRun.Status.PARTIAL
    assert [(e["rule_id"], "min_connections" in e["error"]) for e in run.errors] == [(broken.pk, True)]
    assert not AnalyticState.objects.filter(rule=broken, evaluated_until__isnull=False).exists()
    assert AnalyticState.objects.get(rule=working).evaluated_until == T0


# --------------------------------------------------------------------------- parameters


def test_defaults_fill_in_missing_parameters():
    assert validate_parameters("one_way_communication", {"min_connections": 8}) == {
        "internal_cidrs": ["172.16.0.0/12", "10.0.0.0/8", "192.168.0.0/16"],
        "min_connections": 8,
        "max_interval_cv": 0.35,
        "window_seconds": 3600,
    }


@pytest.mark.parametrize(
    ("analytic_type", "params", "named"),
    [
        ("one_way_communication", {"min_connections": "five"}, "min_connections"),
        ("one_way_communication", {"min_connections": 1}, "min_connections"),
        ("one_way_communication", {"internal_cidrs": ["10.0.0.0/33"]}, "internal_cidrs"),
        ("one_way_communication", {"max_interval_cv": -0.1}, "max_interval_cv"),
        ("icmp_tunnel", {"max_packets": True}, "max_packets"),
        ("icmp_tunnel", {"max_pakets": 10}, "max_pakets"),
        ("resource_spike", {"metrics": ["gpu"]}, "metrics"),
        ("resource_spike", {"z_threshold": "high"}, "z_threshold"),
        ("nonexistent", {}, "nonexistent"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_parameter(analytic_type, params, named):
    with pytest.raises(ValueError, match=named):
        validate_parameters(analytic_type, params)


def test_an_unknown_indicator_list_is_refused(db):
    with pytest.raises(ValueError, match="lists.*no-such-list"):
        validate_parameters("indicator_match", {"lists": ["no-such-list"]})


def test_the_beat_task_runs_the_due_analytics_and_correlations(db):
    from detections.tasks import run_scheduled_analytics

    rule = analytic("silent_source")
    DetectionRule.objects.create(
        title="disabled correlation", rule_uid="c-off", kind=DetectionRule.Kind.SIGMA_CORRELATION, status="disabled"
    )

    ran = run_scheduled_analytics.apply().get()

    run = DetectionRun.objects.get(pk=ran["analytics"])
    assert list(run.rules.all()) == [rule] and ran["correlations"] is None  # no enabled correlation: no run
