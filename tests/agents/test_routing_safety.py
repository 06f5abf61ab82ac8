"""Routing that must not be bent: a row route's predicate is one SQL condition (it cannot
break first match or run statements of its own), a database source's unknown size routes no
workflow by size, and a routed load reads its source as one agent call. Real CSV, SQLite and
DuckDB files; the CLI as a user runs it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl.agents.routing import SourceFacts, decide_workflow
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.pipeline import RunOptions, plan_pipeline, run_pipeline
from agent_orchestrated_etl.pipeline.routing import route_workflow, settle_decision
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import query, run_cli

ORDERS = "id,country,amount\n1,DE,10\n2,FR,20\n3,US,30\n4,DE,40\n"


def pipeline(work: Path, **extra: object) -> Path:
    (work / "data").mkdir(exist_ok=True)
    (work / "data/orders.csv").write_text(ORDERS)
    body = {"name": "shop", "source": "data/", "target": "duckdb:///own.duckdb", **extra}
    path = work / "shop.yaml"
    path.write_text(json.dumps(body))
    return path


def tables(db: Path) -> list[tuple[object, ...]]:
    return query(db, "SELECT table_name FROM information_schema.tables ORDER BY 1")


INJECTED = "TRUE), FALSE); DROP TABLE IF EXISTS main.customers; SELECT COALESCE((TRUE"


@pytest.mark.parametrize(
    "when",
    [
        # Closes the COALESCE the router wraps a predicate in: every row would meet both routes.
        "country = 'DE'), FALSE) OR COALESCE((TRUE",
        # Runs statements of its own on the target's connection.
        INJECTED,
        "country = 'DE'; DROP TABLE customers",
        "country = 'DE' /* the rest of the router's SQL",
        "*",
    ],
)
def test_a_predicate_is_one_sql_condition(when: str) -> None:
    routes = {"orders": [{"when": when, "to": "orders_de"}, {"else": "orders_rest"}]}
    with pytest.raises(UserError, match="is not one SQL condition") as caught:
        validate_spec({"name": "shop", "source": "data/", "routes": routes})
    assert "country = 'DE'" in str(caught.value) and "\n" not in str(caught.value)


def test_an_injected_statement_is_refused_before_the_target_opens(work: Path) -> None:
    con = duckdb.connect(str(work / "own.duckdb"))
    con.execute("CREATE TABLE customers AS SELECT 1 AS id")
    con.close()
    routes = {"orders": [{"when": INJECTED, "to": "orders_de"}, {"else": "orders_rest"}]}
    # With a transform the columns are known only at the load: the spec refuses it first.
    pipeline(work, routes=routes, transforms=[{"filter": "id > 0"}])
    done = run_cli("run", "shop.yaml", cwd=work)
    assert done.returncode == 2, done.stderr
    said = done.stderr.strip().splitlines()
    assert len(said) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "routes.orders" in said[0] and "is not one SQL condition" in said[0], said[0]
    assert tables(work / "own.duckdb") == [("customers",)]


def test_a_predicate_that_is_no_condition_is_refused_before_data_moves(work: Path) -> None:
    pipeline(work, routes={"orders": [{"when": "amount", "to": "big"}, {"else": "small"}]})
    done = run_cli("run", "shop.yaml", cwd=work)
    assert done.returncode == 2, done.stderr
    assert "routes.orders rule 1: when 'amount' gives BIGINT, not true or false" in done.stderr
    assert not (work / "own.duckdb").exists() or tables(work / "own.duckdb") == []


def test_first_match_holds_for_predicates_with_comments_and_strings(work: Path) -> None:
    routes = {
        "orders": [
            {"when": "country = ';' OR /* DE */ country = 'DE' -- or ;", "to": "orders_de"},
            {"else": "orders_rest"},
        ]
    }
    pipeline(work, routes=routes)
    done = run_cli("run", "shop.yaml", cwd=work)
    assert done.returncode == 0, done.stderr
    assert query(work / "own.duckdb", "SELECT id FROM orders_de ORDER BY id") == [(1,), (4,)]
    assert query(work / "own.duckdb", "SELECT id FROM orders_rest ORDER BY id") == [(2,), (3,)]


def test_a_database_sources_unknown_size_matches_no_size_rule(work: Path) -> None:
    source = sqlite3.connect(work / "src.sqlite")
    source.execute("CREATE TABLE big (id INTEGER, pad TEXT)")
    source.executemany("INSERT INTO big VALUES (?, ?)", [(i, "x" * 100) for i in range(500)])
    source.commit()
    source.close()
    route = [
        {"when": {"max_size": "1kB"}, "target": f"duckdb:///{work / 'small.duckdb'}"},
        {"when": {"min_size": 0}, "target": f"duckdb:///{work / 'sized.duckdb'}"},
        {"else": f"duckdb:///{work / 'other.duckdb'}"},
    ]
    spec = validate_spec(
        {"name": "sz", "source": f"sqlite:///{work / 'src.sqlite'}", "route": route}
    )
    done = run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=2))
    assert done.status == "success", done.error
    assert query(work / "other.duckdb", "SELECT count(*) FROM big") == [(500,)]
    assert not (work / "small.duckdb").exists() and not (work / "sized.duckdb").exists()
    [entry] = StateStore(work / ".aoetl").audit.entries(done.run_id, kind="route")
    assert entry.reasons[:2] == (
        "rule 1 did not match: the size is unknown (only files have a size before they are read)",
        "rule 2 did not match: the size is unknown (only files have a size before they are read)",
    )
    assert entry.detail["facts"]["size_bytes"] is None


# SQL steps fuse into one query, run again for the count; a python step streams, read once.
@pytest.mark.parametrize("step", [{"filter": "id > 0"}, {"python": "routestep:same"}])
def test_a_routed_load_reads_its_source_once_as_agents_work(
    work: Path, step: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "routestep.py").write_text("def same(batch):\n    return batch\n")
    monkeypatch.syspath_prepend(str(work))
    routes = {
        "orders": [
            {"when": "country = 'DE'", "to": "orders_de"},
            {"when": "country = 'FR'", "to": "orders_fr"},
            {"unroutable": "dlq"},
        ]
    }
    pipeline(work, routes=routes, transforms=[step])
    spec = validate_spec(json.loads((work / "shop.yaml").read_text()))
    done = run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=2))
    assert done.status == "success", done.error
    store = StateStore(work / ".aoetl")
    chosen = [(e.task_id, e.subject.split(":")[0]) for e in store.audit.entries(done.run_id)]
    for task in ("load:orders_de", "load:orders_fr"):
        steps = [action for t, action in chosen if t == task]
        assert steps.count("extract") == 1 and steps.count("transform") == 1, (task, steps)
    stats = store.audit.stats()
    # Two loads, each one read credited with its own rows: 2 DE and 1 FR.
    assert (stats["extract-files", "extract"].calls, stats["extract-files", "extract"].rows) == (
        2,
        3,
    )
    assert stats["transform", "transform"].calls == 2
    [unrouted] = [e for e in store.dlq_entries(done.run_id) if e.file == "route:orders"]
    assert json.loads(unrouted.payload or "{}")["country"] == "US"
    assert "1 row met no route of table orders" in " ".join(done.notes)


def test_two_first_attempts_of_a_run_keep_the_decision_recorded_first(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = [
        {"when": {"environment": "dev"}, "target": f"duckdb:///{work / 'dev.duckdb'}"},
        {"else": f"duckdb:///{work / 'prod.duckdb'}"},
    ]
    pipeline(work, route=route)
    spec = validate_spec(json.loads((work / "shop.yaml").read_text()))
    planned = plan_pipeline(spec, home=work / ".aoetl")
    planned.source.close()
    store = StateStore(work / ".aoetl")
    # Two first attempts of run r1 at once (aoetl run --task on two workers), each finding no
    # decision recorded: A, where AOETL_ENV=dev, records its decision first; B, where it is
    # unset, decided the else rule and records it after.
    monkeypatch.setenv("AOETL_ENV", "dev")
    a = route_workflow(planned, store, "r1")
    assert a.spec.target.uri.endswith("dev.duckdb")
    unset = SourceFacts.of(spec, planned.resources, None)
    b = settle_decision(spec, store, "r1", decide_workflow(spec.route, spec.target, unset))
    assert b.target.uri.endswith("dev.duckdb") and b.rule == 0  # B stages where A does
    reasons = [e.reasons[0] for e in store.audit.entries("r1", kind="route")]
    assert reasons == [
        "rule 1 matched: AOETL_ENV=dev",
        "rule 1 did not match: AOETL_ENV is unset, not dev",
        "another attempt decided first: keeps rule 1, the target its first attempt chose and "
        "staged in",
    ]
