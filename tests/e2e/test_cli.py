"""The aoetl CLI as a subprocess, tried as a new user would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, query, run_cli

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
