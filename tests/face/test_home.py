"""``DataOrchestrator(home=…)`` writes nothing under the working directory but the target it
was asked for: no ``./.aoetl``, no DuckDB extension directory, whatever the source."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from tests.helpers import query


def _everything(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("kind", ["csv", "sqlite", "csv+steps"])
def test_home_holds_all_state_and_the_working_directory_only_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    data, cwd, home = tmp_path / "data", tmp_path / "cwd", tmp_path / "h"
    data.mkdir()
    cwd.mkdir()
    if kind.startswith("csv"):
        (data / "orders.csv").write_text("id,amount\n1,2.5\n2,3.5\n3,oops,extra\n")
        source = str(data / "orders.csv")
    else:
        con = sqlite3.connect(data / "app.db")
        con.executescript(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL);"
            "INSERT INTO orders VALUES (1, 2.5), (2, 3.5);"
        )
        con.commit()
        con.close()
        source = f"sqlite:///{data / 'app.db'}"
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("AOETL_HOME", raising=False)  # the default would be ./.aoetl

    # A SQL step is checked in a connection of its own, and a python step streams from one.
    steps = [{"sql": "SELECT * FROM input"}, {"python": "homestep:same"}]
    if kind == "csv+steps":
        (cwd.parent / "homestep.py").write_text("def same(batch):\n    return batch\n")
        monkeypatch.syspath_prepend(str(cwd.parent))

    orch = DataOrchestrator(home=home)
    spec = orch.create_pipeline(
        source,
        "duckdb:///wh.duckdb",
        table="orders",
        transforms=steps if kind == "csv+steps" else None,
    ).spec
    result = orch.run(spec)

    assert result.status == "success", result.error
    assert query(cwd / "wh.duckdb", "SELECT count(*) FROM orders") == [(2,)]
    assert _everything(cwd) == {"wh.duckdb"}
    assert (home / "state.db").is_file()
    assert [r.run_id for r in orch.runs()] == [result.run_id]
