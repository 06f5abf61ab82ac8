# Every target sets up .venv from nothing; the stamp re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# The HTML report's test draws it in Debian's headless Chromium.
CHROMIUM := /usr/bin/chromium

.PHONY: setup compile browser demo test test-hardening bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

# Debian's Chromium, for the test that renders the HTML quality report (no download at run
# time: the package comes from Debian's mirror when the machine is set up).
browser:
	test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The project is installed in editable mode; byte-compile it so no run pays for compiling
# (PYTHONDONTWRITEBYTECODE may be set, and then Python never writes these itself).
compile: $(STAMP)
	$(BIN)/python -m compileall -q src

demo: compile
	$(BIN)/python examples/demo.py

# The soak trials (timeouts, signals and two-process races, repeated; the full secret scan) take minutes of their
# own; CI runs both targets. The suite runs on two workers (pytest-xdist), a test file each at a
# time, so a file's module-scoped fixtures start once; each worker starts its own test servers.
# STATE_SUITES run a second time with the state store in PostgreSQL (AOETL_TEST_STATE: each
# test gets a fresh schema on the test server): runs and their resume, task by task, DLQ
# replay, the history commands, audit and quality history, as workers sharing a store see them.
# Cases that differ only where the store plays no part (a file's compression) run once, and
# the kill -9 trials (a process's own host and pid, as on SQLite) only in the main pass, which
# keeps this pass near 80 s and make test under its 15 minutes.
STATE_SUITES := tests/pipeline/test_tasks.py tests/pipeline/test_replay.py \
	tests/pipeline/test_resilience.py tests/e2e/test_history_cli.py \
	tests/agents/test_coordinator.py tests/quality/test_runs_quality.py \
	--deselect 'tests/pipeline/test_replay.py::test_latin1_rows_are_kept_as_bytes_and_replay_exactly[.gz]' \
	--deselect 'tests/pipeline/test_replay.py::test_latin1_rows_are_kept_as_bytes_and_replay_exactly[.zst]'

# The tests' files (their temporary folders, the test servers' data and logs) go in memory,
# in /dev/shm, where it has 4 GiB free: a slow or nearly full disk then neither slows nor fails
# them (PostgreSQL's initdb alone took 110 s on a disk held to 30 writes a second).
TEST_TMP ?= $(shell free=$$(df --output=avail -B1M /dev/shm 2>/dev/null | tail -n 1); \
	if [ -w /dev/shm ] && [ "$${free:-0}" -ge 4096 ] 2>/dev/null; then echo /dev/shm; \
	else echo $${TMPDIR:-/tmp}; fi)
# A pass that runs past its time is stopped as Ctrl-C stops it, so pytest still prints which
# tests failed and the slowest ones (CI allows 90 minutes for setup and every pass).
TEST_MINUTES ?= 55
PYTEST := TMPDIR=$(TEST_TMP) timeout --foreground --signal=INT --kill-after=60 $(TEST_MINUTES)m \
	$(BIN)/python -m pytest -q --durations=10

test: compile browser
	$(PYTEST) -m "not soak" -n 2 --dist loadfile
	AOETL_TEST_STATE=postgresql $(PYTEST) -m "not soak" -n 2 --dist loadfile $(STATE_SUITES)

test-hardening: compile
	$(PYTEST) -m soak

bench: compile $(BENCH_STAMP)
	$(BIN)/python bench/cli_start.py
	$(BIN)/python bench/file_to_duckdb.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/sql.py
	$(BIN)/python bench/rest.py
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/profile.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/selection.py
	$(BIN)/python bench/airflow.py
	$(BIN)/python bench/mcp.py

lint: $(STAMP)
	$(BIN)/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files --cached --others --exclude-standard src examples)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .aoetl demo_out warehouse.duckdb quality_report.html bench/data
