"""``aoetl runs`` and ``aoetl dlq`` as a new user reads them: times, spec, plurals, staging."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.helpers import query, run_cli

pytestmark = pytest.mark.e2e

KILLER = """import os, signal


def step(batch):
    if "boom" in batch.schema.names:  # the second table: die as kill -9 would
        os.kill(os.getpid(), signal.SIGKILL)
    return batch
"""


def field(text: str, name: str) -> str:
    """The value of a 'name:' line of 'aoetl runs --show'."""
    return next(
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(name + ":")
    )


def test_show_prints_iso_times_the_spec_as_yaml_and_plurals(tmp_path: Path) -> None:
    good = "".join(f"{i},{i}.5\n" for i in range(1, 41))
    (tmp_path / "orders.csv").write_text("id,amount\n" + good + "41,oops\n42,1,2\n")
    ran = run_cli("run", "orders.csv", "--to", "w.duckdb", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    record = json.loads(run_cli("runs", "--json", cwd=tmp_path).stdout)[0]

    shown = run_cli("runs", "--show", run_id[:17], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "{'" not in text and "started_at" not in text  # not a Python dict
    started = datetime.fromisoformat(field(text, "started"))
    assert abs(started.timestamp() - record["started_at"]) < 1
    assert started.utcoffset() is not None  # the offset is stated
    finished = datetime.fromisoformat(field(text, "finished"))
    assert 0 <= (finished - started).total_seconds() <= record["duration_s"] + 1
    assert field(text, "rows") == "40 rows loaded, 2 rejected"
    block = text.split("\nspec:\n", 1)[1].split("\nquarantined:", 1)[0]
    spec = yaml.safe_load(textwrap.dedent(block))
    assert spec == {
        "name": "orders",
        "source": {"uri": "orders.csv"},
        "target": {"uri": "w.duckdb"},
    }
    assert "quarantined: 2 entries" in text
    assert "41,oops" in text and "42,1,2" in text

    # The same run as JSON carries the ISO times too.
    document = json.loads(run_cli("runs", run_id, "--json", cwd=tmp_path).stdout)
    assert document["run"]["started"] == field(text, "started")
    assert [e["payload"] for e in document["quarantined"]] == ["41,oops", "42,1,2"]

    (tmp_path / "fixed.yaml").write_text(
        "name: orders\nsource:\n  uri: orders.csv\n  csv: {null_values: ['oops']}\n"
        "target: duckdb:///w.duckdb\n"
    )
    entry = document["quarantined"][0]["id"]
    replayed = run_cli("dlq", "replay", str(entry), "--pipeline", "fixed.yaml", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stdout
    assert replayed.stdout.splitlines()[0] == "replayed 1 entry; 0 still bad"
    assert query(tmp_path / "w.duckdb", "SELECT * FROM orders WHERE id = 41") == [(41, None)]


def killed_run(root: Path) -> str:
    """A run killed (-9) after it staged one table and before it committed; its id."""
    data = root / "data"
    data.mkdir()
    (data / "alpha.csv").write_text("id,label\n1,a\n2,b\n3,c\n")
    (data / "zulu.csv").write_text("id,boom\n1,x\n")
    (root / "killer.py").write_text(KILLER)
    (root / "p.yaml").write_text(
        "name: killed\nsource: data/\ntarget: duckdb:///w.duckdb\n"
        "transforms:\n  - python: killer:step\n"
    )
    proc = run_cli("run", "p.yaml", "--workers", "1", cwd=root)
    assert proc.returncode == -9, proc.stderr
    return str(json.loads(run_cli("runs", "--json", cwd=root).stdout)[0]["run_id"])


def stage_tables(db: Path) -> list[tuple[object, ...]]:
    return query(db, "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_aoetl_stage%'")


def test_staging_kept_for_a_resume_is_listed_and_cleaned(tmp_path: Path) -> None:
    run_id = killed_run(tmp_path)
    db = tmp_path / "w.duckdb"
    assert len(stage_tables(db)) == 1  # alpha, staged before zulu killed the run

    shown = run_cli("runs", "--show", run_id, cwd=tmp_path)
    assert field(shown.stdout, "status") == "killed"
    assert field(shown.stdout, "staging").startswith("alpha (3 rows); kept for a resume")
    document = json.loads(run_cli("runs", "--show", run_id, "--json", cwd=tmp_path).stdout)
    assert document["staging"]["tables"] == {"alpha": 3}

    cleaned = run_cli("runs", "--clean", run_id[:15], "--json", cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert [(r["run_id"], r["tables"]) for r in json.loads(cleaned.stdout)] == [
        (run_id, {"alpha": 3})
    ]
    assert stage_tables(db) == []
    assert query(db, "SELECT count(*) FROM _aoetl.checkpoints") == [(0,)]
    tables = query(db, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
    assert tables == []  # the target is as it was: nothing committed

    again = run_cli("runs", "--clean", cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout.strip() == "nothing to clean: no unfinished run has staging left"
    after = run_cli("runs", "--show", run_id, cwd=tmp_path).stdout.splitlines()
    assert not [line for line in after if line.startswith("staging:")]


def test_clean_every_unfinished_run_in_text(tmp_path: Path) -> None:
    run_id = killed_run(tmp_path)
    cleaned = run_cli("runs", "--clean", cwd=tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.strip() == (
        f"removed the staging of run {run_id} from duckdb:///{tmp_path}/w.duckdb: alpha (3 rows)"
    )
    assert stage_tables(tmp_path / "w.duckdb") == []


def test_show_of_a_run_whose_target_is_gone_creates_nothing(tmp_path: Path) -> None:
    run_id = killed_run(tmp_path)
    (tmp_path / "w.duckdb").unlink()
    shown = run_cli("runs", "--show", run_id, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["staging"]["tables"] == {}
    assert run_cli("runs", "--clean", cwd=tmp_path).returncode == 0
    assert not (tmp_path / "w.duckdb").exists()


def test_unknown_runs_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["runs", "--show", "nope"], ["runs", "--clean", "nope"], ["runs", "nope"]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.strip() == "error: no run matches 'nope'; list runs with 'aoetl runs'"


@pytest.mark.parametrize(
    "command",
    [["runs"], ["dlq", "list"], ["dlq", "show"], ["dlq", "replay"], ["plan"], ["secrets", "check"]],
)
def test_help_fits_80_columns_with_whole_defaults(tmp_path: Path, command: list[str]) -> None:
    proc = run_cli(*command, "--help", cwd=tmp_path, env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert not [line for line in lines if "…" in line]  # nothing cut short
    if command == ["runs"]:
        assert "[default: 20]" in proc.stdout
