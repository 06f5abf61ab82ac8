"""One settings module for every face: AOETL_HOME, and flag > AOETL_* > pipeline file > default,
the same from the command line and from Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.settings import Settings, home
from tests.helpers import query, run_cli


def test_home_is_the_argument_then_aoetl_home_then_dot_aoetl() -> None:
    assert home("h", {"AOETL_HOME": "e"}) == Path("h")
    assert home(None, {"AOETL_HOME": "e"}) == Path("e")
    assert home(None, {}) == Path(".aoetl")
    assert Settings.load({"home": None}, {}).home == Path(".aoetl")


def test_a_flag_beats_the_environment_which_beats_the_file() -> None:
    env = {"AOETL_TARGET": "duckdb:///env.duckdb", "AOETL_MODE": "replace", "AOETL_WORKERS": "3"}
    settings = Settings.load({"mode": "merge", "target": None}, env)
    assert (settings.target, settings.mode, settings.workers) == (
        "duckdb:///env.duckdb",
        "merge",
        3,
    )
    merged = settings.merge({"target": {"uri": "file.duckdb", "lock_timeout_s": 2}, "mode": "x"})
    assert merged["target"] == {"uri": "duckdb:///env.duckdb", "lock_timeout_s": 2}
    assert merged["mode"] == "merge"
    assert Settings.load({}, {}).merge({"mode": "append"}) == {"mode": "append"}


def test_an_environment_value_that_does_not_parse_names_its_variable() -> None:
    with pytest.raises(UserError, match="AOETL_WORKERS='many' is not a valid int"):
        Settings.load({}, {"AOETL_WORKERS": "many"})
    with pytest.raises(TypeError):
        Settings.load({"colour": "red"}, {})


def test_the_python_api_honours_aoetl_settings(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (work / "t.csv").write_text("id,x\n1,a\n2,b\n")
    (work / "p.yaml").write_text("source: t.csv\ntarget: file.duckdb\nmode: append\n")
    monkeypatch.setenv("AOETL_TARGET", "duckdb:///env.duckdb")
    monkeypatch.setenv("AOETL_MODE", "replace")
    orch = DataOrchestrator(home=work / "h")
    assert orch.home == work / "h"
    spec = orch.create_pipeline("t.csv").spec
    assert (spec.target.uri, spec.mode) == ("duckdb:///env.duckdb", "replace")
    spec = orch.create_pipeline("t.csv", target="duckdb:///arg.duckdb", mode="append").spec
    assert (spec.target.uri, spec.mode) == ("duckdb:///arg.duckdb", "append")
    # A pipeline file run from Python: the environment wins over the file, as on the CLI.
    for _ in range(2):
        assert orch.run(work / "p.yaml").status == "success"
    assert query(work / "env.duckdb", "SELECT count(*) FROM t") == [(2,)]  # replaced, not doubled
    assert not (work / "file.duckdb").exists()
    monkeypatch.delenv("AOETL_TARGET")
    monkeypatch.delenv("AOETL_MODE")
    # Settings are read when the orchestrator is made, as a CLI process reads them at start.
    assert orch.create_pipeline("t.csv").spec.target.uri == "duckdb:///env.duckdb"
    fresh = DataOrchestrator(home=work / "h").create_pipeline("t.csv").spec
    assert fresh.target.uri == "duckdb:///warehouse.duckdb"


def test_the_cli_and_python_read_the_same_history(orch: DataOrchestrator, work: Path) -> None:
    (work / "t.csv").write_text("id,x\n1,a\n2,b\n")
    ran = run_cli("run", "t.csv", "--to", "w.duckdb", "--json", cwd=work)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    listed = json.loads(run_cli("runs", "--json", cwd=work).stdout)
    records = orch.runs()
    assert [r["run_id"] for r in listed] == [r.run_id for r in records] == [run_id]
    assert listed[0] == records[0].__dict__
    assert orch.run_record(run_id[:10]).status == "success"
    with pytest.raises(UserError, match="no run matches 'nope'"):
        orch.run_record("nope")
