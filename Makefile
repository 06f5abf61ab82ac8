# Every target sets up .venv from nothing; the stamp re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup compile demo test test-hardening bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The project is installed in editable mode; byte-compile it so no run pays for compiling
# (PYTHONDONTWRITEBYTECODE may be set, and then Python never writes these itself).
compile: $(STAMP)
	$(BIN)/python -m compileall -q src

demo: compile
	$(BIN)/python examples/demo.py

# The soak trials (timeouts, signals and two-process races, repeated) take minutes of their
# own; CI runs both targets.
test: compile
	$(BIN)/python -m pytest -q -m "not soak"

test-hardening: compile
	$(BIN)/python -m pytest -q -m soak

bench: compile
	$(BIN)/python bench/cli_start.py
	$(BIN)/python bench/file_to_duckdb.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/sql.py
	$(BIN)/python bench/rest.py
	$(BIN)/python bench/analysis.py

lint: $(STAMP)
	$(BIN)/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files --cached --others --exclude-standard src examples)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .aoetl demo_out warehouse.duckdb bench/data
