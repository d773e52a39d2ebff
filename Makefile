# Two entry points: `make run` and `make test`. Both create .venv and install Surge first.
# `make app` serves the interactive app the same way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test app lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/surge run baseline

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

app: $(STAMP)
	$(BIN)/surge app

bench: $(STAMP)
	$(BIN)/python benchmarks/run_speed.py

clean:
	rm -rf $(VENV) out .pytest_cache
