# Every target sets up .venv from nothing; the stamp re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/file_to_duckdb.py
	$(BIN)/python bench/engine.py

lint: $(STAMP)
	$(BIN)/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files --cached --others --exclude-standard src examples)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .aoetl demo_out warehouse.duckdb bench/data
