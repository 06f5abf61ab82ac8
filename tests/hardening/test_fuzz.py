"""A seeded fuzz run of ``aoetl run``: random pipeline files and damaged CSV and NDJSON files.

Each case (built by ``fuzzcases.build`` from the seed and its number, so a failure replays
alone) gets a fresh folder and ``AOETL_HOME``. Every answer must be one a user can act on:
exit 0, 1 only for a run that failed, or 2 for bad input; no Python exception name, traceback,
engine dump or SQL in what is printed; under 30 s. A load that succeeds accounts for every
record: rows loaded + rows rejected = rows read = the records Python's own reader counts, the
dead-letter queue holds the rejected ones, and the target holds the loaded ones.

Most cases run in this process through the CLI's own entry (``cli._invoke``, what the console
script runs on its worker thread), about 0.1 to 0.5 s each; one in ten runs the real console
script, for the process-level behaviour (exit status, streams, a clean exit).
"""

from __future__ import annotations

import gc
import json
import os
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import duckdb
import pytest
import typer
from typer.testing import CliRunner

import agent_orchestrated_etl.cli as cli
from tests.helpers import run_cli

from .fuzzcases import Case, build

# Issue 11, point 10. Another seed explores further: AOETL_FUZZ_SEED=7 pytest this file.
SEED = int(os.environ.get("AOETL_FUZZ_SEED", "1110"))
CASES = 300
PROCESS_EVERY = 10  # cases 0, 10, 20… run through the console script
LIMIT_S = 30.0
FIGURES: Counter[str] = Counter()  # the run's figures, printed at the end of the module

# A Python exception's name (ValueError, UnicodeDecodeError, duckdb's InvalidInputException…)
# or a traceback. DuckDB's own message classes ("Binder Error: …") are kept on purpose, with
# its hints, on one line (errors.classify_duckdb).
PYTHON_NAMES = re.compile(
    r"Traceback|Fatal Python error|\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b"
    r"|\b(?:KeyboardInterrupt|StopIteration)\b"
)
USER_RAISED = re.compile(r"python step '[\w.:]+' raised \w+")
# The engine's dump (LINE 1: and its caret) or the SQL aoetl writes, which users never wrote.
ENGINE_DUMP = re.compile(
    r"LINE \d+:|^\s*\^\s*$|read_csv\(|read_json\w*\(|read_parquet\(|_aoetl_stage"
    r"|WITH input AS|CREATE (?:OR REPLACE )?TABLE|INSERT INTO|COPY \(",
    re.MULTILINE,
)

Invoke = Callable[[Path, tuple[str, ...]], tuple[int, str, str]]
Answer = tuple[int, str, str, float]  # exit code, stdout, stderr, seconds


@pytest.fixture(scope="module")
def command() -> Iterator[Any]:
    """The click command, built once: Typer builds it on every call (0.2 s of each case)."""
    yield typer.main.get_command(cli.app)


@pytest.fixture
def in_process(command: Any, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """``aoetl ARGS`` in this process: exit code, stdout and stderr as a user would see them."""
    # _invoke calls cli.app(standalone_mode=False); the built command takes the same call.
    monkeypatch.setattr(cli, "app", command)

    def invoke(cwd: Path, args: tuple[str, ...]) -> tuple[int, str, str]:
        env = {"AOETL_HOME": str(cwd / ".aoetl"), "COLUMNS": "200", "AOETL_TARGET": None}
        monkeypatch.chdir(cwd)
        with CliRunner().isolation(env=env) as (out, err, _):
            monkeypatch.setattr(sys, "argv", ["aoetl", *args])
            try:
                code = cli._invoke()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            return code, out.getvalue().decode(), err.getvalue().decode()

    return invoke


def console_script(cwd: Path, args: tuple[str, ...]) -> tuple[int, str, str]:
    proc = run_cli(*args, cwd=cwd, env={"AOETL_TARGET": ""})
    return proc.returncode, proc.stdout, proc.stderr


def write_case(case: Case, folder: Path) -> None:
    for name, body in case.files.items():
        (folder / name).write_bytes(body)


def run_case(case: Case, folder: Path, invoke: Invoke) -> Answer:
    write_case(case, folder)
    started = time.monotonic()
    code, stdout, stderr = invoke(folder, ("run", *case.args))
    return code, stdout, stderr, time.monotonic() - started


class Broken(AssertionError):
    """A broken promise, by kind (for the figures), with the case's whole answer."""

    def __init__(self, kind: str, shown: str) -> None:
        super().__init__(f"[{kind}] {shown}")
        self.kind = kind


def expect(holds: bool, kind: str, shown: str) -> None:
    if not holds:
        raise Broken(kind, shown)


def check(case: Case, folder: Path, answer: Answer, invoke: Invoke) -> None:
    """Hold the answer to every promise; ``invoke`` asks the run history what it recorded."""
    code, stdout, stderr, elapsed = answer
    FIGURES[f"exit {code}"] += 1
    about = f"{case.name} {case.labels} aoetl run {' '.join(a[:60] for a in case.args)}"
    shown = f"{about}\nexit {code}\nstderr: {stderr[:2000]}\nstdout: {stdout[:2000]}"
    expect(elapsed < LIMIT_S, "over 30 s", f"{elapsed:.1f} s\n{shown}")
    expect(code in (0, 1, 2), "exit code", shown)
    result = _result(stdout) if case.as_json else None
    printed = stderr + (json.dumps(result) if result else "")
    printed = USER_RAISED.sub("", printed)  # the user's own step: its exception is the news
    expect(not PYTHON_NAMES.search(printed), "Python name", shown)
    expect(not ENGINE_DUMP.search(printed), "engine dump", shown)
    error = (result or {}).get("error") or ""
    one_line = len(stderr.strip().splitlines()) <= 2 and len(stderr) < 2000  # a warning first
    expect(code == 0 or one_line, "not one line", shown)
    expect("\n" not in error and len(error) < 2000, "not one line", shown)
    if case.as_json:
        expect(result is not None or (code == 2 and stderr.startswith("error: ")), "no JSON", shown)
    if code == 1:  # a run that failed, never a crash
        status = result["status"] if result else _last_status(folder, invoke)
        expect(status == "failed", "exit 1 without a failed run", shown)
    if case.expect_exit is not None:
        expect(code == case.expect_exit, "bad input not exit 2", shown)
    if code == 0 and result is not None:
        _check_accounting(case, folder, result, invoke, shown)


def _result(stdout: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(stdout)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "status" in doc else None


def _last_status(folder: Path, invoke: Invoke) -> str | None:
    code, stdout, _ = invoke(folder, ("runs", "--json", "--limit", "1"))
    runs = json.loads(stdout) if code == 0 else []
    return runs[0]["status"] if runs else None


def _check_accounting(
    case: Case, folder: Path, result: dict[str, Any], invoke: Invoke, shown: str
) -> None:
    """Every record loaded or quarantined: counts, the dead-letter queue and the target."""
    tables = result["tables"].items()
    read = sum(t["rows_read"] for _, t in tables)
    rejected = sum(t["rows_rejected"] for _, t in tables)
    FIGURES["rows read"] += read
    FIGURES["rows quarantined"] += rejected
    for name, table in tables:
        unaccounted = table["rows_read"] - table["rows_loaded"] - table["rows_rejected"]
        lose(unaccounted, "loaded + rejected != read", f"{name}: {unaccounted}\n{shown}")
    if case.records is not None:
        FIGURES["record counts checked"] += 1
        lose(case.records - read, "rows read != records", f"read {read}\n{shown}")
    code, stdout, stderr = invoke(folder, ("runs", "--show", result["run_id"], "--json"))
    expect(code == 0, "runs --show", stderr)
    dlq = [e for e in json.loads(stdout)["quarantined"] if e["kind"] == "row"]
    lose(rejected - len(dlq), "DLQ != rejected", f"{len(dlq)} in the DLQ\n{shown}")
    if case.name.endswith("-spec"):
        return  # a merge or a step may change what the target holds
    for name, table in tables:
        held = _rows_in_target(folder, table["target"])
        if held is not None:
            lose(table["rows_loaded"] - held, "target != loaded", f"{name}: {held}\n{shown}")


def lose(missing: int, kind: str, shown: str) -> None:
    """``missing`` rows unaccounted for (negative: more than there were, counted too)."""
    FIGURES["rows lost"] += max(0, missing)
    FIGURES["rows over"] += max(0, -missing)
    expect(missing == 0, kind, shown)


def _rows_in_target(folder: Path, target: str) -> int | None:
    """Rows of ``scheme:///path#table`` as written, read back without aoetl."""
    uri, _, table = target.rpartition("#")
    scheme, _, path = uri.partition(":///")
    where = folder / path
    quoted = '"' + table.replace('"', '""') + '"'
    if scheme == "duckdb":
        con = duckdb.connect(str(where), read_only=True)
        try:
            return int(con.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])  # type: ignore[index]
        finally:
            con.close()
    if scheme == "sqlite":
        with sqlite3.connect(where) as db:
            return int(db.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
    if scheme in ("parquet", "csv"):
        files = sorted((where / table).glob(f"*.{scheme}"))
        if not files:
            return 0
        names = [str(f) for f in files]
        reader = (
            "read_parquet(?)"
            if scheme == "parquet"
            else "read_csv(?, header=true, all_varchar=true)"
        )
        row = duckdb.connect().execute(f"SELECT count(*) FROM {reader}", [names]).fetchone()
        return int(row[0]) if row else None
    return None


IN_PROCESS = [i for i in range(CASES) if i % PROCESS_EVERY]
BY_PROCESS = [i for i in range(CASES) if not i % PROCESS_EVERY]
# Cases of the default seed that fail today, each with its reason; strict, so a fix shows.
TITLE = "a title line above the header is not skipped (connectors/_sniff.py): "
KNOWN: dict[int, str] = {
    64: TITLE + "it has as many fields as the header, so the real header loads as a data row",
}


def cases(indexes: list[int]) -> list[Any]:
    known = KNOWN if SEED == 1110 else {}
    return [
        pytest.param(i, id=f"{i:03d}", marks=pytest.mark.xfail(strict=True, reason=known[i]))
        if i in known
        else pytest.param(i, id=f"{i:03d}")
        for i in indexes
    ]


@pytest.fixture(scope="module", autouse=True)
def console_answers(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[int, Any]]:
    """The console-script cases, started with the module: one at a time on a thread, they run
    while this process works through the in-process cases and cost little wall time. At the
    end, the figures of the run."""
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=1)
    futures = {}
    selected = {
        cast(int, item.callspec.params["index"])
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_fuzz_case_console_script"
    }
    for index in sorted(selected):
        folder = tmp_path_factory.mktemp(f"fuzz{index:03d}")
        futures[index] = (folder, pool.submit(run_case, build(index, SEED), folder, console_script))
    yield futures
    pool.shutdown(cancel_futures=True)
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and FIGURES["cases"]:
        figures = ", ".join(f"{k}: {v}" for k, v in sorted(FIGURES.items()))
        with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
            reporter.write_line(
                f"\nfuzz, seed {SEED}, {time.monotonic() - started:.0f} s: {figures}"
            )


def record(case: Case, folder: Path, answer: Answer, invoke: Invoke) -> None:
    """Check one case and count it in the figures."""
    FIGURES["cases"] += 1
    try:
        check(case, folder, answer, invoke)
    except Broken as exc:
        FIGURES[f"broken: {exc.kind}"] += 1
        raise
    FIGURES["handled cleanly"] += 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("index", cases(IN_PROCESS))
def test_fuzz_case(index: int, work: Path, in_process: Invoke) -> None:
    case = build(index, SEED)
    try:
        record(case, work, run_case(case, work, in_process), in_process)
    finally:
        gc.unfreeze()  # each run freezes what it imported; in one process that piles up


@pytest.mark.e2e
@pytest.mark.parametrize("index", cases(BY_PROCESS))
def test_fuzz_case_console_script(
    index: int, console_answers: dict[int, Any], in_process: Invoke
) -> None:
    folder, future = console_answers[index]
    record(build(index, SEED), folder, future.result(timeout=120), in_process)


def test_the_run_is_deterministic() -> None:
    """The same seed builds the same cases, so a failure found once is found again."""
    assert build(17, SEED) == build(17, SEED) and build(17, SEED) != build(18, SEED)
    assert len(IN_PROCESS) + len(BY_PROCESS) >= 300
