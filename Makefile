# The two commands: `make run` and `make test`. Everything else is for operators and developers.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE ?= config.settings

.PHONY: run test test-fast test-servers install lint schema bench run-scaled flower check clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
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
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not integration"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

check: install
	$(PY) manage.py check_invariants

clean:
	rm -rf data
