"""Two processes sharing one PostgreSQL state store: workers committing different runs, and
two attempts of the same run (a zombie task and its retry) racing on one record."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from agent_orchestrated_etl.state import StateStore

# argv: home, url, go-file, mode, worker number. Each statement is a real state call of a run.
WORKER = """
import os, sys, time
from pathlib import Path
from agent_orchestrated_etl.state import DlqEntry, StateStore
home, url, go, mode, me = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
store = StateStore(Path(home), url=url)
Path(f"{go}.{me}").touch()
while not os.path.exists(go):
    time.sleep(0.001)
for i in range(60):
    run_id = f"w{me}-{i}" if mode == "distinct" else "shared"
    store.start_run(run_id, "p", "t")
    rows = [DlqEntry("orders", "a.csv", line, "bad", bytes([me, i, line])) for line in (1, 2)]
    store.add_dlq(run_id, rows if mode == "distinct" else [
        DlqEntry("orders", "a.csv", i % 7, "bad", b"same")])
    store.audit.record_call("agent", "extract", ok=True, rows=2, seconds=0.01)
    store.quality.add_profile({"resource": "w#orders", "table": "orders", "run_id": run_id,
                               "taken_at": time.time(), "depth": f"w{me}"})
    store.release_run(run_id)
    store.claim_run(run_id)
    store.finish_run(run_id, status="success", duration_s=0.1, rows_loaded=i, rows_rejected=2,
                     error=None, result={"worker": me})
    store.mark_dead_runs()
"""


def _race(tmp_path: Path, url: str, mode: str) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"h{n}"), url, str(go), mode, str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors


def test_two_workers_committing_different_runs(pg_url: str, tmp_path: Path) -> None:
    StateStore(tmp_path / "h0", url=pg_url)  # the schema exists: the race is on the data
    _race(tmp_path, pg_url, "distinct")
    store = StateStore(tmp_path / "h0", url=pg_url)
    runs = store.runs(limit=1000)
    assert len(runs) == 120 and {r.status for r in runs} == {"success"}
    assert {r.attempts for r in runs} == {1}
    by_id = {r.run_id: r for r in runs}
    assert by_id["w1-59"].rows_loaded == 59 and by_id["w2-7"].rows_loaded == 7
    entries = store.dlq_entries()
    assert len(entries) == 240 and len({e.id for e in entries}) == 240
    assert {e.payload for e in store.dlq_entries("w2-5")} == {bytes([2, 5, 1]), bytes([2, 5, 2])}
    stats = store.audit.stats()[("agent", "extract")]
    assert (stats.calls, stats.rows) == (120, 240)
    assert [p.depth for p in store.quality.run_profiles("w2-7")] == ["w2"]


def test_two_attempts_of_one_run_leave_one_consistent_record(pg_url: str, tmp_path: Path) -> None:
    _race(tmp_path, pg_url, "same")  # and the two open a new store at once
    store = StateStore(tmp_path / "h0", url=pg_url)
    (run,) = store.runs()
    assert (run.run_id, run.status, run.attempts, run.rows_loaded) == ("shared", "success", 120, 59)
    lines = sorted(e.line or 0 for e in store.dlq_entries("shared"))
    assert lines == list(range(7))  # the unique identity held: no duplicate row
    (profile,) = store.quality.run_profiles("shared")  # replaced by each attempt, never doubled
    assert profile.depth in ("w1", "w2")


def test_a_profile_written_while_another_attempt_writes_it_is_not_doubled(
    pg_url: str, tmp_path: Path
) -> None:
    """Attempt 1 of a check task has written its profile, not committed yet; attempt 2 writes
    the same run's profile meanwhile (READ COMMITTED sees nothing to replace)."""
    import threading

    import psycopg

    store = StateStore(tmp_path, url=pg_url)
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(pg_url.split("?")[0]) as first:  # a transaction, left open
        first.execute(
            f"INSERT INTO {schema}.profiles (resource, table_name, run_id, taken_at, depth, "
            "profile_json) VALUES ('w#orders', 'orders', 'run-1', 1, 'first', '{}')"
        )
        second = threading.Thread(
            target=store.quality.add_profile,
            args=({"resource": "w#orders", "table": "orders", "run_id": "run-1", "depth": "2nd"},),
        )
        second.start()
        time.sleep(0.3)
        first.commit()
    second.join(10)
    assert [p.depth for p in store.quality.run_profiles("run-1")] == ["2nd"]
