# cloudtally: one entry point for humans and CI.
#   make test   set up everything (Debian packages, .venv) and run the whole test suite
#   make up     run the embedded pipeline (broker + worker + API + simulated fleet)
#   make bench  end-to-end throughput vs direct insert (loadtest/results/latest.json)
#   make bench-all  also rating, invoice verification, rollups and alerts benchmarks
#   make lint   ruff + mypy --strict on the pure core

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when pyproject.toml changes (the package is editable, code changes need nothing).
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv install system-deps test lint fmt up bench bench-all clean

help:
	@sed -n '2,7p' Makefile | sed 's/^# *//'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

venv install: $(STAMP)

system-deps:
	@bash deploy/local/install-system-deps.sh

test: system-deps install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check services tests loadtest
	$(BIN)/ruff format --check services tests loadtest
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix services tests loadtest
	$(BIN)/ruff format services tests loadtest

up: install
	$(BIN)/cloudtally up

bench: install
	$(BIN)/python loadtest/bench.py

# The other measured targets: re-rate a month at Hainan scale, verify 100k invoice lines,
# rollups and candidate alerts. Each prints its figures and writes loadtest/results/.
bench-all: bench
	$(BIN)/python loadtest/bench_rating.py --vms 15000
	$(BIN)/python loadtest/invoice_bench.py
	$(BIN)/python loadtest/rollups_bench.py
	$(BIN)/python loadtest/alerts_bench.py
	$(BIN)/python loadtest/sink_bench.py
	$(BIN)/python loadtest/audit_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build
	find services tests loadtest -name __pycache__ -type d -prune -exec rm -rf {} +
