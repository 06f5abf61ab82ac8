"""A DAG written by ``aoetl dag`` runs in real Airflow (``airflow dags test``), loads what
``aoetl run`` loads, and a second run of the same logical date loads nothing twice; a task
that fails on bad input fails for good, without a retry, and commits nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from tests.helpers import AirflowHome, airflow_shop, finish, query, run_cli

DATE = "2026-01-02"


def table_rows(db: Path, table: str) -> list[tuple[object, ...]]:
    return query(db, f'SELECT * FROM "{table}" ORDER BY ALL')


def runs(root: Path, **env: str) -> list[dict[str, object]]:
    done = run_cli("runs", "--json", cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    records: list[dict[str, object]] = json.loads(done.stdout)
    return records


def export(pipeline: Path, dags: Path, name: str) -> None:
    made = run_cli("dag", str(pipeline), "-o", str(dags / f"{name}.py"), cwd=pipeline.parent)
    assert made.returncode == 0, made.stderr


@pytest.fixture(scope="module")
def failing(
    airflow: AirflowHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """A DAG whose check fails (orders.customer is not unique), started at once on a copy of
    the metadata database: Airflow's start is slow, so it runs alongside the other test."""
    root = tmp_path_factory.mktemp("failing")
    pipeline = airflow_shop(root, name="shop_bad", customers=False)
    text = pipeline.read_text().replace("columns: [id]", "columns: [customer]")
    pipeline.write_text(
        text.replace("max_bad_rows: 10", "max_bad_rows: 10\nretries: {attempts: 3}")
    )
    export(pipeline, airflow.dags, "shop_bad")
    log = root / "airflow.log"
    proc = airflow.copy("failing_home").start("dags", "test", "shop_bad", DATE, log=log)
    yield proc, log, root
    if proc.poll() is None:
        proc.kill()
        proc.wait()


# Several Airflow processes, each ~20 s of CPU: on a loaded machine, more than 300 s.
@pytest.mark.timeout(900)
def test_generated_dag_runs_in_airflow_and_loads_what_aoetl_run_loads(
    airflow: AirflowHome,
    failing: tuple[subprocess.Popen[str], Path, Path],
    tmp_path: Path,
) -> None:
    pipeline = airflow_shop(tmp_path)
    export(pipeline, airflow.dags, "shop")
    started = airflow.start("dags", "test", "shop", DATE, log=tmp_path / "first.log")
    plain = run_cli("run", str(pipeline), "--to", "duckdb:///plain.duckdb", cwd=tmp_path,
                    env={"AOETL_HOME": str(tmp_path / "plain-home")})  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    code, log = finish(started, tmp_path / "first.log")
    assert code == 0, log[-4000:]
    run_id = f"shop.{DATE}T00:00:00+00:00"
    assert f"aoetl task commit of run {run_id}: success" in log

    target, other = tmp_path / "warehouse.duckdb", tmp_path / "plain.duckdb"
    for table in ("customers", "orders"):
        assert table_rows(target, table) == table_rows(other, table)
    assert [r[0] for r in table_rows(target, "orders")] == [1, 2, 4, 5]
    (record,) = runs(tmp_path)  # the DAG's home: the one `aoetl dag` ran with
    (alone,) = runs(tmp_path, AOETL_HOME=str(tmp_path / "plain-home"))
    assert record["run_id"] == run_id and record["status"] == "success"
    assert (record["rows_loaded"], record["rows_rejected"]) == (6, 1)
    assert (alone["rows_loaded"], alone["rows_rejected"]) == (6, 1)
    (bad,) = DataOrchestrator(tmp_path / ".aoetl").dlq(run_id)
    assert (bad.table, bad.line, Path(bad.file or "").name) == ("orders", 4, "orders_1.csv")

    # The same logical date again: the same aoetl run, already committed.
    code, log = airflow.run("dags", "test", "shop", DATE, log=tmp_path / "again.log")
    assert code == 0, log[-4000:]
    assert f"run {run_id} was already committed; nothing to do" in log
    for table in ("customers", "orders"):
        assert table_rows(target, table) == table_rows(other, table)
    (record,) = runs(tmp_path)
    assert record["status"] == "success" and record["rows_loaded"] == 6


def test_a_failed_check_fails_the_task_for_good_and_commits_nothing(
    failing: tuple[subprocess.Popen[str], Path, Path],
) -> None:
    proc, log_path, root = failing
    code, log = finish(proc, log_path)
    assert code != 0
    run_id = f"shop_bad.{DATE}T00:00:00+00:00"
    # aoetl's one line, raised as AirflowFailException: the task is failed, never retried,
    # although the spec allows 3 attempts.
    assert "AirflowFailException" in log, log[-4000:]
    assert (
        f"AirflowFailException: task check:orders of run {run_id} failed: table 'orders' "
        "failed check unique:orders.customer (2 of 4 rows repeat a value of (customer)"
    ) in log
    assert log.count("[DAG TEST] starting task_id=orders.check") == 1
    assert "up_for_retry" not in log.lower()
    assert "[DAG TEST] starting task_id=commit" not in log
    tables = query(root / "warehouse.duckdb", "SELECT table_name FROM duckdb_tables()")
    assert ("orders",) not in tables
    (record,) = runs(root)
    assert record["run_id"] == run_id and record["status"] == "failed"
