# The README's two commands: `make up` runs caudal on embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: up test lint typecheck unit integration e2e bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.stamp-run

up: $(VENV)/.stamp-run
	$(BIN)/caudal up

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy src

# Two pytest workers, one test file each at a time (module fixtures stay in one process): most
# tests wait on a subprocess, a server or a browser, so two share 2 cores well (idle 2-core
# machine: 572 s in one process, 307 s in two). Each worker has its own PostgreSQL.
TEST_WORKERS ?= 2

test: lint typecheck
	$(BIN)/pytest -q -W error -n $(TEST_WORKERS) --dist loadfile tests

unit: $(VENV)/.stamp-dev
	$(BIN)/pytest -q tests/unit

integration: $(VENV)/.stamp-dev
	$(BIN)/pytest -q tests/integration

e2e: $(VENV)/.stamp-dev
	$(BIN)/pytest -q tests/e2e

clean:
	rm -rf $(VENV) .caudal .pytest_cache .mypy_cache .ruff_cache
