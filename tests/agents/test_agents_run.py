"""Runs go through the agents: every step's agent is in the audit, and a registered agent with
a better capability takes over the work it matches (the documented extension point)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.agents import (
    Agent,
    Capability,
    Work,
    register_agent,
    unregister_agent,
)
from agent_orchestrated_etl.agents.work import ExtractWork
from agent_orchestrated_etl.data import Relation
from agent_orchestrated_etl.errors import UserError
from tests.helpers import query, run_cli


class ArrowCsvAgent(Agent):
    """Reads CSV files with pyarrow's reader instead of DuckDB's, and counts its calls."""

    name = "arrow-csv"
    description = "reads CSV files with pyarrow"
    capabilities = (Capability.of("extract", "files/csv"),)

    def __init__(self) -> None:
        self.calls = 0

    def handle(self, work: Work) -> Relation:
        assert isinstance(work, ExtractWork)
        self.calls += 1
        tables = [pacsv.read_csv(path) for path in work.resource.locations]
        table = pa.concat_tables(tables).append_column(
            "read_by", pa.array([self.name] * sum(t.num_rows for t in tables))
        )
        return Relation("SELECT * FROM arrow_csv_input", {"arrow_csv_input": table.to_reader()})


class BrokenAgent(Agent):
    name = "broken-csv"
    capabilities = (Capability.of("extract", "files/csv"),)

    def handle(self, work: Work) -> Relation:
        raise RuntimeError("this agent cannot read anything")


@pytest.fixture
def csv_file(work: Path) -> Path:
    path = work / "people.csv"
    path.write_text("id,name,country\n1,Ada,DE\n2,Linus,FI\n3,Grace,US\n")
    return path


@pytest.fixture
def custom() -> Iterator[ArrowCsvAgent]:
    agent = register_agent(ArrowCsvAgent())
    assert isinstance(agent, ArrowCsvAgent)
    yield agent
    unregister_agent(agent.name)


def test_a_run_shows_every_step_and_its_agent_in_the_audit(work: Path, csv_file: Path) -> None:
    done = run_cli("run", str(csv_file), "--json", cwd=work)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    listed = run_cli("audit", "--run", run_id[:12], "--json", cwd=work)
    assert listed.returncode == 0, listed.stderr
    steps = [(e["task_id"], e["subject"], e["choice"]) for e in json.loads(listed.stdout)]
    assert steps == [
        ("run", "orchestrate:pipeline/files", "orchestrator"),
        ("plan", "analyze:files/any", "analyst"),
        ("load:people", "extract:files/csv", "extract-files"),
        ("load:people", "load:duckdb/duckdb [append]", "load-duckdb"),
        ("commit", "commit:duckdb/duckdb", "load-duckdb"),
    ]
    entry = json.loads(listed.stdout)[2]
    assert entry["kind"] == "select" and entry["score"] == 2
    assert entry["reasons"][0] == "family match: extract:files"
    rejected = {c["agent"]: c["reason"] for c in entry["detail"]["candidates"]}
    assert rejected["extract-sql"] == "extracts sql, not files"
    table = run_cli("audit", "--run", run_id, cwd=work)
    assert "extract-files" in table.stderr and "family match" in table.stderr


def test_a_registered_agent_with_an_exact_capability_takes_over_extraction(
    orch: DataOrchestrator, work: Path, csv_file: Path, custom: ArrowCsvAgent
) -> None:
    result = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///out.duckdb").spec)
    assert result.status == "success", result.error
    assert custom.calls == 1
    rows = query(work / "out.duckdb", "SELECT id, name, read_by FROM people ORDER BY id")
    assert rows == [(1, "Ada", "arrow-csv"), (2, "Linus", "arrow-csv"), (3, "Grace", "arrow-csv")]
    chosen = [e for e in orch.audit(result.run_id) if e.subject == "extract:files/csv"]
    assert [e.choice for e in chosen] == ["arrow-csv"]
    assert chosen[0].reasons[0] == "exact match: extract:files/csv"
    assert "preferred over extract-files (family)" in chosen[0].reasons[1]
    stats = orch._store().audit.stats()[("arrow-csv", "extract")]
    assert (stats.calls, stats.successes, stats.rows) == (1, 1, 3)
    # Unregistered, the built-in agent reads the same file again.
    unregister_agent(custom.name)
    again = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///again.duckdb").spec)
    assert [e.choice for e in orch.audit(again.run_id) if e.subject.startswith("extract")] == [
        "extract-files"
    ]
    assert custom.calls == 1


def test_a_failing_agent_fails_the_run_cleanly_and_its_record_says_so(
    orch: DataOrchestrator, work: Path, csv_file: Path
) -> None:
    register_agent(BrokenAgent())
    try:
        result = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///out.duckdb").spec)
    finally:
        unregister_agent(BrokenAgent.name)
    assert result.status == "failed"
    assert "this agent cannot read anything" in (result.error or "")
    stats = orch._store().audit.stats()[("broken-csv", "extract")]
    assert (stats.calls, stats.successes) == (1, 0)
    assert not (work / "out.duckdb").exists() or query(
        work / "out.duckdb", "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'people'"
    ) == [(0,)]


def test_aoetl_agents_lists_every_agent_and_its_capabilities(work: Path) -> None:
    done = run_cli("agents", "--json", cwd=work)
    assert done.returncode == 0, done.stderr
    found = {a["name"]: a for a in json.loads(done.stdout)}
    for name in (
        "orchestrator",
        "analyst",
        "extract-files",
        "extract-s3",
        "extract-sql",
        "extract-rest",
        "transform",
        "quality",
        "load-duckdb",
        "load-files",
        "load-s3",
        "load-sql",
        "monitor",
    ):
        assert found[name]["builtin"] is True, name
    load_sql = found["load-sql"]["capabilities"]
    assert {k: load_sql[0][k] for k in ("action", "subject")} == {
        "action": "load",
        "subject": "sql",
    }
    assert "copy" in load_sql[0]["features"] and "merge" in load_sql[0]["features"]
    table = run_cli("agents", cwd=work)
    assert "extract:files" in table.stderr and "commit:duckdb" in table.stderr


def test_a_task_run_in_its_own_process_audits_its_steps(work: Path, csv_file: Path) -> None:
    for task in ("load:people", "commit"):
        done = run_cli("run", str(csv_file), "--task", task, "--run-id", "r1", "--json", cwd=work)
        assert done.returncode == 0, done.stderr
    listed = json.loads(run_cli("audit", "--run", "r1", "--json", cwd=work).stdout)
    assert [(e["task_id"], e["choice"]) for e in listed if e["task_id"] != "plan"] == [
        ("load:people", "extract-files"),
        ("load:people", "load-duckdb"),
        ("commit", "load-duckdb"),
    ]


def test_an_unknown_run_and_a_bad_kind_are_one_line_errors(work: Path) -> None:
    unknown = run_cli("audit", "--run", "nope", cwd=work)
    assert unknown.returncode == 2 and "no run matches 'nope'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad = run_cli("audit", "--run", "nope", "--kind", "everything", cwd=work)
    assert bad.returncode == 2 and "select, route, memory" in bad.stderr


class FamilyTwin(ArrowCsvAgent):
    """The built-in files extractor's capability, registered by a user."""

    name = "files-twin"
    capabilities = (Capability.of("extract", "files"),)


def test_a_registered_agent_takes_over_at_the_same_score_despite_the_builtins_record(
    orch: DataOrchestrator, work: Path, csv_file: Path
) -> None:
    first = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///a.duckdb").spec)
    assert first.status == "success"
    assert orch._store().audit.stats()[("extract-files", "extract")].successes == 1
    twin = register_agent(FamilyTwin())
    try:
        second = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///b.duckdb").spec)
    finally:
        unregister_agent(twin.name)
    assert second.status == "success", second.error
    chosen = [e for e in orch.audit(second.run_id) if e.subject == "extract:files/csv"]
    assert [e.choice for e in chosen] == ["files-twin"]
    assert "broken by registration: a registered agent wins" in chosen[0].reasons[1]
    assert query(work / "b.duckdb", "SELECT DISTINCT read_by FROM people") == [("files-twin",)]


class NoneAgent(Agent):
    name = "none-csv"
    capabilities = (Capability.of("extract", "files/csv"),)

    def handle(self, work: Work) -> None:
        return None


def test_a_registered_agent_with_a_wrong_result_or_an_error_is_named_in_one_line(
    orch: DataOrchestrator, work: Path, csv_file: Path
) -> None:
    register_agent(NoneAgent())
    try:
        wrong = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///n.duckdb").spec)
    finally:
        unregister_agent(NoneAgent.name)
    assert wrong.status == "failed" and wrong.error_kind == "fatal"
    assert wrong.error == (
        "agent none-csv returned NoneType for extract:files/csv; an agent doing extract "
        "returns a Relation"
    )
    register_agent(BrokenAgent())
    try:
        broken = orch.run(orch.create_pipeline(str(csv_file), "duckdb:///b.duckdb").spec)
    finally:
        unregister_agent(BrokenAgent.name)
    assert broken.error is not None
    assert broken.error.startswith("agent broken-csv failed to extract:files/csv: RuntimeError:")
    assert "unregister it" in broken.error and "\n" not in broken.error


def test_registering_an_agent_without_a_name_is_refused_and_an_unknown_action_warned() -> None:
    class Nameless(Agent):
        capabilities = (Capability.of("extract", "files/csv"),)

        def handle(self, work: Work) -> None:
            return None

    class Typo(Nameless):
        name = "typo"
        capabilities = (Capability.of("extrakt", "files/csv"),)

    with pytest.raises(UserError, match="Nameless has no name of its own"):
        register_agent(Nameless())
    with pytest.warns(UserWarning, match="never asks for: extrakt"):
        register_agent(Typo())
    unregister_agent("typo")


def test_the_audit_table_shows_stored_text_as_written_not_as_markup(
    work: Path, csv_file: Path
) -> None:
    done = run_cli("run", str(csv_file), "--json", cwd=work)
    run_id = json.loads(done.stdout)["run_id"]
    table = run_cli("audit", "--run", run_id, cwd=work, env={"COLUMNS": "220"})
    assert table.returncode == 0, table.stderr
    assert "load:duckdb/duckdb [append]" in table.stderr
    agents = run_cli("agents", cwd=work, env={"COLUMNS": "220"})
    assert "load:sql [append, atomic-run, copy" in agents.stderr
