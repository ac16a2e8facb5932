# Two commands for a fresh machine (README): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml setup.py fbsync/identity/_fasthash.c | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml setup.py fbsync/identity/_fasthash.c | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q

# The gates CI runs before the tests: lint and format (ruff), types (mypy).
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check fbsync tests
	$(BIN)/ruff format --check fbsync tests
	$(BIN)/mypy fbsync

bench: $(VENV)/.dev-installed
	$(BIN)/python -m fbsync.bench

clean:
	rm -rf $(VENV) demo/crm.db demo/sandbox.db demo/.fbsync .pytest_cache
