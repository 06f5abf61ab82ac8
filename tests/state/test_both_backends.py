"""What must read the same whichever backend holds the state: text with NUL in it, the order
of names, and the runs an interrupted process marks (its own, by pid and host, however old)."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl.settings import Settings
from agent_orchestrated_etl.state import DlqEntry, StateStore
from tests.servers import Postgres


def test_text_with_nul_is_kept_in_the_quarantine_and_the_history(store: StateStore) -> None:
    payload = "1,a\x00b,\xe9"
    store.add_dlq("r", [DlqEntry("t", "f.csv", 1, "could not convert 'a\x00b'", payload)])
    store.add_dlq(
        "r",
        [DlqEntry("t", "f.csv", 2, "bytes", b"2,\x00\xff"), DlqEntry("t", "f.csv", 3, "empty", "")],
    )
    first, raw, empty = store.dlq_entries("r")
    assert (first.payload, raw.payload, empty.payload) == (payload, b"2,\x00\xff", "")
    assert first.reason in ("could not convert 'a\x00b'", "could not convert 'a\\x00b'")
    store.start_run("r1", "p", "t")
    store.finish_run("r1", status="failed", duration_s=1, rows_loaded=0, rows_rejected=0,
                     error="bad value 'a\x00b'", result={"error": "a\x00b"})  # fmt: skip
    (run,) = store.runs()
    assert run.error is not None and run.error.replace("\\x00", "\x00") == "bad value 'a\x00b'"


NAMES = ["Orders", "customers", "order_items", "orders2", "Ärger", "_x"]


@pytest.fixture
def icu_url(postgres: Postgres) -> str:
    """A schema in a database whose collation is ICU's en-US (letters before case)."""
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = 'state_icu'").fetchone():
            con.execute(
                "CREATE DATABASE state_icu LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                "LOCALE 'C.UTF-8' TEMPLATE template0"
            )
    return f"{postgres.url(db='state_icu')}?schema=t_{os.urandom(6).hex()}"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql-icu"])
def test_names_are_ordered_by_code_point_on_both(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = "" if backend == "sqlite" else request.getfixturevalue("icu_url")
    store = StateStore(tmp_path, url=url)
    store.quality.add_check_results(
        "r", [{"table": t, "name": n, "status": "passed"} for t in NAMES for n in ("b", "B")]
    )
    for i, t in enumerate(NAMES):
        store.quality.add_profile({"resource": f"w#{t}", "table": t, "run_id": "r", "taken_at": i})
    ordered = sorted(NAMES)  # Python's order is the code points'
    assert [(r["table"], r["name"]) for r in store.quality.check_results("r")] == [
        (t, n) for t in ordered for n in ("B", "b")
    ]
    assert [p.table for p in store.quality.run_profiles("r")] == ordered


def test_an_interrupted_process_marks_its_own_runs_only(
    state_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent_orchestrated_etl.engine  # noqa: F401  (a run has it imported: not timed here)
    from agent_orchestrated_etl.cli._signals import mark_interrupted

    home = tmp_path / ".aoetl"
    if state_url:
        monkeypatch.setenv("AOETL_STATE_URL", state_url)
    store = StateStore(home)
    store.start_run("mine-old", "orders", "t")
    store.start_run("theirs", "orders", "t")  # another machine's process with this pid
    for i in range(21):  # more newer runs of other workers than the old window of 20
        store.start_run(f"other-{i}", "p", "t")
        store.finish_run(f"other-{i}", status="success", duration_s=1, rows_loaded=1,
                         rows_rejected=0, error=None, result={})  # fmt: skip
    with store._transaction() as con:
        con.execute("UPDATE runs SET host = 'worker-b' WHERE run_id = 'theirs'")
        con.execute("UPDATE runs SET host = 'worker-c' WHERE run_id LIKE 'other-%'")
        con.execute("UPDATE runs SET started_at = started_at - 3600, pid = ? WHERE run_id IN "
                    "('mine-old', 'theirs')", (os.getpid(),))  # fmt: skip
    assert [m["run_id"] for m in mark_interrupted(home)] == ["mine-old"]
    status = {r.run_id: r.status for r in store.runs(limit=100)}
    assert (status["mine-old"], status["theirs"]) == ("interrupted", "running")


def test_the_settings_never_show_a_state_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The state URL is the environment's alone (every StateStore reads it), never a run
    setting that a DataOrchestrator would take and then not use."""
    env = {"AOETL_STATE_URL": "postgresql://u:s3cret-pw@db/etl", "AOETL_WORKERS": "2"}
    loaded = Settings.load(env=env, flags={"home": "h"})
    assert loaded.workers == 2 and "s3cret" not in repr(loaded)
    with pytest.raises(TypeError):
        Settings(home=Path("h"), state_url="postgresql://u:s3cret-pw@db/etl")  # type: ignore[call-arg]
