"""A live ADS Portal for the browser tests: the real ASGI app under daphne, on a database of its own.

Django's live_server is a WSGI server without websockets, and the live queue is a websocket: the
browser tests need the same process a user gets (`daphne ads_portal.asgi:application`). The site
is prepared like `make demo` (migrate, the shipped library, the demo users) plus one Kubernetes
audit source whose token the tests ingest with, through the real ingest API.

Embedded run (no DATABASE_URL/REDIS_URL): a SQLite file in the test's temporary folder, the
in-memory channel layer and eager Celery, all inside the daphne process. PostgreSQL + Redis run:
a database of its own beside DATABASE_URL's (named `<name>_live`, created fresh and dropped after)
and a real Celery worker, since Celery is not eager there and ingest -> detect -> alert travels
through the broker. Not for the rest of the suite: it uses Django's test client and pytest-django.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO_PASSWORD = "ads-demo-2026"
SOURCE_NAME = "cluster-prod"
START_TIMEOUT_SECONDS = 30


@dataclass
class LiveSite:
    url: str
    source: str
    token: str
    logs: Path

    def ingest(self, lines: list[str]) -> dict:
        """POST NDJSON to the source's ingest endpoint with its bearer token, as a producer does."""
        answer = requests.post(
            f"{self.url}/api/v1/ingest/{self.source}/",
            data=("\n".join(lines) + "\n").encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/x-ndjson"},
            timeout=60,
        )
        assert answer.status_code == 201, f"ingest answered {answer.status_code}: {answer.text[:300]}"
        return answer.json()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _live_database_url(database_url: str) -> str:
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/") or "ads_portal"
    return urlunparse(parsed._replace(path=f"/{name}_live"))


def _recreate_postgres_database(database_url: str, *, create: bool = True) -> None:
    import psycopg
    from psycopg import sql

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    maintenance = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as connection:
        # The name is ours (DATABASE_URL's plus a suffix), quoted as an identifier all the same.
        quoted = sql.Identifier(name)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(quoted))
        if create:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(quoted))


def site_environment(workdir: Path) -> dict[str, str]:
    """The environment of the site's processes: the run's database flavour, on a database of its own."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="ads_portal.settings", PYTHONUNBUFFERED="1")
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = _live_database_url(os.environ["DATABASE_URL"])
    else:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env["SQLITE_PATH"] = str(workdir / "site.sqlite3")
    return env


def uses_worker(env: dict[str, str]) -> bool:
    return bool(env.get("REDIS_URL"))


def _wait_until(condition: Callable[[], bool], what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if condition():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {START_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def live_site(workdir: Path, logs: Path) -> Iterator[LiveSite]:
    """Prepare the database, start daphne (and a worker on the Redis run), yield the site, stop them."""
    env = site_environment(workdir)
    logs.mkdir(parents=True, exist_ok=True)
    if env.get("DATABASE_URL"):
        _recreate_postgres_database(env["DATABASE_URL"])
    processes: list[subprocess.Popen] = []
    try:
        prepared = subprocess.run(
            [sys.executable, "-m", "tests.browser.prepare_site", "--source", SOURCE_NAME, "--password", DEMO_PASSWORD],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if prepared.returncode != 0:
            raise RuntimeError(f"preparing the site failed:\n{prepared.stdout[-2000:]}\n{prepared.stderr[-3000:]}")
        token = json.loads(prepared.stdout.strip().splitlines()[-1])["token"]

        if uses_worker(env):
            # Messages left on the broker by earlier runs would be worked on against this database.
            subprocess.run(
                [BIN / "celery", "-A", "ads_portal", "purge", "-f"], cwd=REPO, env=env, check=True, capture_output=True
            )
            worker_log = logs / "celery-worker.log"
            with worker_log.open("w") as out:
                worker = subprocess.Popen(
                    [BIN / "celery", "-A", "ads_portal", "worker", "--pool=solo", "--loglevel=INFO",
                     "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"browser-walk-{os.getpid()}@%h"],
                    cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            processes.append(worker)
            _wait_until(lambda: " ready." in worker_log.read_text(), "the Celery worker", worker, worker_log)

        port = _free_port()
        daphne_log = logs / "daphne.log"
        with daphne_log.open("w") as out:
            daphne = subprocess.Popen(
                [BIN / "daphne", "-b", "127.0.0.1", "-p", str(port), "ads_portal.asgi:application"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        processes.append(daphne)
        url = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _answers(f"{url}/healthz"), "daphne", daphne, daphne_log)
        yield LiveSite(url=url, source=SOURCE_NAME, token=token, logs=logs)
    finally:
        for process in reversed(processes):
            _stop(process)
        if env.get("DATABASE_URL"):
            with suppress(Exception):  # a database left behind is dropped by the next run
                _recreate_postgres_database(env["DATABASE_URL"], create=False)
