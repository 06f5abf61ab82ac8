"""The PostgreSQL state store as a user meets it: ``AOETL_STATE_URL`` (a reference allowed)
behind ``aoetl run``, ``aoetl runs`` and ``aoetl dlq list``; one-line errors that never show
the password; a connection the server dropped is replaced."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl.errors import TransientError, UserError
from agent_orchestrated_etl.state import StateStore
from tests.helpers import run_cli
from tests.servers import Postgres, free_port


def test_a_run_its_history_and_its_quarantine_live_in_postgresql(
    pg_url: str, state_pg: Postgres, tmp_path: Path
) -> None:
    (tmp_path / "orders.csv").write_text("id,amount\n1,1.5\n2,2.5,extra\n3,3.5\n")
    # A reference, as a deployment writes it: the URL itself comes from another variable.
    env = {"AOETL_STATE_URL": "${env:SHARED_STATE}", "SHARED_STATE": pg_url}
    ran = run_cli(
        "run", "orders.csv", "--to", "duckdb:///w.duckdb", "--json", cwd=tmp_path, env=env
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    table = result["tables"]["orders"]
    assert (result["status"], table["rows_loaded"], table["rows_rejected"]) == ("success", 2, 1)
    runs = run_cli("runs", "--json", cwd=tmp_path, env=env)
    assert [(r["run_id"], r["status"], r["rows_rejected"]) for r in json.loads(runs.stdout)] == [
        (result["run_id"], "success", 1)
    ]
    dlq = run_cli("dlq", "list", "--json", cwd=tmp_path, env=env)
    (entry,) = json.loads(dlq.stdout)
    assert (entry["run_id"], entry["line"], entry["payload"]) == (
        result["run_id"],
        3,
        "2,2.5,extra",
    )
    assert not (tmp_path / ".aoetl" / "state.db").exists()
    # The record is in PostgreSQL, in the URL's schema; SQLite's home holds none of it.
    schema = pg_url.rsplit("schema=", 1)[1]
    with psycopg.connect(state_pg.url()) as con:
        status = con.execute(f"SELECT status FROM {schema}.runs").fetchall()
    assert status == [("success",)]
    for out in (ran, runs, dlq):
        assert state_pg.password not in out.stdout + out.stderr
    # Without the variable, the same home has no history: it was never written there.
    alone = run_cli("runs", "--json", cwd=tmp_path, env={"AOETL_STATE_URL": ""})
    assert json.loads(alone.stdout) == []


def _refused(tmp_path: Path, url: str, *flags: str) -> tuple[int, str]:
    out = run_cli(*flags, "runs", "--json", cwd=tmp_path, env={"AOETL_STATE_URL": url})
    return out.returncode, out.stdout + out.stderr


def test_a_wrong_password_is_one_line_without_the_password(
    state_pg: Postgres, tmp_path: Path
) -> None:
    wrong = "Wr0ng-" + state_pg.password[::-1]
    code, said = _refused(tmp_path, state_pg.url(password=wrong))
    assert code == 2 and "password authentication failed" in said, said
    assert "check the user and the password" in said and len(said.strip().splitlines()) == 1
    code, said = _refused(tmp_path, state_pg.url(password=wrong), "-v")  # the traceback too
    assert wrong not in said and state_pg.password not in said


def test_a_server_that_is_down_is_transient_and_says_what_to_check(tmp_path: Path) -> None:
    url = f"postgresql://aoetl:s3cret-pw@127.0.0.1:{free_port()}/db"
    code, said = _refused(tmp_path, url)
    assert code == 1 and "s3cret-pw" not in said
    assert "the state store AOETL_STATE_URL=postgresql://aoetl:***@127.0.0.1" in said
    assert "check that the server is running" in said and len(said.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://u:s3cret-pw@h/db", "is not a PostgreSQL URL"),
        ("postgresql://u:s3cret-pw@h/db?schema=a;drop", "is not a plain PostgreSQL name"),
        ("postgresql+psycopg://u:s3cret-pw@h:port/db", "is not a valid PostgreSQL URL"),
        (
            "postgres://u:s3cret-pw@h/db?sslmode=maybe&bogus=1",
            'invalid URI query parameter: "bogus"',
        ),
        ("${env:NO_SUCH_VARIABLE_HERE}", "AOETL_STATE_URL: cannot resolve ${env:NO_SUCH"),
    ],
)
def test_a_bad_url_is_a_user_error(tmp_path: Path, url: str, words: str) -> None:
    code, said = _refused(tmp_path, url)
    assert code == 2 and words in said and "s3cret-pw" not in said, said
    assert len(said.strip().splitlines()) == 1
    with pytest.raises(UserError):
        StateStore(tmp_path, url=url)


def test_a_connection_the_server_dropped_is_replaced(pg_url: str, tmp_path: Path) -> None:
    store = StateStore(tmp_path, url=pg_url)
    store.start_run("r", "p", "t")

    def kill() -> None:
        with store._connect() as con:
            (pid,) = con.execute("SELECT pg_backend_pid()").fetchone()
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    kill()
    assert [r.run_id for r in StateStore(tmp_path, url=pg_url).runs()] == ["r"]  # opening retries
    kill()
    assert [r.run_id for r in store.runs()] == ["r"]  # its first statement, again on a new one
    kill()
    with store._transaction() as con:  # a transaction's BEGIN too
        con.execute("UPDATE runs SET error = 'e'")
    dropped = pytest.raises(TransientError, match="state store postgresql://postgres:\\*\\*\\*@")
    with dropped, store._connect() as con:  # dropped in the middle of a call: retryable
        con.execute("SELECT 1")
        kill()
        con.execute("SELECT 1")
    with store._transaction() as con:  # and transactions are real: a failure rolls back
        con.execute("UPDATE runs SET status = 'x'")
    with pytest.raises(RuntimeError), store._transaction() as con:
        con.execute("UPDATE runs SET status = 'rolled back'")
        raise RuntimeError("stop")
    assert store.runs()[0].status == "x"


def test_each_thread_reuses_one_connection_and_closes_it_at_its_end(
    pg_url: str, tmp_path: Path
) -> None:
    import gc
    import threading
    import time

    pids: dict[int, set[int]] = {}

    def work(n: int) -> None:
        store = StateStore(tmp_path, url=pg_url)
        for _ in range(20):
            store.start_run(f"r{n}", "p", "t")
            with store._connect() as con:
                pids.setdefault(n, set()).add(con.execute("SELECT pg_backend_pid()").fetchone()[0])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [len(p) for p in pids.values()] == [1, 1, 1, 1]  # reused for all 40 calls
    used = set.union(*pids.values())
    assert len(used) == 4 and StateStore(tmp_path, url=pg_url).runs()[0].attempts == 20
    gc.collect()
    deadline = time.monotonic() + 5
    with psycopg.connect(pg_url.split("?")[0], autocommit=True) as admin:
        while time.monotonic() < deadline:
            rows = admin.execute("SELECT pid FROM pg_stat_activity").fetchall()
            if not used & {r[0] for r in rows}:
                break
            time.sleep(0.05)
        assert not used & {r[0] for r in rows}  # the threads' connections were closed


def test_an_interrupted_process_marks_its_runs_in_the_shared_store(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent_orchestrated_etl.engine  # noqa: F401  (a run has it imported: not timed here)
    from agent_orchestrated_etl.cli._signals import mark_interrupted

    monkeypatch.setenv("AOETL_STATE_URL", pg_url)
    home = tmp_path / ".aoetl"
    StateStore(home).start_run("mine", "p", "t")
    (marked,) = mark_interrupted(home)  # no state.db in the home: the store is PostgreSQL's
    assert (marked["run_id"], marked["status"]) == ("mine", "interrupted")
    assert StateStore(home).runs()[0].status == "interrupted"
    assert not (home / "state.db").exists()
