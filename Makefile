# The two commands: `make run` and `make test`. Everything else is for operators and developers.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast test-servers install lint schema bench run-scaled flower check clean docs docs-serve examples perf-docs chaos api-check

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
		{ echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## run: install, migrate, load demo data, and run API + workers + beat on http://$(HOST):$(PORT)
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "API: http://$(HOST):$(PORT)/  Swagger: http://$(HOST):$(PORT)/api/docs/  (Ctrl-C stops everything)"
	$(PY) -m workers run --web $(HOST):$(PORT)

## test: install and run the whole suite (the integration tier starts its own processes)
test: install
	DJANGO_SETTINGS_MODULE=config.settings_test $(PY) -m pytest

test-fast: install
	DJANGO_SETTINGS_MODULE=config.settings_test $(PY) -m pytest -m "not integration"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

check: install
	$(PY) manage.py check_invariants

## api-check: Schemathesis, every check, seed 11, as an organizer and as a customer, against a
## stack it starts itself (fresh data, free port, demo accounts): 0 failures (docs/api-contract.md)
api-check: install
	$(PY) -m devtools.api_check $(API_CHECK_ARGS)

clean:
	rm -rf data site

## docs: build the documentation site into site/ (strict: a broken link or a missing page fails),
## then check that no page loads a script, style sheet or font from another host
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(PY) -m devtools.sitecheck site

DOCS_PORT ?= 8001
## docs-serve: the documentation with live reload and search on http://$(HOST):$(DOCS_PORT)/
docs-serve: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr $(HOST):$(DOCS_PORT)

## examples: the example clients (examples/) against a real stack, end to end
examples: install
	DJANGO_SETTINGS_MODULE=config.settings_test $(PY) -m pytest tests/examples

# --- scale-out profile (docs/scale-out.md) ------------------------------------------------------
FLOWER_PORT ?= 5555

## run-scaled: PostgreSQL + Redis already running at DATABASE_URL / CELERY_BROKER_URL (env or .env)
run-scaled: install
	@$(PY) -c "import django; django.setup(); from django.conf import settings as s; import sys; \
	ok = s.DATABASES['default']['ENGINE'].endswith('postgresql') and s.CELERY_BROKER_URL.startswith('redis'); \
	sys.exit(0 if ok else 'run-scaled needs DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... (environment or .env)')"
	$(PY) manage.py migrate --noinput
	@echo "API: http://$(HOST):$(PORT)/  Flower: make flower  (Ctrl-C stops everything)"
	$(PY) -m workers run --web $(HOST):$(PORT) --web-workers $${WEB_WORKERS:-4} --web-threads $${WEB_THREADS:-8}

## flower: Celery monitoring on http://$(HOST):$(FLOWER_PORT)/ (FLOWER_BASIC_AUTH=user:password)
flower: install
	$(PY) -m celery -A config flower --address=$(HOST) --port=$(FLOWER_PORT) \
		$(if $(FLOWER_BASIC_AUTH),--basic-auth=$(FLOWER_BASIC_AUTH),)

## test-servers: the tests on real PostgreSQL + Redis (started by the tests; fail if not installed)
test-servers: install
	CI_REQUIRE_SERVERS=1 DJANGO_SETTINGS_MODULE=config.settings_test $(PY) -m pytest -m servers tests/integration

# $(call servers,TARGET,EXTRA): PostgreSQL and redis-server (and EXTRA commands, e.g. wrk) for a
# target that starts them itself: installed with apt-get when missing and run as root, otherwise
# the exact command printed.
define servers
	@missing=""; \
	for tool in $(2) redis-server; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	  else \
	    echo "make $(1) needs:$$missing. Install them with: sudo apt-get install -y$$missing"; exit 2; \
	  fi; \
	fi
endef

## bench: new design vs old (row lock in the request) on PostgreSQL + Redis; bench/results/
## (PostgreSQL, redis-server and wrk are installed with apt-get when missing and run as root;
## otherwise the exact command is printed)
bench: install
	$(call servers,bench,wrk)
	$(PY) -m bench

## perf-docs: docs/performance.md from the last make bench (bench/results/latest.json)
perf-docs: install
	$(PY) -m bench.page bench/results/latest.json > docs/performance.md

## chaos: faults drawn from SEED for DURATION seconds on PostgreSQL + Redis, then the history
## checked (docs/chaos.md); chaos/results/latest.json, exit 1 on any anomaly. As root it installs
## what is missing with apt-get and cuts machines off in network namespaces.
## CHAOS_ARGS=--embedded: the embedded default (SQLite, file broker, one launcher) instead.
SEED ?= 1
DURATION ?= 120
CHAOS_ARGS ?=
chaos: install
	$(call servers,chaos,)
	$(PY) -m chaos --seed $(SEED) --duration $(DURATION) $(CHAOS_ARGS)
