"""Schema migrations on both backends: an old state.db upgrades in place, a store a newer
aoetl wrote is refused, opening is idempotent, and two processes may open a new store at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.state import StateStore

# The state.db of an aoetl from before migrations and before several columns.
OLD_STATE = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, duration_s REAL, rows_loaded INTEGER DEFAULT 0,
    rows_rejected INTEGER DEFAULT 0, target TEXT, error TEXT, result_json TEXT);
CREATE TABLE dlq (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL,
    kind TEXT NOT NULL, table_name TEXT, source_file TEXT, line INTEGER, reason TEXT NOT NULL,
    payload TEXT, created_at REAL NOT NULL);
INSERT INTO runs VALUES ('old-run', 'orders', 'success', 1700000000.5, 1700000003.0, 2.5, 10, 1,
    'duckdb:///w.duckdb', NULL, '{}');
INSERT INTO dlq (run_id, kind, table_name, source_file, line, reason, payload, created_at)
    VALUES ('old-run', 'row', 'orders', 'orders.csv', 4, 'ragged', '3,x,y', 1700000001.0);
"""


def _versions(store: StateStore) -> list[int]:
    with store._connect() as con:
        return [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]


def test_an_old_state_db_upgrades_in_place_with_its_history(tmp_path: Path) -> None:
    home = tmp_path / ".aoetl"
    home.mkdir()
    with sqlite3.connect(home / "state.db") as con:
        con.executescript(OLD_STATE)
    store = StateStore(home, url="")
    (run,) = store.runs()
    assert (run.run_id, run.status, run.rows_loaded, run.attempts, run.pid) == (
        "old-run", "success", 10, 1, None,
    )  # fmt: skip
    (entry,) = store.dlq_entries("old-run")
    assert (entry.payload, entry.status, entry.attempts, entry.line) == ("3,x,y", "open", 0, 4)
    assert _versions(store) == [1, 2]
    store.start_run("old-run", "orders", "t", spec_hash="h")  # the added columns work
    assert store.runs()[0].attempts == 2 and store.memory.count() == 0
    store.audit.record_call("a", "extract", ok=True, rows=1, seconds=0.1)  # new tables exist


def test_a_state_db_that_lost_its_version_table_migrates_again(tmp_path: Path) -> None:
    home = tmp_path / ".aoetl"
    StateStore(home, url="").start_run("r", "p", "t")
    with sqlite3.connect(home / "state.db") as con:
        con.execute("DROP TABLE schema_migrations")
    store = StateStore(home, url="")
    assert _versions(store) == [1, 2] and [r.run_id for r in store.runs()] == ["r"]


def test_opening_again_is_idempotent(store: StateStore, state_url: str, tmp_path: Path) -> None:
    store.start_run("r", "p", "t")
    again = StateStore(tmp_path / ".aoetl", url=state_url)
    assert _versions(again) == [1, 2] and [r.run_id for r in again.runs()] == ["r"]


def test_a_store_from_a_newer_aoetl_is_refused(
    store: StateStore, state_url: str, tmp_path: Path
) -> None:
    with store._transaction() as con:
        con.execute("INSERT INTO schema_migrations VALUES (99, 0, '9.9')")
    with pytest.raises(UserError, match=r"schema version 99, newer than this aoetl knows \(2\)"):
        StateStore(tmp_path / ".aoetl", url=state_url)


OPEN_AND_RECORD = """
import os, sys, time
from pathlib import Path
from agent_orchestrated_etl.state import StateStore
Path(f"{sys.argv[3]}.{os.getpid()}").touch()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.001)
store = StateStore(Path(sys.argv[1]), url=sys.argv[2])
store.start_run(f"run-{os.getpid()}", "p", "t")
"""


def test_two_processes_opening_a_new_store_at_once_both_succeed(
    state_url: str, tmp_path: Path
) -> None:
    """Each backend's lock (BEGIN IMMEDIATE, an advisory lock) lets one process migrate."""
    home, go = tmp_path / ".aoetl", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_RECORD, str(home), state_url, str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # both imported and waiting
    go.touch()
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    opened = StateStore(home, url=state_url)
    assert _versions(opened) == [1, 2]
    assert sorted(r.run_id for r in opened.runs()) == sorted(f"run-{p.pid}" for p in procs)


def test_a_store_with_a_run_profiled_twice_keeps_the_newest_and_migrates(
    state_url: str, tmp_path: Path
) -> None:
    """Version 2 makes a run's profile of a resource unique; a version-1 store that the race
    had doubled still migrates."""
    from agent_orchestrated_etl.state import _migrations as migrations

    home = tmp_path / ".aoetl"
    v1 = StateStore(home, url=state_url)
    with v1._transaction() as con:  # back to version 1, as an older aoetl left it
        con.execute("DROP INDEX profiles_run_resource")
        con.execute("DELETE FROM schema_migrations WHERE version = 2")
        for n in (1, 2, 3):
            con.execute(
                "INSERT INTO profiles (resource, table_name, run_id, taken_at, depth, "
                "profile_json) VALUES ('w#orders', 'orders', ?, ?, 'standard', ?)",
                ("run-1" if n < 3 else None, float(n), f'{{"n": {n}}}'),
            )
    assert migrations.LATEST == 2
    store = StateStore(home, url=state_url)
    assert _versions(store) == [1, 2]
    (kept,) = store.quality.run_profiles("run-1")
    assert kept.profile == {"n": 2}  # the newest of the two
    with store._connect() as con:
        assert con.execute("SELECT count(*) FROM profiles").fetchone()[0] == 2  # + aoetl profile's
    first = store.quality.add_profile({"resource": "w#orders", "table": "orders", "run_id": "r"})
    again = store.quality.add_profile({"resource": "w#orders", "table": "orders", "run_id": "r",
                                       "depth": "deep"})  # fmt: skip
    assert first == again and [p.depth for p in store.quality.run_profiles("r")] == ["deep"]


def test_a_new_state_file_another_process_is_writing_is_waited_for(tmp_path: Path) -> None:
    # Switching a new file to WAL takes a lock SQLite does not wait for: a second process
    # opening the file at that moment waits for it instead of failing "database is locked".
    home = tmp_path / ".aoetl"
    home.mkdir()
    writer = sqlite3.connect(home / "state.db", isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE early (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO early VALUES (1)")
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    store = StateStore(home, url="")
    store.start_run("r", "p", "t")
    assert store.find_run("r") is not None
    writer.close()
