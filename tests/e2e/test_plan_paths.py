"""A plan written with -o runs unchanged from any working directory."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from tests.helpers import query, run_cli

pytestmark = pytest.mark.e2e


def make_data(root: Path) -> list[tuple[int, str, float]]:
    rows = [(i, f"name {i}", i * 1.25) for i in range(1, 31)]
    data = root / "data"
    data.mkdir()
    for part, chunk in (("a", rows[:15]), ("b", rows[15:])):
        with (data / f"sales_{part}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "name", "amount"])
            writer.writerows(chunk)
    return rows


def read_back(data: Path) -> list[tuple[int, str, float]]:
    """The rows of every CSV file under ``data``, with the standard library's reader."""
    rows = []
    for path in sorted(data.glob("*.csv")):
        with path.open(newline="") as fh:
            rows += [(int(r["id"]), r["name"], float(r["amount"])) for r in csv.DictReader(fh)]
    return sorted(rows)


@pytest.mark.parametrize("source", ["data", "data/*.csv", "./data/"])
def test_plan_written_elsewhere_runs_from_another_folder(tmp_path: Path, source: str) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    written = make_data(project)

    planned = run_cli(
        "plan", source, "--to", "w.duckdb", "--table", "sales", "-o", "sub/dir/p.yaml",
        cwd=project,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    plan = project / "sub" / "dir" / "p.yaml"
    document = yaml.safe_load(plan.read_text())
    # Paths are relative to the file, so the plan moves with its folder.
    assert document["source"]["uri"].startswith("../../data")
    assert document["target"]["uri"] == "../../w.duckdb"

    ran = run_cli("run", str(plan), cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    assert not (elsewhere / "w.duckdb").exists()
    loaded = query(project / "w.duckdb", "SELECT id, name, amount FROM sales ORDER BY id")
    assert loaded == read_back(project / "data") == written


def test_plan_to_stdout_keeps_paths_as_given(tmp_path: Path) -> None:
    make_data(tmp_path)
    printed = run_cli("plan", "data", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout)["source"]["uri"] == "data"


def test_plan_keeps_absolute_paths_and_rebases_scheme_paths(tmp_path: Path) -> None:
    make_data(tmp_path)
    absolute = str(tmp_path / "data")
    planned = run_cli("plan", absolute, "--to", "parquet:///out", "-o", "p/p.yaml", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    document = yaml.safe_load((tmp_path / "p" / "p.yaml").read_text())
    assert document["source"]["uri"] == absolute
    assert document["target"]["uri"] == "parquet:///../out"
    ran = run_cli("run", "p.yaml", cwd=tmp_path / "p")
    assert ran.returncode == 0, ran.stderr
    rows = query(":memory:", f"SELECT id FROM '{tmp_path}/out/sales_*/*.parquet' ORDER BY id")
    assert rows == [(i,) for i in range(1, 31)]
