# cloudtally: one entry point for humans and CI.
#   make test   set up everything (Debian packages, .venv) and run the whole test suite
#   make up     run the embedded pipeline (broker + worker + API + simulated fleet)
#   make bench  end-to-end throughput vs direct insert (loadtest/results/latest.json)
#   make bench-all  every benchmark (bench, bench-others, bench-api, bench-year), then
#                   each issue-14 goal next to its figure (loadtest/goals.py)
#   make soak   fault soak, ~10 min: kill worker, broker, ClickHouse while ingesting (not in CI)
#   make lint   ruff + mypy --strict on the pure core

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when pyproject.toml changes (the package is editable, code changes need nothing).
STAMP := $(VENV)/.installed
# Two test processes: most tests wait on servers and subprocesses, so two share two cores
# well (each has its own chDB folder, ClickHouse server and broker; files stay together).
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: help venv install system-deps tools test lint fmt up bench bench-all bench-others bench-year bench-api soak clean i18n

help:
	@sed -n '2,8p' Makefile | sed 's/^# *//'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

venv install: $(STAMP)

system-deps:
	@bash deploy/local/install-system-deps.sh

# npm's s3rver into .tools/ (the embedded broker's durable storage); no-op when installed.
tools:
	@bash deploy/local/install-s3rver.sh

test: system-deps install tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check services tests loadtest
	$(BIN)/ruff format --check services tests loadtest
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix services tests loadtest
	$(BIN)/ruff format services tests loadtest

# The message catalogue (docs/i18n.md): extract the keys marked in code, add new ones to
# each language's .po (translate them there), check every key has every language, compile.
I18N := services/cloudtally/i18n
i18n: install
	$(BIN)/pybabel extract -F $(I18N)/babel-python.cfg -k N_ -k _ -o $(VENV)/i18n-py.pot services/cloudtally
	$(BIN)/pybabel extract -F $(I18N)/babel-templates.cfg -k t -o $(VENV)/i18n-html.pot services/cloudtally
	$(BIN)/python -m cloudtally.i18n.check --pot $(VENV)/i18n-py.pot --pot $(VENV)/i18n-html.pot
	$(BIN)/pybabel compile -d $(I18N)/locale -D cloudtally --statistics

up: install tools
	$(BIN)/cloudtally up

bench: install
	$(BIN)/python loadtest/bench.py

# The other measured targets: re-rate a month at Hainan scale, verify 100k and 1M invoice
# lines, rollups, candidate alerts, the sink, collectors, the audit ledger, the ingest and
# memory profiles. Each prints its figures and writes loadtest/results/. bench-all runs
# them all, the API bench, then the Hainan year (~40 min, last: a cut-short run still
# leaves every other figure), and ends with each goal next to its figure (goals.py).
bench-all: bench bench-others bench-api bench-year
	$(BIN)/python loadtest/goals.py

bench-others: install
	$(BIN)/python loadtest/bench_rating.py --vms 15000
	$(BIN)/python loadtest/invoice_bench.py
	$(BIN)/python loadtest/rollups_bench.py
	$(BIN)/python loadtest/alerts_bench.py
	$(BIN)/python loadtest/sink_bench.py
	$(BIN)/python loadtest/collectors_bench.py
	$(BIN)/python loadtest/audit_bench.py
	$(BIN)/python loadtest/invoice_bench.py --lines 1000000
	$(BIN)/python loadtest/ingest_profile.py
	$(BIN)/python loadtest/memory_profile.py

bench-year: install
	$(BIN)/python loadtest/year_fixture.py --keep-raw-months 3

# The console's pages and the API under 50 clients with ingest running, on the console
# benchmark's Hainan month (seeded once into var/bench-console, then reused); embedded
# (chDB) and cluster mode (ClickHouse 18.16 server, two API replicas).
BENCH_FIXTURE ?= var/bench-console
bench-api: install
	$(BIN)/python loadtest/console_bench.py --vms 15000 --fixture $(BENCH_FIXTURE)
	$(BIN)/python loadtest/api_bench.py --fixture $(BENCH_FIXTURE)
	$(BIN)/python loadtest/api_bench.py --mode cluster --replicas 2

# ~10 minutes of steady ingest while the worker, the broker and a ClickHouse server are
# killed at random, one ClickHouse outage of 4 minutes; prints sent/stored/duplicated/lost
# and writes loadtest/results/soak-*.json. Exit code 1 when anything was lost or duplicated.
soak: system-deps install tools
	$(BIN)/python loadtest/soak.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build
	find services tests loadtest -name __pycache__ -type d -prune -exec rm -rf {} +
