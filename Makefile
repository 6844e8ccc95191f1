# Bilet: the entry points. `make run` starts the embedded platform; `make test` runs every check.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv

# uv uses the machine's Python 3.11 and never downloads an interpreter of its own.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help env system run test lint format bench contracts chaos soak test-kurrentdb infra-up infra-down infra-status clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

env: $(UV)  ## create .venv with every package pinned in uv.lock
	$(UV) sync --locked --all-packages --quiet

system:  ## install the machine packages the real servers need (Java, Maven, PostgreSQL 15)
	scripts/ensure-system-packages.sh

run: env  ## start all six services embedded on 127.0.0.1:8000 (BVB_PORT to change)
	$(VENV)/bin/bvb run

test: env system  ## install everything, start Kafka and PostgreSQL, run every gate and test
	scripts/test.sh

lint: env  ## ruff, format check, mypy, import-linter
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: checkov
checkov: env  ## checkov over the rendered production overlay (`make test` runs it too, in tests/deploy)
	$(VENV)/bin/pytest tests/deploy/test_operations.py -k checkov

format: env  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: env system  ## start Kafka and PostgreSQL, run the benchmarks: JSON lines, then a table (QUICK=1, ONLY=name)
	scripts/bench.sh $(if $(filter-out 0,$(QUICK)),--quick) $(if $(ONLY),--only $(ONLY))

contracts: env  ## regenerate docs/contracts (JSON Schemas, AsyncAPI 3) and seed golden samples of new event versions
	$(VENV)/bin/python -m bilet.contracts.export

chaos: env infra-up  ## the long crash tests: relay, projection consumer and recommender worker each SIGKILLed 100 times
	source var/infra.env && export BVB_CHAOS_KILLS=100 && \
		$(VENV)/bin/pytest tests/integration/test_relay.py -k sigkilled && \
		$(VENV)/bin/pytest shared/tests/projections/test_chaos.py && \
		$(VENV)/bin/pytest services/recommender/tests/integration/test_worker_crashes.py

# The soak's pace, length and output (ADR 0118); not part of `make test`.
SOAK_RATE ?= 50
SOAK_MINUTES ?= 30
SOAK_WARMUP ?= 5
SOAK_OUT ?= var/soak/recommender-$(shell date -u +%Y%m%dT%H%M%S).jsonl

soak: env infra-up  ## the recommender worker fed SOAK_RATE new pupils/s for SOAK_MINUTES (50, 30): its memory over time
	source var/infra.env && \
		$(VENV)/bin/python -m benchmarks.soak_recommender --rate $(SOAK_RATE) \
			--minutes $(SOAK_MINUTES) --warmup-minutes $(SOAK_WARMUP) --out $(SOAK_OUT)

test-kurrentdb: env infra-up  ## with BVB_KURRENTDB_URL naming a KurrentDB >= 25.1: its contract suite and identity + relay end to end on it
	@test -n "$(BVB_KURRENTDB_URL)" || { echo "set BVB_KURRENTDB_URL (kurrentdb://localhost:2113?tls=false)"; exit 2; }
	source var/infra.env && export BVB_KURRENTDB_URL='$(BVB_KURRENTDB_URL)' && \
		$(VENV)/bin/pytest shared/tests/eventstore -k kurrentdb && \
		$(VENV)/bin/pytest services/identity/tests/integration/test_kurrentdb.py

infra-up: system  ## start (or reuse) Kafka on 127.0.0.1:9092 and PostgreSQL on 127.0.0.1:55432
	scripts/infra/infra.sh up

infra-down:  ## stop what infra-up started, nothing else
	scripts/infra/infra.sh down

infra-status:  ## report both servers
	scripts/infra/infra.sh status

clean:  ## remove the environments (var/ with its data stays)
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
