"""Run history and the dead-letter queue, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from agent_orchestrated_etl.state import DlqEntry, StateStore


def _finish(store: StateStore, run_id: str, status: str = "success", rows: int = 5) -> None:
    store.finish_run(
        run_id,
        status=status,
        duration_s=1.25,
        rows_loaded=rows,
        rows_rejected=1,
        error="boom at postgresql://u:hunter2@db/x" if status == "failed" else None,
        result={"run_id": run_id, "target": "postgresql://u:hunter2@db/x"},
    )


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_run_is_recorded_resumed_and_finished(store: StateStore) -> None:
    spec = json.dumps({"source": "s", "target": "postgresql://u:hunter2@db/x"})
    store.start_run("r-1", "orders", "postgresql://u:hunter2@db/x", spec_json=spec, spec_hash="h")
    (run,) = store.runs()
    assert (run.run_id, run.status, run.attempts, run.pid) == ("r-1", "running", 1, os.getpid())
    assert run.host == socket.gethostname() and run.spec_hash == "h"
    assert "hunter2" not in (run.target or "") and "hunter2" not in (run.spec_json or "")
    assert isinstance(run.started_at, float) and abs(run.started_at - time.time()) < 60
    _finish(store, "r-1", "failed")
    store.start_run("r-1", "orders", "t", spec_json=spec, spec_hash="h")  # a resume
    run = store.runs()[0]
    assert (run.status, run.attempts, run.error) == ("running", 2, None)
    _finish(store, "r-1")
    run = store.runs()[0]
    assert (run.status, run.rows_loaded, run.rows_rejected, run.duration_s) == (
        "success", 5, 1, 1.25,
    )  # fmt: skip
    with store._connect() as con:
        (result,) = con.execute("SELECT result_json FROM runs").fetchone()
    assert "hunter2" not in result and json.loads(result)["run_id"] == "r-1"


def test_epoch_times_keep_double_precision(store: StateStore) -> None:
    store.start_run("r", "p", "t")
    store.finish_run(
        "r", status="success", duration_s=0.000123456789, rows_loaded=2**40, rows_rejected=0,
        error=None, result={},
    )  # fmt: skip
    with store._transaction() as con:
        con.execute("UPDATE runs SET started_at = ?", (1796060073.389941,))
    (run,) = store.runs()
    assert (run.started_at, run.duration_s, run.rows_loaded) == (
        1796060073.389941, 0.000123456789, 2**40,
    )  # fmt: skip


def test_runs_filters_limit_and_newest_first(store: StateStore) -> None:
    for i in range(4):
        store.start_run(f"run-{i}", "a" if i % 2 else "b", "t")
        _finish(store, f"run-{i}", "success" if i < 3 else "failed")
    assert [r.run_id for r in store.runs()] == ["run-3", "run-2", "run-1", "run-0"]
    assert [r.run_id for r in store.runs(pipeline="a")] == ["run-3", "run-1"]
    assert [r.run_id for r in store.runs(status="failed")] == ["run-3"]
    assert [r.run_id for r in store.runs(limit=2)] == ["run-3", "run-2"]
    assert [r.run_id for r in store.recent_successes("a", exclude="run-3", limit=5)] == ["run-1"]


def test_find_run_by_id_or_prefix(store: StateStore) -> None:
    store.start_run("20260101-abc", "p", "t")
    store.start_run("20260101-abd", "p", "t")
    store.start_run("x%_y", "p", "t")
    assert store.find_run("20260101-abc").run_id == "20260101-abc"  # type: ignore[union-attr]
    assert store.find_run("20260101-ab").run_id == "20260101-abd"  # type: ignore[union-attr]
    assert store.find_run("x%").run_id == "x%_y"  # type: ignore[union-attr]
    assert store.find_run("nope") is None


def test_set_run_target_masks_the_password(store: StateStore) -> None:
    store.start_run("r", "p", "duckdb:///a.duckdb")
    store.set_run_target("r", "postgresql://u:hunter2@h/db")
    assert store.runs()[0].target == "postgresql://u:***@h/db"


def test_release_and_claim_hand_a_run_between_processes(store: StateStore) -> None:
    store.start_run("r", "p", "t")
    store.release_run("r")
    run = store.runs()[0]
    assert (run.status, run.pid, run.attempts) == ("staged", None, 1)
    assert store.mark_dead_runs() == 0  # staged: owned by no process, not killed
    store.claim_run("r")
    run = store.runs()[0]
    assert (run.status, run.pid, run.attempts) == ("running", os.getpid(), 1)
    _finish(store, "r")
    store.release_run("r")  # only a running run is released
    assert store.runs()[0].status == "success"


def test_mark_dead_runs_judges_only_this_hosts_runs(store: StateStore) -> None:
    for run_id in ("dead", "elsewhere", "alive"):
        store.start_run(run_id, "p", "t")
    dead = _dead_pid()
    with store._transaction() as con:
        con.execute("UPDATE runs SET pid = ? WHERE run_id = 'dead'", (dead,))
        con.execute(
            "UPDATE runs SET pid = ?, host = 'other-host' WHERE run_id = 'elsewhere'", (dead,)
        )
    assert store.mark_dead_runs() == 1
    status = {r.run_id: (r.status, r.error) for r in store.runs()}
    assert status["dead"] == ("killed", "the process died before the run finished")
    assert status["elsewhere"][0] == "running" and status["alive"][0] == "running"
    assert store.mark_dead_runs() == 0


def test_resumable_run_is_the_newest_unfinished_one_with_the_same_spec(store: StateStore) -> None:
    store.start_run("old", "p", "t", spec_hash="h")
    _finish(store, "old")
    assert store.resumable_run("p", "h") is None  # succeeded
    store.start_run("new", "p", "t", spec_hash="h")
    with store._transaction() as con:
        con.execute("UPDATE runs SET pid = ?, started_at = started_at + 1", (_dead_pid(),))
    found = store.resumable_run("p", "h")  # its process is gone: killed, so resumable
    assert found is not None and (found.run_id, found.status) == ("new", "killed")
    assert store.resumable_run("p", "other-hash") is None
    assert store.resumable_run("other", "h") is None


def _entries() -> list[DlqEntry]:
    return [
        DlqEntry("orders", "a.csv", 2, "ragged", b"1,\xe9t\xe9,\x00\xff", context='{"f": 1}'),
        DlqEntry("orders", "a.csv", 3, "bad date", "2,2024-13-01"),
        DlqEntry("orders", None, None, "task failed", '{"task": "load:orders"}', kind="task"),
        DlqEntry("orders", "a.csv", 5, "empty", b""),
    ]


def test_dlq_payloads_round_trip_exactly(store: StateStore) -> None:
    assert store.add_dlq("r", _entries()) == 4
    found = store.dlq_entries("r")
    assert [e.payload for e in found] == [e.payload for e in _entries()]
    assert [type(e.payload) for e in found] == [bytes, str, str, bytes]
    first = found[0]
    assert (first.table, first.file, first.line, first.reason, first.kind) == (
        "orders", "a.csv", 2, "ragged", "row",
    )  # fmt: skip
    assert (first.context, first.run_id, first.status, first.attempts) == (
        '{"f": 1}',
        "r",
        "open",
        0,
    )
    assert first.payload_text() == "1,\\xe9t\\xe9,\x00\\xff"
    assert first.to_dict()["payload_base64"] == "MSzpdOksAP8="


def test_dlq_duplicates_are_kept_once(store: StateStore) -> None:
    store.add_dlq("r", _entries())
    store.add_dlq("r", [DlqEntry("orders", "a.csv", 2, "again", b"other")])
    store.add_dlq("r", _entries())
    store.add_dlq("r2", _entries()[:1])  # another run: its own entry
    found = store.dlq_entries("r")
    assert len(found) == 4 and found[0].reason == "ragged" and found[0].payload != b"other"
    assert len(store.dlq_entries()) == 5
    assert store.add_dlq("r", []) == 0


def test_dlq_replay_marks_and_filters(store: StateStore) -> None:
    store.add_dlq("r", _entries())
    ids = [e.id or 0 for e in store.dlq_entries("r")]
    assert all(ids) and ids == sorted(ids)
    store.mark_replayed([ids[0], ids[1]], "replay-1")
    store.mark_still_bad({ids[2]: "still failing", ids[3]: "still empty"})
    store.mark_still_bad({ids[3]: "still empty"})
    by_id = {e.id: e for e in store.dlq_entries()}
    assert (by_id[ids[0]].status, by_id[ids[0]].replay_run_id, by_id[ids[0]].attempts) == (
        "replayed", "replay-1", 1,
    )  # fmt: skip
    assert (by_id[ids[3]].status, by_id[ids[3]].reason, by_id[ids[3]].attempts) == (
        "open", "still empty", 2,
    )  # fmt: skip
    assert [e.id for e in store.dlq_entries(status="open")] == ids[2:]
    assert [e.id for e in store.dlq_entries("r", status="replayed")] == ids[:2]
    assert [e.id for e in store.dlq_entries(ids=[ids[1], ids[3]])] == [ids[1], ids[3]]
    assert store.dlq_entries(ids=[]) == []
    assert [e.id for e in store.dlq_entries(limit=1)] == ids[:1]
    assert store.dlq_entries("other") == []


@pytest.mark.parametrize("payload", [b"\x00" * 3 + bytes(range(256)), "caf\u00e9 \u2603 100%", ""])
def test_any_payload_round_trips(store: StateStore, payload: str | bytes) -> None:
    store.add_dlq("r", [DlqEntry("t", "f.csv", 1, "why", payload)])
    (entry,) = store.dlq_entries("r")
    assert entry.payload == payload and type(entry.payload) is type(payload)
