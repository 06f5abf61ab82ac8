"""The entry point the generated DAGs call, without an Airflow scheduler: its import stays
cheap, run ids from a task's context, the summary it returns, and what it raises."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from agent_orchestrated_etl.airflow import run_id_for, run_task
from agent_orchestrated_etl.pipeline.context import check_run_id
from tests.helpers import airflow_shop, query

WHEN = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)


def test_importing_the_entry_point_imports_nothing_heavy() -> None:
    code = (
        "import sys, agent_orchestrated_etl.airflow as a; "
        "print([m for m in ('airflow', 'pyarrow', 'duckdb', 'pydantic', 'agent_orchestrated_etl"
        ".api') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_run_ids_come_from_the_dag_and_its_logical_date() -> None:
    dag = SimpleNamespace(dag_id="shop")
    assert run_id_for({"dag": dag, "logical_date": WHEN}) == "shop.2026-01-02T00:00:00+00:00"
    # A DAG run without a logical date (triggered with none): its Airflow run id.
    run = SimpleNamespace(dag_id="shop", logical_date=None, run_id="manual__2026-01-02T10:00:00")
    assert run_id_for({"dag_run": run}) == "shop.manual__2026-01-02T10:00:00"
    # Characters a run id cannot hold become _, and it starts with a letter or digit.
    odd = run_id_for({"dag": SimpleNamespace(dag_id="_shop"), "run_id": "a b/c"})
    assert odd == "r_shop.a_b_c" and check_run_id(odd)
    long_a = run_id_for({"dag": SimpleNamespace(dag_id="d" * 250), "logical_date": WHEN})
    long_b = run_id_for({"dag": SimpleNamespace(dag_id="d" * 251), "logical_date": WHEN})
    assert len(long_a) == len(long_b) == 200 and long_a != long_b
    assert check_run_id(long_a)


def test_a_task_returns_a_small_summary_and_a_commit_loads(work: Path) -> None:
    pipeline = airflow_shop(work / "shop", customers=False)
    # The file's own document: its paths relative, read from base_dir as an embedded spec's.
    document = yaml.safe_load(pipeline.read_text())
    assert document["source"] == "data/"
    staged = run_task(document, "load:orders", "shop.r1", base_dir=pipeline.parent)
    assert staged["tables"] == {"orders": {"rows_loaded": 4, "rows_rejected": 1}}
    assert (staged["run_id"], staged["task"], staged["status"]) == (
        "shop.r1",
        "load:orders",
        "success",
    )
    json.dumps(staged)  # XCom takes it
    checked = run_task(document, "check:orders", "shop.r1", base_dir=pipeline.parent)
    assert checked["status"] == "success" and checked["tables"] == {}
    done = run_task(str(pipeline), "commit", "shop.r1", home=work / "ignored")
    assert done["status"] == "success" and done["tables"]["orders"]["rows_loaded"] == 4
    assert query(pipeline.parent / "warehouse.duckdb", "SELECT count(*) FROM orders") == [(4,)]
    assert not (work / "ignored").exists()  # AOETL_HOME in the environment wins


def test_bad_input_fails_for_good_and_an_outage_is_retried(work: Path) -> None:
    # In a process of its own: the failure imports airflow, which reconfigures the process.
    code = """
import json, sys
from agent_orchestrated_etl.airflow import run_task
out = []
for source in ("missing/*.csv", "postgresql://u:hunter2secret@127.0.0.1:1/db"):
    doc = {"name": "p", "source": {"uri": source, "tables": ["x"]} if "//" in source else source,
           "target": "duckdb:///t.duckdb", "retries": {"attempts": 5, "base_s": 0.01}}
    try:
        run_task(doc, "load:x", "p.r1", base_dir=sys.argv[1])
    except Exception as exc:
        out.append([type(exc).__module__ + "." + type(exc).__name__, str(exc)])
print(json.dumps(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(work)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (bad, outage) = json.loads(done.stdout.strip().splitlines()[-1])
    assert bad == [
        "airflow.sdk.exceptions.AirflowFailException",
        f"task load:x of run p.r1 failed: source {work}/missing/*.csv matches no files",
    ]
    kind, message = outage
    assert kind == "agent_orchestrated_etl.airflow.TaskFailed"
    # One attempt in the process, although the spec allows 5: Airflow owns the retries.
    assert "cannot connect to 127.0.0.1:1 after 1 attempt" in message
    assert "hunter2secret" not in message and "\n" not in message


def test_a_task_waits_for_a_duckdb_file_another_task_holds(work: Path) -> None:
    # Two load tasks of one DAG run on two workers at once: the second finds the DuckDB file
    # open and waits for it (the CLI would fail at once), then stages its table.
    pipeline = airflow_shop(work / "shop")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(2); con.close()",
            str(pipeline.parent / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        staged = run_task(str(pipeline), "load:customers", "shop.held")
    finally:
        holder.wait(timeout=30)
    assert staged["status"] == "success"
    assert staged["tables"] == {"customers": {"rows_loaded": 2, "rows_rejected": 0}}


def test_a_state_store_that_cannot_open_fails_the_task_as_airflow_should(work: Path) -> None:
    # The state store opens before the task runs: a bad URL is bad input (no retry), a
    # server that is down is transient (retried); either is aoetl's one line, masked.
    code = """
import json, os, sys
from agent_orchestrated_etl.airflow import run_task
out = []
doc = {"name": "p", "source": "in.csv", "target": "duckdb:///t.duckdb"}
for url in ("postgresql://u:hunter2secret@127.0.0.1:99999/db",
            "postgresql://u:hunter2secret@127.0.0.1:1/db?connect_timeout=2"):
    os.environ["AOETL_STATE_URL"] = url
    try:
        run_task(doc, "load:in", "p.r1", base_dir=sys.argv[1])
    except Exception as exc:
        out.append([type(exc).__name__, str(exc)])
print(json.dumps(out))
"""
    (work / "in.csv").write_text("a\n1\n")
    done = subprocess.run(
        [sys.executable, "-c", code, str(work)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (bad, down) = json.loads(done.stdout.strip().splitlines()[-1])
    assert bad[0] == "AirflowFailException" and "AOETL_STATE_URL" in bad[1], bad
    assert down[0] == "TaskFailed" and "state store" in down[1], down
    for _, message in (bad, down):
        assert message.startswith("task load:in of run p.r1 failed: ")
        assert "hunter2secret" not in message and "\n" not in message
