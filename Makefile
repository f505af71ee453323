# Everyday commands. `make install` is idempotent: it only reinstalls when requirements.txt changes.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_URL ?= postgres://postgres@127.0.0.1:5432/ads_portal
REDIS ?= redis://127.0.0.1:6379/0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-chromium demo test test-sqlite test-postgres test-browser lint migrate bench-ingest bench-engine bench-queue compose-check clean

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium: installed with apt-get when missing (as root).
install-chromium:
	@bash scripts/ensure_chromium.sh

migrate: install
	$(PY) manage.py migrate --noinput

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_attack
	$(PY) manage.py load_library
	$(PY) manage.py load_demo_telemetry
	-$(PY) manage.py validate_strategies --no-load
	@echo "Demo users (log in at http://$(HOST):$(PORT)/):"
	$(PY) manage.py create_demo_users
	$(PY) manage.py collectstatic --noinput -v0
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) ads_portal.asgi:application

# The whole suite, twice: embedded (SQLite, in-memory layer, eager Celery) and PostgreSQL + Redis.
test: install lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install install-chromium
	@echo "== suite on the embedded default (SQLite, in-memory channel layer, eager Celery) =="
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest

test-postgres: install install-chromium
	@$(PY) scripts/services_up.py $(PG_URL) $(REDIS); status=$$?; \
	if [ $$status -eq 0 ]; then \
		echo "== suite on PostgreSQL + Redis =="; \
		DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS) $(PY) -m pytest; \
	elif [ "$$CI" = "true" ]; then \
		echo "CI=true and PostgreSQL/Redis are not both answering: failing." >&2; exit 1; \
	elif [ $$status -eq 1 ]; then \
		echo "SKIPPED: neither PostgreSQL ($(PG_URL)) nor Redis ($(REDIS)) answers; the PostgreSQL + Redis half did not run."; \
	else \
		echo "Only one of PostgreSQL and Redis answers: start the other (see .ci/run) or point PG_URL/REDIS at it." >&2; exit 1; \
	fi

# Only the browser walk of a triage (both halves run it as part of the whole suite too).
test-browser: install install-chromium
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest -m browser tests/browser

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) scripts/check_compose.py docker-compose.yml

bench-ingest: install
	$(PY) bench/ingest.py

bench-engine: install
	$(PY) bench/engine.py

# Server time of every queue page, filter, sort, grouping and the API list at 1,000,000 alerts.
# Fills a database of its own on the first run (a few minutes) and reuses it after; exit 1 over 150 ms.
# PG_URL given on the command line or in the environment points it elsewhere; the default above
# (the portal's database) is not used: the bench refills the databases it created, and refuses others.
BENCH_QUEUE_PG := $(if $(filter command line environment,$(origin PG_URL)),$(PG_URL),postgres://postgres@127.0.0.1:5432/ads_bench_queue)
bench-queue: install
	$(PY) bench/queue.py --pg $(BENCH_QUEUE_PG) $(BENCH_QUEUE_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
