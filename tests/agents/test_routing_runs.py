"""Routing in real runs: a workflow's target chosen by format, size, tags and AOETL_ENV,
rows split into tables by SQL predicate, unroutable rows failing the run or going to the
DLQ, and every decision in the audit log. Real CSV and Parquet files, real DuckDB targets
(and one real PostgreSQL server)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl.engine import RunResult
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.pipeline import RunOptions, plan_pipeline, run_pipeline, run_task
from agent_orchestrated_etl.pipeline.replay import replay
from agent_orchestrated_etl.pipeline.staging import staging_of
from agent_orchestrated_etl.spec import PipelineSpec, validate_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import query, run_cli
from tests.servers import Postgres

ORDERS = (
    "id,country,amount\n1,DE,10\n2,FR,20\n3,BE,30\n4,DE,40\n5,US,50\n"
    "6,,60\n7,FR,70\n8,NL,80\n9,DE,90\n"
)
BY_COUNTRY = [
    {"when": "country = 'DE'", "to": "orders_de"},
    {"when": "country IN ('FR', 'BE')", "to": "orders_fr"},
]


def data(work: Path) -> Path:
    folder = work / "data"
    folder.mkdir(exist_ok=True)
    (folder / "orders.csv").write_text(ORDERS)
    return folder


def make(work: Path, **extra: object) -> PipelineSpec:
    body: dict[str, object] = {
        "name": "shop",
        "source": str(data(work)),
        "target": f"duckdb:///{work / 'own.duckdb'}",
        **extra,
    }
    return validate_spec(body)


def run(work: Path, spec: PipelineSpec) -> RunResult:
    return run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=2))


def routes_of(work: Path, run_id: str) -> list[tuple[str, str, int | None]]:
    entries = StateStore(work / ".aoetl").audit.entries(run_id, kind="route")
    return [(e.subject, e.choice, e.detail.get("rows")) for e in entries]


def db(work: Path, name: str) -> str:
    return f"duckdb:///{work / name}"


# -- workflows ------------------------------------------------------------------------------
def test_a_workflow_goes_where_its_format_size_and_tags_say(work: Path) -> None:
    csv_bytes = len(ORDERS)
    route = [
        {"when": {"format": "parquet"}, "target": db(work, "parquet.duckdb")},
        {"when": {"min_size": csv_bytes + 1}, "target": db(work, "big.duckdb")},
        {"when": {"tags": ["finance"], "max_size": "1MB"}, "target": db(work, "fin.duckdb")},
        {"else": db(work, "other.duckdb")},
    ]
    done = run(work, make(work, tags=["finance", "eu"], route=route))
    assert done.status == "success", done.error
    assert query(work / "fin.duckdb", "SELECT count(*) FROM orders") == [(9,)]
    assert not any((work / n).exists() for n in ("parquet.duckdb", "big.duckdb", "own.duckdb"))
    store = StateStore(work / ".aoetl")
    [entry] = store.audit.entries(done.run_id, kind="route")
    assert (entry.subject, entry.detail["rule"]) == ("workflow", 2)
    assert entry.choice.endswith("fin.duckdb")
    assert entry.reasons[0] == "rule 1 did not match: format is csv, not parquet"
    assert entry.reasons[1].startswith(f"rule 2 did not match: size {csv_bytes} bytes <")
    assert entry.reasons[2] == f"rule 3 matched: size {csv_bytes} bytes, tags finance"
    assert entry.detail["facts"]["formats"] == ["csv"]
    record = store.find_run(done.run_id)
    assert record is not None and (record.target or "").endswith("fin.duckdb")
    # The same rules for a Parquet source: the first rule now matches.
    duckdb.sql(f"COPY (SELECT * FROM '{work / 'data/orders.csv'}') TO '{work / 'o.parquet'}'")
    spec = validate_spec(
        {"name": "pq", "source": str(work / "o.parquet"), "route": route, "tags": ["finance"]}
    )
    assert run(work, spec).status == "success"
    assert query(work / "parquet.duckdb", "SELECT count(*) FROM o") == [(9,)]


def test_no_match_and_no_else_loads_into_the_specs_target(work: Path) -> None:
    route = [{"when": {"environment": "prod"}, "target": db(work, "prod.duckdb")}]
    done = run(work, make(work, route=route))
    assert done.status == "success", done.error
    assert query(work / "own.duckdb", "SELECT count(*) FROM orders") == [(9,)]
    [entry] = StateStore(work / ".aoetl").audit.entries(done.run_id, kind="route")
    assert entry.detail["rule"] is None and entry.choice.endswith("own.duckdb")
    assert entry.reasons == (
        "rule 1 did not match: AOETL_ENV is unset, not prod",
        "no rule matched and there is no 'else': the spec's own target is used",
    )


def write_pipeline(work: Path, **extra: object) -> Path:
    data(work)
    body = {"name": "shop", "source": "data/", "target": "duckdb:///own.duckdb", **extra}
    path = work / "shop.yaml"
    path.write_text(json.dumps(body))
    return path


def test_aoetl_env_routes_and_a_run_keeps_its_route_across_its_tasks(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = [
        {"when": {"environment": ["dev", "test"]}, "target": db(work, "dev.duckdb")},
        {"else": db(work, "prod.duckdb")},
    ]
    spec = make(work, route=route)
    home = work / ".aoetl"
    # One task at a time, each opening the run anew, as an Airflow worker runs them.
    monkeypatch.setenv("AOETL_ENV", "dev")
    staged = run_task(spec, "load:orders", "r1", home=home)
    assert staged.status == "success", staged.error
    assert not (work / "prod.duckdb").exists()
    record = StateStore(home).find_run("r1")
    assert record is not None and (record.target or "").endswith("dev.duckdb")
    # aoetl runs --show finds the staging in the target the run was routed to.
    assert staging_of(record, home).tables == {"orders": 9}
    # The commit runs where AOETL_ENV says prod: the run still commits where it staged.
    monkeypatch.setenv("AOETL_ENV", "prod")
    commit = run_task(spec, "commit", "r1", home=home)
    assert commit.status == "success", commit.error
    assert query(work / "dev.duckdb", "SELECT count(*) FROM orders") == [(9,)]
    assert not (work / "prod.duckdb").exists()
    entries = StateStore(home).audit.entries("r1", kind="route")
    assert entries[0].reasons == ("rule 1 matched: AOETL_ENV=dev",)
    assert entries[1].reasons[0].startswith("resumed run: keeps rule 1")
    # A new run decides again.
    fresh = run(work, spec)
    assert fresh.status == "success", fresh.error
    assert query(work / "prod.duckdb", "SELECT count(*) FROM orders") == [(9,)]


def test_a_resumed_run_keeps_the_target_it_staged_in(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = [{"when": {"environment": "dev"}, "target": db(work, "dev.duckdb")}]
    spec = make(work, route=route)
    monkeypatch.setenv("AOETL_ENV", "dev")
    planned = plan_pipeline(spec, home=work / ".aoetl")
    planned.source.close()
    from agent_orchestrated_etl.pipeline.routing import route_workflow

    store = StateStore(work / ".aoetl")
    store.start_run("r2", "shop", spec.target.uri, spec_json=spec.model_dump_json())
    first = route_workflow(planned, store, "r2")
    monkeypatch.setenv("AOETL_ENV", "prod")
    again = route_workflow(planned, store, "r2")
    assert first.spec.target.uri == again.spec.target.uri == db(work, "dev.duckdb")
    decided = [e.reasons[0] for e in store.audit.entries("r2", kind="route")]
    assert decided == [
        "rule 1 matched: AOETL_ENV=dev",
        "resumed run: keeps rule 1, the target its first attempt chose and staged in",
    ]
    other = route_workflow(planned, store, "r3")
    assert other.spec.target.uri == db(work, "own.duckdb")


def test_a_workflow_routed_into_postgresql(work: Path, postgres: Postgres) -> None:
    postgres = postgres.database("routing_tests")  # other files keep an 'orders' of their own
    url = postgres.url()
    route = [{"when": {"format": "csv", "max_rows": 1000}, "target": url}]
    done = run(work, make(work, name="pgroute", route=route))
    assert done.status == "success", done.error
    import psycopg

    with psycopg.connect(url) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone() == (9,)
        con.execute("DROP TABLE orders")
    store = StateStore(work / ".aoetl")
    [entry] = store.audit.entries(done.run_id, kind="route")
    record = store.find_run(done.run_id)
    assert record is not None and postgres.password not in f"{record.spec_json}{record.target}"
    assert postgres.password not in entry.choice
    assert postgres.password not in json.dumps(entry.to_dict())


# -- rows ----------------------------------------------------------------------------------
def test_rows_go_to_the_first_route_they_meet(work: Path) -> None:
    spec = make(work, routes={"orders": [*BY_COUNTRY, {"else": "orders_other"}]})
    planned = plan_pipeline(spec, home=work / ".aoetl")
    planned.source.close()
    loads = [t.id for t in planned.plan.tasks.values() if t.action == "load"]
    assert loads == ["load:orders_de", "load:orders_fr", "load:orders_other"]
    described = planned.plan.task("load:orders_other").description
    assert ", rows of orders no earlier route took (else)" in described
    done = run(work, spec)
    assert done.status == "success", done.error
    own = work / "own.duckdb"
    tables = query(own, "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'main' ORDER BY 1")  # fmt: skip
    assert tables == [("orders_de",), ("orders_fr",), ("orders_other",)]
    source = f"read_csv('{work / 'data/orders.csv'}')"
    for table, where in [
        ("orders_de", "country = 'DE'"),
        ("orders_fr", "country IN ('FR', 'BE')"),
        ("orders_other", "country IS NULL OR country NOT IN ('DE', 'FR', 'BE')"),
    ]:
        expected = query(":memory:", f"SELECT id FROM {source} WHERE {where} ORDER BY id")
        assert query(own, f"SELECT id FROM {table} ORDER BY id") == expected
    assert sorted(routes_of(work, done.run_id)) == [  # the loads run side by side
        ("orders", "orders_de", 3),
        ("orders", "orders_fr", 3),
        ("orders", "orders_other", 3),
    ]
    assert done.tables["orders_de"].rows_loaded == 3


def test_unroutable_rows_fail_the_run_and_leave_the_target_unchanged(work: Path) -> None:
    done = run(work, make(work, routes={"orders": [*BY_COUNTRY, {"else": "orders_other"}]}))
    assert done.status == "success", done.error
    before = query(work / "own.duckdb", "SELECT count(*) FROM orders_de")
    (work / "shop.yaml").write_text(
        json.dumps({"name": "shop", "source": "data/", "target": f"duckdb:///{work / 'own.duckdb'}",
                    "routes": {"orders": BY_COUNTRY}})  # no else: unroutable rows fail
    )  # fmt: skip
    failed = run_cli("run", "shop.yaml", cwd=work)
    assert failed.returncode == 2, failed.stderr
    assert "table orders: 3 rows met no route (routes.orders)" in failed.stderr
    assert "add an 'else' rule" in failed.stderr and "unroutable: dlq" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert query(work / "own.duckdb", "SELECT count(*) FROM orders_de") == before


def test_unroutable_rows_can_go_to_the_dead_letter_queue(work: Path) -> None:
    done = run(work, make(work, routes={"orders": [*BY_COUNTRY, {"unroutable": "dlq"}]}))
    assert done.status == "success", done.error
    run_id = done.run_id
    listed = run_cli("dlq", "list", "--json", cwd=work)
    entries = [e for e in json.loads(listed.stdout) if e["reason"].startswith("no route")]
    assert len(entries) == 3
    assert {e["table"] for e in entries} == {"orders"}
    assert query(work / "own.duckdb", "SELECT count(*) FROM orders_de") == [(3,)]
    assert "3 rows met no route of table orders: they are in the dead-letter queue" in " ".join(
        done.notes
    )
    audited = run_cli("audit", "--run", run_id, "--kind", "route", "--json", cwd=work)
    assert audited.returncode == 0, audited.stderr
    found = {(e["choice"], e["detail"]["rows"]) for e in json.loads(audited.stdout)}
    assert found == {("unroutable: dlq", 3), ("orders_de", 3), ("orders_fr", 3)}
    # A row no route took is not replayed as if it were unreadable: it stays open.
    store = StateStore(work / ".aoetl")
    outcome = replay(store, store.dlq_entries(run_id), home=work / ".aoetl")
    assert not outcome.replayed and len(outcome.still_bad) == 3
    assert all("no route" in why for why in outcome.still_bad.values())


def test_a_bad_predicate_is_one_line_before_any_data_moves(work: Path) -> None:
    write_pipeline(work, routes={"orders": [{"when": "contry = 'DE'", "to": "de"}]})
    done = run_cli("run", "shop.yaml", cwd=work)
    assert done.returncode == 2
    assert "routes.orders rule 1: when \"contry = 'DE'\" cannot run" in done.stderr
    assert "country" in done.stderr and "Traceback" not in done.stderr
    assert not (work / "own.duckdb").exists() or query(
        work / "own.duckdb",
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'de'",
    ) == [(0,)]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ({"orders": [{"when": "id > 1", "to": "orders"}]}, "is also a table the source holds"),
        ({"items": [{"when": "id > 1", "to": "x"}]}, "the source has no table 'items'"),
    ],
)
def test_route_tables_are_checked_at_plan_time(work: Path, routes: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan_pipeline(make(work, routes=routes), home=work / ".aoetl")
