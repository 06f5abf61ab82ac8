"""Every task of a generated DAG in its own process (``airflow tasks test``), the state in a
real PostgreSQL that the processes share: the same target and run record as ``aoetl run``.
A zombie and its retry at once, a retry of a load that already staged, and two runs at once
never load twice (those run ``aoetl run --task``, the code each Airflow task runs: Airflow's
own start costs about 20 s of CPU a process)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import AOETL, AirflowHome, airflow_shop, query, run_cli
from tests.servers import Postgres

DATE = "2026-01-02"


@pytest.fixture(scope="module")
def state_url(postgres: Postgres) -> str:
    return postgres.database("airflow_state").url()


def orders(db: Path) -> list[tuple[object, ...]]:
    return query(db, "SELECT * FROM orders ORDER BY ALL")


def record(root: Path, run_id: str, state_url: str) -> dict[str, object]:
    done = run_cli("runs", "--json", "--limit", "1000", cwd=root,
                   env={"AOETL_STATE_URL": state_url})  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: list[dict[str, object]] = [r for r in json.loads(done.stdout) if r["run_id"] == run_id]
    assert len(found) == 1, found
    return found[0]


# Several Airflow processes, each ~20 s of CPU: on a loaded machine, more than 300 s.
@pytest.mark.timeout(900)
def test_each_task_in_its_own_process_gives_what_aoetl_run_gives(
    airflow: AirflowHome, state_url: str, tmp_path: Path
) -> None:
    pipeline = airflow_shop(tmp_path, name="orders_pg", customers=False)
    made = run_cli("dag", str(pipeline), "-o", str(airflow.dags / "orders_pg.py"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    plain = run_cli("run", str(pipeline), "--to", "duckdb:///plain.duckdb", cwd=tmp_path,
                    env={"AOETL_HOME": str(tmp_path / "plain-home")})  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    run_id = f"orders_pg.{DATE}T00:00:00+00:00"
    target = tmp_path / "warehouse.duckdb"
    for n, task in enumerate(("orders.load", "orders.check", "commit")):  # dependency order
        log = tmp_path / f"{n}-{task}.log"
        code, out = airflow.run("tasks", "test", "orders_pg", task, DATE, log=log,
                                AOETL_STATE_URL=state_url)  # fmt: skip
        assert code == 0, out[-4000:]
        assert f"aoetl task {task.replace('orders.', '')}:orders" in out or task == "commit"
        assert state_url.split("@")[0].split(":")[-1] not in out  # the password
        if task != "commit":
            assert ("orders",) not in query(target, "SELECT table_name FROM duckdb_tables()")
    assert orders(target) == orders(tmp_path / "plain.duckdb")
    assert [r[0] for r in orders(target)] == [1, 2, 4, 5]
    shared = record(tmp_path, run_id, state_url)
    done = run_cli("runs", "--json", cwd=tmp_path, env={"AOETL_HOME": str(tmp_path / "plain-home")})
    (alone,) = json.loads(done.stdout)
    fields = ("status", "rows_loaded", "rows_rejected")
    assert [shared[f] for f in fields] == [alone[f] for f in fields] == ["success", 4, 1]
    local = run_cli("runs", "--json", cwd=tmp_path)  # the SQLite state never saw the run
    assert run_id not in local.stdout


def aoetl_task(pipeline: Path, task: str, run_id: str, state_url: str) -> subprocess.Popen[str]:
    """``aoetl run PIPELINE --task TASK --run-id RUN``, what run_task runs, in the background."""
    env = {**os.environ, "AOETL_STATE_URL": state_url, "AOETL_HOME": str(pipeline.parent / "h")}
    return subprocess.Popen(
        [AOETL, "run", str(pipeline), "--task", task, "--run-id", run_id, "--json"],
        cwd=pipeline.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def together(*procs: subprocess.Popen[str]) -> list[tuple[int, str, str]]:
    """Wait for processes started at once: each one's exit code, stdout and stderr."""
    outputs = [p.communicate(timeout=120) for p in procs]
    return [(p.returncode, *out) for p, out in zip(procs, outputs, strict=True)]


def test_a_zombie_and_its_retry_at_once_load_once(state_url: str, tmp_path: Path) -> None:
    # A DuckDB file takes one writer: the later attempt waits for the lock, as a pipeline
    # run on Airflow should (docs/deployment.md).
    pipeline = airflow_shop(tmp_path, name="zombie_pg", customers=False, lock_timeout_s=60)
    run_id = "zombie_pg.2026-01-03T00:00:00+00:00"
    both = together(*(aoetl_task(pipeline, "load:orders", run_id, state_url) for _ in range(2)))
    assert [code for code, _, _ in both] == [0, 0], both  # both staged, one after the other
    # Airflow's retry of the load after it staged: stages again, in place of the first.
    ((code, out, err),) = together(aoetl_task(pipeline, "load:orders", run_id, state_url))
    assert code == 0, (out, err)
    for task in ("check:orders", "commit"):
        ((code, out, err),) = together(aoetl_task(pipeline, task, run_id, state_url))
        assert code == 0, (out, err)
    assert [r[0] for r in orders(tmp_path / "warehouse.duckdb")] == [1, 2, 4, 5]
    shared = record(tmp_path, run_id, state_url)
    assert (shared["status"], shared["rows_loaded"], shared["rows_rejected"]) == ("success", 4, 1)


def test_two_runs_at_once_on_the_shared_state_both_succeed(state_url: str, tmp_path: Path) -> None:
    # Two DAGs' runs on two workers: one DAG runs one run at a time (max_active_runs=1), since
    # two unfinished runs of one pipeline share its tables' staging.
    pipelines = [airflow_shop(tmp_path / n, name=f"two_{n}", customers=False) for n in "ab"]
    runs = [f"two_{n}.2026-01-0{d}T00:00:00+00:00" for n, d in (("a", 4), ("b", 5))]
    for task in ("load:orders", "check:orders", "commit"):
        done = together(
            *(aoetl_task(p, task, r, state_url) for p, r in zip(pipelines, runs, strict=True))
        )
        assert all(code == 0 for code, _, _ in done), [
            (task, code, json.loads(out)["error"] if out else err) for code, out, err in done
        ]
    for pipeline, run_id in zip(pipelines, runs, strict=True):
        assert [r[0] for r in orders(pipeline.parent / "warehouse.duckdb")] == [1, 2, 4, 5]
        shared = record(pipeline.parent, run_id, state_url)
        assert (shared["status"], shared["rows_loaded"], shared["rows_rejected"]) == (
            "success", 4, 1,
        )  # fmt: skip
