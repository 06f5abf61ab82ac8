"""Checks in a pipeline through the real CLI: warn, quarantine and fail on a DuckDB target
(and fail on PostgreSQL), the check task in its own process, results in --json and the
state DB, and bad check specs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_orchestrated_etl.api import DataOrchestrator
from agent_orchestrated_etl.errors import SpecError, UserError
from agent_orchestrated_etl.spec import PipelineSpec, load_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import query, run_cli
from tests.servers import Postgres

pytestmark = pytest.mark.e2e

GOOD = "id,status,amount\n1,paid,10\n2,paid,20\n3,refund,30\n"
# id 2 repeats, one amount is out of range, one status is not accepted, one is missing.
MIXED = "id,status,amount\n1,paid,10\n2,paid,20\n2,paid,25\n3,refund,-5\n4,lost,40\n5,,50\n"
CHECKS = """
checks:
  - {check: unique, column: id, severity: quarantine}
  - {check: range, column: amount, min: 0, name: amount_positive, severity: quarantine}
  - {check: accepted_values, column: status, values: [paid, refund], severity: warn}
  - {check: row_count, min: 1}
"""


def pipeline(root: Path, data: str, checks: str, target: str = "duckdb:///w.duckdb") -> None:
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "orders.csv").write_text(data)
    (root / "p.yaml").write_text(
        f"name: checked\nsource: data/\ntarget: {target}\nmode: replace\n{checks}"
    )


def test_warn_and_quarantine_load_the_passing_rows_and_set_the_rest_aside(
    work: Path, orch: DataOrchestrator
) -> None:
    pipeline(work, MIXED, CHECKS)
    result = orch.run(work / "p.yaml").to_dict()  # what --json prints
    assert result["status"] == "success", result["error"]
    assert result["tables"]["orders"]["rows_loaded"] == 4
    assert result["tables"]["orders"]["rows_rejected"] == 2  # counted, not against the ratio
    checks = {c["name"]: c for c in result["checks"]}
    assert {n: (c["status"], c["failing"]) for n, c in checks.items()} == {
        "unique:*.id": ("quarantined", 1),
        "amount_positive": ("quarantined", 1),
        # The warn check judges what was staged: the quarantined rows are not in it, and a
        # missing status is for not_null to judge.
        "accepted_values:*.status": ("warned", 1),
        "row_count:*": ("passed", 0),
    }
    assert any("accepted_values:*.status on table orders" in n for n in result["notes"])
    rows = query(work / "w.duckdb", "SELECT id, amount FROM orders ORDER BY id")
    assert rows == [(1, 10), (2, 20), (4, 40), (5, 50)]  # the first of the repeated ids stays

    entries = orch.dlq(result["run_id"])
    assert sorted((e.file, e.line) for e in entries) == [
        ("check:amount_positive", 4),
        ("check:unique:*.id", 3),
    ]
    by_line = {e.line: e for e in entries}
    assert json.loads(str(by_line[3].payload)) == {"id": 2, "status": "paid", "amount": 25}
    assert json.loads(str(by_line[4].context))["check"] == "amount_positive"
    assert by_line[4].reason == "check amount_positive: amount outside [0, inf]"
    stored = StateStore(work / ".aoetl").quality.check_results(result["run_id"])
    assert {c["name"] for c in stored} == set(checks)
    # A replay leaves the rows in the queue, saying why.
    replay = orch.replay(run_id=result["run_id"])
    assert replay.replayed == [] and len(replay.still_bad) == 2
    assert "quarantined by check amount_positive, so it is not replayed" in " ".join(
        replay.still_bad.values()
    )
    assert {e.status for e in orch.dlq(result["run_id"])} == {"open"}

    text = run_cli("run", "p.yaml", cwd=work)  # replace: loads the same rows again
    assert text.returncode == 0, text.stderr
    assert "quarantined: check amount_positive on table orders: 1 of 6 rows" in text.stdout
    assert "warned: check accepted_values:*.status on table orders" in text.stdout
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(4,)]


def test_a_failed_check_leaves_the_target_as_it_was_and_a_fixed_rerun_loads(
    work: Path, orch: DataOrchestrator
) -> None:
    fail = "checks:\n  - {check: accepted_values, column: status, values: [paid, refund]}\n"
    pipeline(work, GOOD, fail)
    assert orch.run(work / "p.yaml").status == "success"
    before = query(work / "w.duckdb", "SELECT * FROM orders ORDER BY id")

    (work / "data" / "orders.csv").write_text(MIXED)
    proc = run_cli("run", "p.yaml", cwd=work)
    assert proc.returncode == 2
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert error == [
        "error: table 'orders' failed check accepted_values:*.status (1 of 6 rows: status not "
        "among the accepted values); nothing was committed and the target is unchanged. Fix "
        "the data, or set the check's severity to warn or quarantine"
    ]
    assert "failed: check accepted_values:*.status on table orders" in proc.stdout
    assert query(work / "w.duckdb", "SELECT * FROM orders ORDER BY id") == before
    staged = "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_aoetl_stage%'"
    assert query(work / "w.duckdb", staged) == [(0,)]

    (work / "data" / "orders.csv").write_text(GOOD + "4,paid,40\n")
    assert orch.run(work / "p.yaml").status == "success"
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(4,)]


def test_the_check_task_runs_in_its_own_process_once_its_table_is_staged(
    work: Path, orch: DataOrchestrator
) -> None:
    pipeline(work, MIXED, CHECKS)
    listed = orch.plan_tasks(load_spec(work / "p.yaml")).to_dict()  # --list-tasks --json
    deps = {t["id"]: t["depends_on"] for t in listed["tasks"]}
    assert deps == {
        "load:orders": [],
        "check:orders": ["load:orders"],
        "commit": ["load:orders", "check:orders"],
    }

    spec = load_spec(work / "p.yaml")

    def task(name: str) -> dict[str, Any]:  # as a worker calls it, in this process
        return orch.run_task(spec, name, "r1").to_dict()

    early = task("check:orders")
    assert early["error"].startswith(
        "run r1 has not staged 1 table yet (orders); run load:orders with --run-id r1 first"
    )
    loaded = run_cli("run", "p.yaml", "--task", "load:orders", "--run-id", "r1", "--json",
                     cwd=work)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    quarantined = [("amount_positive", "quarantined", 1), ("unique:*.id", "quarantined", 1)]
    found = json.loads(loaded.stdout)["checks"]  # what the load's quarantine checks found
    assert [(c["name"], c["status"], c["failing"]) for c in found] == quarantined
    resumed = task("load:orders")  # resumed from its checkpoint: the results it stored
    assert resumed["status"] == "success"
    assert [(c["name"], c["status"], c["failing"]) for c in resumed["checks"]] == quarantined
    proc = run_cli("run", "p.yaml", "--task", "check:orders", "--run-id", "r1", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    checked = json.loads(proc.stdout)
    assert checked["status"] == "success"
    assert [c["status"] for c in checked["checks"]] == ["warned", "passed"]
    committed = task("commit")
    assert committed["status"] == "success"
    assert len(committed["checks"]) == 4
    assert len(orch.dlq("r1")) == 2  # the load that ran twice quarantined each row once
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(4,)]


@pytest.mark.parametrize(
    ("checks", "says"),
    [
        (
            "  - {check: not_null, column: nope}\n",
            "check not_null:*.nope: table 'orders' has no column 'nope'; its columns: id, "
            "status, amount",
        ),
        (
            "  - {check: not_null, column: id, table: order}\n",
            "check not_null:order.id names table 'order', which this pipeline does not load; "
            "its tables: orders",
        ),
    ],
)
def test_a_bad_check_is_one_line_and_exit_2(work: Path, checks: str, says: str) -> None:
    pipeline(work, GOOD, "checks:\n" + checks)
    proc = run_cli("run", "p.yaml", cwd=work)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and says in errors[0], proc.stderr
    assert not (work / "w.duckdb").exists() or query(
        work / "w.duckdb", "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'orders'"
    ) == [(0,)]


def test_a_check_that_cannot_judge_its_column_and_one_that_cannot_quarantine(
    work: Path, orch: DataOrchestrator
) -> None:
    pipeline(work, GOOD, "checks:\n  - {check: freshness, column: status, max_age: 1d}\n")
    result = orch.run(work / "p.yaml")
    assert result.exit_code == 2
    assert result.error == (
        "check freshness:*.status: column status is VARCHAR, not a date or timestamp; cast "
        "it in a transform or name a time column"
    )
    pipeline(work, GOOD, "checks:\n  - {check: row_count, min: 1, severity: quarantine}\n")
    with pytest.raises(SpecError, match="judges the whole table, so it cannot quarantine rows"):
        load_spec(work / "p.yaml")


def test_a_failed_check_leaves_a_postgres_table_unchanged(
    work: Path, orch: DataOrchestrator, postgres: Postgres
) -> None:
    import psycopg

    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute("DROP DATABASE IF EXISTS aoetl_checks")
        con.execute("CREATE DATABASE aoetl_checks")
    url = postgres.url("aoetl_checks")
    fail = "checks:\n  - {check: unique, column: id, name: one_per_id}\n"
    pipeline(work, GOOD, fail, target=url)
    assert orch.run(work / "p.yaml").status == "success"
    (work / "data" / "orders.csv").write_text(MIXED)
    proc = run_cli("run", "p.yaml", cwd=work)
    assert proc.returncode == 2
    assert "failed check one_per_id (1 of 6 rows repeat a value of (id)" in proc.stderr
    assert postgres.password not in proc.stdout + proc.stderr
    with psycopg.connect(url) as con:
        rows = con.execute("SELECT id, status FROM orders ORDER BY id").fetchall()
        staged = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_aoetl_stage%'"
        ).fetchone()
    assert rows == [(1, "paid"), (2, "paid"), (3, "refund")]
    assert staged == (0,)


def test_a_profiled_run_stores_profile_anomalies_and_score_of_what_it_staged(
    work: Path, orch: DataOrchestrator
) -> None:
    profiled = "quality:\n  profile: quick\n  anomalies: {row_count_change: 0.5}\n"
    pipeline(work, GOOD, profiled)
    listed = orch.plan_tasks(load_spec(work / "p.yaml")).plan
    assert listed.task("check:orders").description.startswith("a quick profile on the rows")
    first = orch.run(work / "p.yaml")
    assert first.status == "success", first.error
    assert 0 <= first.quality["orders"]["total"] <= 100
    (work / "data" / "orders.csv").write_text(
        GOOD + "".join(f"{i},paid,{i}\n" for i in range(4, 9))
    )
    second = orch.run(work / "p.yaml")
    assert second.status == "success", second.error
    history = StateStore(work / ".aoetl").quality
    stored = history.profiles(first.tables["orders"].target)  # '<target>#orders'

    assert [(p.run_id, p.profile["rows"]) for p in stored] == [
        (second.run_id, 8),
        (first.run_id, 3),
    ]
    kinds = {a["kind"] for a in stored[0].anomalies}
    assert "row_count" in kinds  # 3 -> 8 rows against the previous profile
    assert any(n.startswith("table orders: ") for n in second.notes)
    assert orch.run_quality(second.run_id)[1][0].score is not None


def test_a_commit_in_its_own_process_needs_its_check_task_to_have_passed(
    work: Path, orch: DataOrchestrator
) -> None:
    fail = "checks:\n  - {check: range, column: amount, min: 0}\n"
    pipeline(work, "id,amount\n1,10\n2,-5\n3,\n", fail)

    def task(name: str) -> dict[str, Any]:  # as a worker calls it, in this process
        return orch.run_task(load_spec(work / "p.yaml"), name, "r1").to_dict()

    def commit() -> list[str]:  # the CLI's error lines, after exit code 2
        proc = run_cli("run", "p.yaml", "--task", "commit", "--run-id", "r1", cwd=work)
        assert proc.returncode == 2, proc.stdout
        return [line for line in proc.stderr.splitlines() if line.strip()]

    no_orders = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'orders'"
    assert task("load:orders")["status"] == "success"
    assert commit() == [
        "error: run r1 has not checked table orders since it was staged; run check:orders "
        "with --run-id r1 first"
    ]
    assert query(work / "w.duckdb", no_orders) == [(0,)]
    assert "failed check range" in task("check:orders")["error"]  # staging discarded
    assert commit() == [
        "error: check:orders failed in run r1: table 'orders' failed check range:*.amount (1 "
        "of 3 rows: amount outside [0, inf]); nothing was committed and the target is "
        "unchanged. Fix the data, then run load:orders, check:orders and commit again with "
        "--run-id r1 (or start a new run id)"
    ]
    assert query(work / "w.duckdb", no_orders) == [(0,)]

    (work / "data" / "orders.csv").write_text("id,amount\n1,10\n2,5\n")
    assert task("load:orders")["status"] == "success"  # staged again: needs a new check
    assert task("commit")["error"] == (
        "run r1 has not checked table orders since it was staged; run check:orders with "
        "--run-id r1 first"
    )
    assert task("check:orders")["status"] == "success"
    assert task("commit")["status"] == "success"
    assert query(work / "w.duckdb", "SELECT id, amount FROM orders ORDER BY id") == [
        (1, 10),
        (2, 5),
    ]


def test_a_bad_check_is_refused_before_any_data_moves(work: Path, orch: DataOrchestrator) -> None:
    # No transform: the columns and types discovery found judge the check at plan time.
    pipeline(work, GOOD, "checks:\n  - {check: range, column: amount, min: abc}\n")
    with pytest.raises(UserError, match="column amount holds numbers; give 'min'/'max' as"):
        orch.plan_tasks(load_spec(work / "p.yaml"))
    proc = run_cli("run", "p.yaml", cwd=work)
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        "error: check range:*.amount: column amount holds numbers; give 'min'/'max' as "
        "numbers, not 'abc'"
    ]
    assert not (work / "w.duckdb").exists()  # planning failed: nothing was loaded
    # A transform renames a column: the check is judged on the transformed columns, still
    # before the load moves any data (no run row staged, nothing in the DLQ).
    renamed = "transforms:\n  - rename: {amount: total}\nchecks:\n"
    plan = orch.plan_tasks(
        load_spec_text(work, renamed + "  - {check: range, column: total, min: 0}\n")
    )
    assert plan.plan.task("check:orders")
    bad = load_spec_text(work, renamed + "  - {check: not_null, column: amount, severity: warn}\n")
    result = orch.run_task(bad, "load:orders", "r1")
    assert result.exit_code == 2
    assert (
        result.error is not None
        and "has no column 'amount'; its columns: id, status, total" in (result.error)
    )
    assert not (work / "w.duckdb").exists() or query(
        work / "w.duckdb", "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%orders%'"
    ) == [(0,)]


def load_spec_text(root: Path, text: str) -> PipelineSpec:
    (root / "p.yaml").write_text(
        f"name: checked\nsource: data/\ntarget: duckdb:///w.duckdb\n{text}"
    )
    return load_spec(root / "p.yaml")
