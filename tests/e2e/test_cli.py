"""The aoetl CLI as a subprocess, tried as a new user would."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.helpers import FIXTURES, query, run_cli
from tests.servers import Postgres, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    for name in ("orders.csv", "ragged_rows.csv", "bad_alias.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def test_run_defaults_to_warehouse_duckdb_and_prints_a_summary(cwd: Path) -> None:
    proc = run_cli("run", "orders.csv", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "success" in proc.stdout
    assert "orders" in proc.stdout
    assert query(cwd / "warehouse.duckdb", "SELECT count(*) FROM orders") == [(3,)]


def test_json_result_shape(cwd: Path) -> None:
    proc = run_cli("run", "ragged_rows.csv", "--to", "duckdb:///wh.duckdb", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"run_id", "status", "duration_s", "tables"} <= set(result)
    assert result["status"] == "success"
    assert result["tables"]["ragged_rows"]["rows_loaded"] == 2
    assert result["tables"]["ragged_rows"]["rows_rejected"] == 2
    assert result["tables"]["ragged_rows"]["target"] == "duckdb:///wh.duckdb#ragged_rows"


def test_strict_fails_with_exit_2_and_loads_nothing(cwd: Path) -> None:
    proc = run_cli("run", "ragged_rows.csv", "--strict", "--json", cwd=cwd)
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["status"] == "failed"
    assert not (cwd / "warehouse.duckdb").exists() or query(
        cwd / "warehouse.duckdb", "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'"
    ) == [(0,)]


def test_max_bad_rows_allows_up_to_n(cwd: Path) -> None:
    assert run_cli("run", "ragged_rows.csv", "--max-bad-rows", "2", cwd=cwd).returncode == 0
    assert run_cli("run", "ragged_rows.csv", "--max-bad-rows", "1", cwd=cwd).returncode == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "missing.csv"], "does not exist"),
        (["run", "orders.csv", "--to", "ftp://host/x"], "known target schemes"),
        # Refused before the source is read: nothing listed, planned or exported for a
        # target no run could write.
        (["run", "orders.csv", "--to", "oracle://h/db", "--list-tasks"], "known target schemes"),
        (["plan", "orders.csv", "--to", "oracle://h/db"], "known target schemes"),
        (["dag", "orders.csv", "--to", "oracle://h/db", "-o", "d.py"], "known target schemes"),
        # A URL a '/' short is a mistake, not a folder named 'sqlite:' to write Parquet into.
        (["run", "orders.csv", "--to", "sqlite:/x.db"], "neither a URL nor a plain path"),
        (["run", "orders.csv", "--to", "://x", "--list-tasks"], "neither a URL nor a plain path"),
        (["run", "s3x://bucket/x"], "known source schemes"),
        (["run", "bad_alias.yaml"], "bad_alias.yaml:5:"),
        (["run", "orders.csv", "--mode", "merge"], "needs 'key'"),
        (["runs", "--show", "nope"], "no run matches"),
    ],
)
def test_bad_input_is_one_line_exit_2_without_traceback(
    cwd: Path, args: list[str], needle: str
) -> None:
    proc = run_cli(*args, cwd=cwd)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    error_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1, proc.stderr
    assert error_lines[0].startswith("error: ")
    assert needle in error_lines[0]
    assert "Traceback" not in proc.stderr


def test_a_route_to_a_target_nothing_writes_is_refused_before_the_source_is_read(
    cwd: Path,
) -> None:
    (cwd / "routed.yaml").write_text(
        "name: routed\nsource: orders.csv\nroute:\n"
        "  - when: {format: parquet}\n    target: duckdb:///big.duckdb\n"
        "  - else: mysql://u@h/db\n"
    )
    for args in (["run", "routed.yaml", "--list-tasks"], ["run", "routed.yaml"]):
        proc = run_cli(*args, cwd=cwd)
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        assert "no destination connector for 'mysql://' in mysql://u@h/db" in proc.stderr
    assert not (cwd / "big.duckdb").exists()


def test_a_mistyped_target_url_in_a_file_names_its_line_and_writes_no_folder(cwd: Path) -> None:
    (cwd / "typo.yaml").write_text("name: typo\nsource: orders.csv\ntarget: sqlite:/x.db\n")
    proc = run_cli("run", "typo.yaml", cwd=cwd)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: typo.yaml:3: field 'target.uri': target sqlite:/x.db")
    assert "write ./sqlite:/x.db" in proc.stderr
    assert not (cwd / "sqlite:").exists()


def test_verbose_shows_the_traceback(cwd: Path) -> None:
    proc = run_cli("-v", "run", "bad_alias.yaml", cwd=cwd)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_usage_error_exits_2(cwd: Path) -> None:
    proc = run_cli("run", "orders.csv", "--mode", cwd=cwd)
    assert proc.returncode == 2


def test_pipeline_file_with_python_step_into_parquet(cwd: Path) -> None:
    (cwd / "steps.py").write_text(
        "import pyarrow.compute as pc\n"
        "def cents(batch):\n"
        "    return batch.append_column('cents', pc.multiply(batch.column('amount'), 100))\n"
    )
    (cwd / "pipeline.yaml").write_text(
        "name: orders-lake\nsource: orders.csv\ntarget: parquet:///lake\nmode: replace\n"
        "transforms:\n  - python: steps:cents\n  - filter: amount > 15\n"
    )
    other = cwd / "elsewhere"
    other.mkdir()
    # Run from another folder: paths and the python step are found next to the pipeline file.
    proc = run_cli("run", str(cwd / "pipeline.yaml"), "--json", cwd=other)
    assert proc.returncode == 0, proc.stderr
    lake = cwd / "lake" / "orders"
    rows = query(":memory:", f"SELECT id, cents FROM read_parquet('{lake}/*.parquet') ORDER BY id")
    assert rows == [(2, 2000.0), (3, 3025.0)]


def test_cli_flags_override_the_pipeline_file(cwd: Path) -> None:
    (cwd / "p.yaml").write_text("name: p\nsource: orders.csv\ntarget: duckdb:///a.duckdb\n")
    proc = run_cli("run", "p.yaml", "--to", "duckdb:///b.duckdb", "--table", "o2", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert not (cwd / "a.duckdb").exists()
    assert query(cwd / "b.duckdb", "SELECT count(*) FROM o2") == [(3,)]


def test_runs_lists_history_and_show_lists_quarantine(cwd: Path) -> None:
    run_cli("run", "orders.csv", cwd=cwd)
    run_id = json.loads(run_cli("run", "ragged_rows.csv", "--json", cwd=cwd).stdout)["run_id"]
    listing = json.loads(run_cli("runs", "--json", cwd=cwd).stdout)
    assert [r["pipeline"] for r in listing] == ["ragged_rows", "orders"]
    assert listing[0]["rows_rejected"] == 2
    shown = json.loads(run_cli("runs", "--show", run_id[:17], "--json", cwd=cwd).stdout)
    assert [(Path(q["file"]).name, q["line"]) for q in shown["quarantined"]] == [
        ("ragged_rows.csv", 3),
        ("ragged_rows.csv", 4),
    ]
    table = run_cli("runs", cwd=cwd).stdout
    assert "ragged_rows" in table and "success" in table


def test_sources_and_schema(cwd: Path) -> None:
    sources = run_cli("sources", "--json", cwd=cwd)
    assert {c["name"] for c in json.loads(sources.stdout)} >= {"files", "duckdb", "parquet-dir"}
    schema = json.loads(run_cli("schema", cwd=cwd).stdout)
    assert schema["title"] == "PipelineSpec"


def test_help_explains_commands(cwd: Path) -> None:
    proc = run_cli("--help", cwd=cwd)
    assert proc.returncode == 0
    for command in ("run", "sources", "schema", "runs"):
        assert command in proc.stdout
    run_help = run_cli("run", "--help", cwd=cwd).stdout
    assert "--max-bad-rows" in run_help
    # Paragraphs are rewrapped to the terminal, not broken where the docstring's lines end;
    # globs stay literal; flags carry no "<bool>" noise.
    assert "a run that fails or is killed leaves the target unchanged" in run_help
    assert "'logs/*.csv.gz'" in run_help
    assert "<bool>" not in run_help


# -- one task per process, as an orchestrator runs them ---------------------------------------
TASK_PIPELINE = (
    "name: shop\nsource:\n  uri: data/\n  incremental:\n    orders: {cursor: id}\nmode: append\n"
)


def shop(root: Path) -> None:
    data = root / "data"
    data.mkdir()
    rows = "".join(f"{i},{i * 1.25},c{i % 7}\n" for i in range(1, 301))
    (data / "orders.csv").write_text("id,amount,customer\n" + rows + "301,x\n")
    (data / "customers.csv").write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(7)))
    (root / "pipeline.yaml").write_text(TASK_PIPELINE)


def target_state(target: str, root: Path) -> dict[str, object]:
    """Every table's rows (order-free), the cursors, checkpoints and commits of a target."""
    if target.startswith("duckdb:///"):
        db = root / target.removeprefix("duckdb:///")

        def rows(sql: str) -> list[tuple[object, ...]]:
            return query(db, sql)

        names = rows("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1")
        content = 'SELECT count(*), sum(hash(r)) FROM "{}" r'
    else:

        def rows(sql: str) -> list[tuple[object, ...]]:
            with psycopg.connect(target) as con:
                return con.execute(sql).fetchall()

        names = rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        content = "SELECT count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM \"{}\" r"
    return {
        "tables": {t: rows(content.format(t)) for (t,) in names},
        "cursors": rows("SELECT table_name, high_water FROM _aoetl.cursors ORDER BY 1"),
        "checkpoints": rows("SELECT count(*) FROM _aoetl.checkpoints"),
        "commits": rows("SELECT count(*) FROM _aoetl.commits"),
    }


def run_record(root: Path, run_id: str) -> tuple[object, ...]:
    con = sqlite3.connect(root / ".aoetl" / "state.db")
    try:
        status, loaded, rejected, result = con.execute(
            "SELECT status, rows_loaded, rows_rejected, result_json FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
    finally:
        con.close()
    tables = json.loads(result)["tables"]
    return (
        status,
        loaded,
        rejected,
        {n: (t["rows_loaded"], t["rows_rejected"]) for n, t in tables.items()},
    )


def two_targets(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str]:
    if kind == "duckdb":
        return "duckdb:///one.duckdb", "duckdb:///tasks.duckdb"
    pg: Postgres = request.getfixturevalue("postgres")
    with psycopg.connect(pg.url(), autocommit=True) as con:
        for db in ("aoetl_one", "aoetl_tasks"):
            con.execute(f"DROP DATABASE IF EXISTS {db}")
            con.execute(f"CREATE DATABASE {db}")
    return pg.url("aoetl_one"), pg.url("aoetl_tasks")


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_each_task_in_its_own_process_gives_what_one_run_gives(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    shop(tmp_path)
    one, tasks = two_targets(kind, tmp_path, request)
    whole = run_cli("run", "pipeline.yaml", "--to", one, "--json", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    whole_id = json.loads(whole.stdout)["run_id"]

    listing = run_cli("run", "pipeline.yaml", "--to", tasks, "--list-tasks", "--json", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    plan = json.loads(listing.stdout)["tasks"]
    assert [t["id"] for t in plan] == ["load:customers", "load:orders", "commit"]
    assert all({"id", "depends_on", "action", "description", "decisions"} <= set(t) for t in plan)
    done: set[str] = set()
    for task in plan:  # dependency order, each task in a new process, with our own run id
        assert set(task["depends_on"]) <= done
        proc = run_cli(
            "run", "pipeline.yaml", "--to", tasks, "--task", task["id"],
            "--run-id", "airflow__2026-11-30T00:00:00+00:00", "--json", cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert (result["task"], result["status"], result["error_kind"]) == (
            task["id"],
            "success",
            None,
        )
        done.add(task["id"])
    state = target_state(one, tmp_path)
    assert {t: rows[0][0] for t, rows in state["tables"].items()} == {  # type: ignore[attr-defined]
        "customers": 7,
        "orders": 300,
    }
    assert state["cursors"] == [("orders", "300")]
    assert target_state(tasks, tmp_path) == state
    expected = ("success", 307, 1, {"customers": (7, 0), "orders": (300, 1)})
    assert run_record(tmp_path, whole_id) == expected
    assert run_record(tmp_path, "airflow__2026-11-30T00:00:00+00:00") == expected

    # A task of a committed run does nothing.
    again = run_cli(
        "run", "pipeline.yaml", "--to", tasks, "--task", "load:orders",
        "--run-id", "airflow__2026-11-30T00:00:00+00:00", cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "already committed; nothing to do" in again.stdout
    assert target_state(tasks, tmp_path) == target_state(one, tmp_path)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--task", "load:nope", "--run-id", "r1"],
            "no task 'load:nope' in this plan; its tasks: load:customers, load:orders, commit",
        ),
        (["--task", "load:orders"], "--task load:orders needs --run-id RUN_ID"),
        (["--run-id", "r1"], "--run-id goes with --task TASK_ID"),
        (["--task", "commit", "--run-id", "r1", "--fresh"], "leave out --fresh"),
        (["--task", "commit", "--run-id", "a/b"], "run id 'a/b' cannot be used"),
        (["--task", "commit", "--run-id", "r1"], "run r1 has not staged 2 tables yet"),
    ],
)
def test_bad_task_options_are_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    shop(tmp_path)
    proc = run_cli("run", "pipeline.yaml", "--to", "duckdb:///w.duckdb", *args, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not (tmp_path / "w.duckdb").exists()


def test_a_refused_connection_is_retried_then_exits_1_naming_the_server(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    uri = f"postgresql://u:hunter2-secret@127.0.0.1:{port}/db"
    proc = run_cli("run", uri, "--monitor", "events.jsonl", cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    (line,) = [line for line in proc.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: cannot connect to 127.0.0.1:{port} after 3 attempts: ")
    assert line.endswith("check that the server is running, or raise retries.attempts")
    assert "refused" in line.lower()
    events = [json.loads(e) for e in (tmp_path / "events.jsonl").read_text().splitlines()]
    attempts = [e for e in events if e["kind"] == "connect_attempt"]
    assert [(e["task_id"], e["data"]["attempt"]) for e in attempts] == [
        ("discover", 1),
        ("discover", 2),
        ("discover", 3),
    ]
    assert len([e for e in events if e["kind"] == "connect_retried"]) == 2
    as_json = run_cli("run", uri, "--json", "--fresh", cwd=tmp_path)
    assert as_json.returncode == 1
    result = json.loads(as_json.stdout)
    assert (result["status"], result["error_kind"]) == ("failed", "transient")
    everything = proc.stdout + proc.stderr + as_json.stdout + as_json.stderr
    assert "hunter2-secret" not in everything + (tmp_path / "events.jsonl").read_text()
