"""The SQL source against a real PostgreSQL server, and SQLite and DuckDB files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors import ForeignKey, source_for
from agent_orchestrated_etl.connectors.sql.source import SqlSource
from agent_orchestrated_etl.errors import NotSupportedError, SourceNotFoundError, TransientError
from agent_orchestrated_etl.spec import SqlSourceSpec
from tests.helpers import EXPECTED_TYPES, TYPES_DDL, query, run_cli, said
from tests.servers import Postgres

# PostgreSQL type -> the DuckDB type it lands as (through DuckDB's postgres scanner).


@pytest.fixture
def pg(postgres: Postgres) -> Postgres:
    own = postgres.database("sql_source_tests")  # the plan test lists every table it finds
    with psycopg.connect(own.url(), autocommit=True) as con:
        con.execute(TYPES_DDL)
    return own


def test_discovery_lists_tables_columns_keys_and_estimates(pg: Postgres) -> None:
    source = SqlSource(SqlSourceSpec(uri=pg.url()))
    resources = {r.name: r for r in source.discover()}
    assert {"t_types", "customers", "orders"} <= set(resources)
    orders = resources["orders"]
    assert dict(orders.columns)["amount"] == "DECIMAL(10,2)"
    assert "primary key: id" in said(orders)
    assert "foreign key: customer_id -> public.customers(id)" in said(orders)
    assert orders.primary_key == ("id",)
    assert orders.foreign_keys == (ForeignKey(("customer_id",), "public.customers", ("id",)),)
    assert orders.row_estimate == 1000
    assert source.endpoint == f"127.0.0.1:{pg.port}"


def test_every_common_postgres_type_maps_and_loads_exactly(
    pg: Postgres, orch: DataOrchestrator, work: Path
) -> None:
    spec = orch.create_pipeline(
        pg.url(), "duckdb:///w.duckdb", mode="replace", tables=["t_types"]
    ).spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert result.tables["t_types"].fused
    types = dict(
        query(
            work / "w.duckdb",
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't_types'",
        )
    )  # type: ignore[arg-type]
    assert types == EXPECTED_TYPES
    row = query(
        work / "w.duckdb",
        'SELECT n::VARCHAR, tstz::VARCHAR, iv::VARCHAR, u::VARCHAR, arr, tarr, "by", m::VARCHAR, '
        "jb FROM t_types WHERE id = 1",
    )[0]
    assert row == (
        "123.456",
        "2024-01-02 01:04:05+00",
        "1 day 02:00:00",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        [1, 2, 3],
        ["x", "y"],
        b"\xde\xad\xbe\xef",
        "happy",
        '{"b": [1, 2]}',
    )
    nulls = query(work / "w.duckdb", "SELECT count(*) FROM t_types WHERE id = 2 AND i2 IS NULL")
    assert nulls == [(1,)]


def test_query_runs_in_postgres(pg: Postgres, orch: DataOrchestrator, work: Path) -> None:
    spec = orch.create_pipeline(
        pg.url(),
        "duckdb:///w.duckdb",
        table="big_orders",
        query="SELECT id, amount FROM orders WHERE amount > 1000",
    ).spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT count(*), min(id) FROM big_orders") == [(200, 801)]


def test_tables_into_parquet_stream_through_the_same_scan(
    pg: Postgres, orch: DataOrchestrator, work: Path
) -> None:
    spec = orch.create_pipeline(pg.url(), "parquet:///lake", tables=["customers", "orders"]).spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert query(
        ":memory:", f"SELECT count(*) FROM read_parquet('{work}/lake/orders/*.parquet')"
    ) == [(1000,)]


def test_unknown_table_lists_the_tables(pg: Postgres) -> None:
    with pytest.raises(SourceNotFoundError, match=r"no table nope; tables: .*public.orders"):
        SqlSource(SqlSourceSpec(uri=pg.url(), tables=("nope",))).discover()


def test_wrong_password_is_one_clear_line_without_the_password(
    pg: Postgres, tmp_path: Path
) -> None:
    wrong = "Wr0ng-" + "pass-7xq"
    proc = run_cli("run", pg.url(password=wrong), "--to", "duckdb:///w.duckdb", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot connect to postgresql://postgres:***@"
    )
    assert "password authentication failed" in lines[0]
    assert "; check the user and the password" in lines[0]
    assert wrong not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("reader", ["duckdb", "adbc", "sqlalchemy"])
def test_a_refused_connection_is_transient_and_names_the_server(reader: str) -> None:
    # Every reader: the server may come back, so the run retries; the password stays masked.
    spec = SqlSourceSpec(uri="postgresql://etl:hunter2-pw@127.0.0.1:9/shop", reader=reader)
    with pytest.raises(TransientError) as caught:
        source_for(spec)
    message = str(caught.value)
    assert message.startswith("cannot connect to postgresql://etl:***@127.0.0.1:9/shop: ")
    assert "Connection refused" in message and "hunter2" not in message
    assert "\n" not in message


def test_a_server_that_is_not_there_says_what_to_check(tmp_path: Path) -> None:
    proc = run_cli("run", "postgresql://etl@127.0.0.1:9/shop", cwd=tmp_path)
    assert proc.returncode == 1  # transient: retried, then failed
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("error: cannot connect to ") and "127.0.0.1:9" in line
    assert "Connection refused" in line and "check that the server is running" in line


def test_sqlite_and_duckdb_files(orch: DataOrchestrator, work: Path) -> None:
    lite = sqlite3.connect(work / "app.sqlite")
    lite.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, score REAL)")
    lite.executemany(
        "INSERT INTO users VALUES (?, ?, ?)", [(i, f"u{i}@x", i / 2) for i in range(100)]
    )
    lite.commit()
    lite.close()
    duck = duckdb.connect(str(work / "src.duckdb"))
    duck.execute("CREATE TABLE events AS SELECT range AS id, 'e' || range AS name FROM range(250)")
    duck.close()
    for uri, table, n in (
        ("sqlite:///app.sqlite", "users", 100),
        ("duckdb:///src.duckdb", "events", 250),
    ):
        result = orch.run(orch.create_pipeline(uri, "duckdb:///w.duckdb"))
        assert result.status == "success", result.error
        assert query(work / "w.duckdb", f"SELECT count(*) FROM {table}") == [(n,)]


def test_query_on_sqlite_is_refused_clearly(orch: DataOrchestrator, work: Path) -> None:
    sqlite3.connect(work / "a.sqlite").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(
        NotSupportedError, match="'query' reads from PostgreSQL only with reader 'duckdb'"
    ):
        SqlSource(SqlSourceSpec(uri="sqlite:///a.sqlite", query="SELECT 1")).discover()


def test_plan_proposes_cursors_and_keys_and_never_writes_the_password(
    pg: Postgres, tmp_path: Path
) -> None:
    proc = run_cli("plan", pg.url(), "--to", "duckdb:///w.duckdb", "-o", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "p.yaml").read_text()
    assert pg.password not in text + proc.stdout + proc.stderr
    assert "${env:PGPASSWORD}" in text
    import yaml

    doc = yaml.safe_load(text)
    assert doc["source"]["incremental"]["orders"] == {"cursor": "updated_at"}
    assert doc["mode"] == "merge" and doc["key"] == ["id"]
    assert "proposed: orders: incremental on updated_at" in proc.stderr
    ran = run_cli("run", "p.yaml", "--json", cwd=tmp_path, env={"PGPASSWORD": pg.password})
    assert ran.returncode == 0, ran.stderr
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM orders") == [(1000,)]
    again = run_cli("run", "p.yaml", "--json", cwd=tmp_path, env={"PGPASSWORD": pg.password})
    assert again.returncode == 0, again.stderr
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM orders") == [(1000,)]


def test_plan_shows_what_discovery_found(pg: Postgres, tmp_path: Path) -> None:
    proc = run_cli("plan", pg.url(), "--tables", "public.orders", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "discovered" in proc.stderr
    (row,) = [line for line in proc.stderr.splitlines() if "public.orders" in line]
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == [
        "orders",
        "public.orders",
        "table",
        "1,000",
        "4",
        "id",
        "customer_id -> public.customers(id)",
    ]

    as_json = run_cli("plan", pg.url(), "--tables", "public.orders", "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert pg.password not in as_json.stdout
    (orders,) = result["discovered"]
    assert orders["from"] == ["public.orders"] and orders["kind"] == "table"
    assert orders["row_estimate"] == 1000
    assert orders["primary_key"] == "id"
    assert orders["foreign_keys"] == ["customer_id -> public.customers(id)"]
    assert {"name": "amount", "type": "DECIMAL(10,2)"} in orders["columns"]
    assert result["pipeline"]["mode"] == "merge"
    assert "orders: incremental on updated_at (other candidates: id)" in result["proposals"]


def test_partitioned_read_by_key_ranges(pg: Postgres, tmp_path: Path) -> None:
    listing = run_cli(
        "run", pg.url(), "--tables", "orders", "--partitions", "4", "--list-tasks", cwd=tmp_path
    )
    assert listing.returncode == 0, listing.stderr
    source = SqlSource(SqlSourceSpec(uri=pg.url(), tables=("orders",), partitions=4))
    (orders,) = source.discover()
    assert "partitions: 4 key ranges on id (1..1000, in parallel)" in said(orders)
    relation = source.relation(orders)
    assert relation.sql.count("UNION ALL") == 3
    proc = run_cli(
        "run",
        pg.url(),
        "--tables",
        "orders",
        "--partitions",
        "4",
        "--to",
        "duckdb:///w.duckdb",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert query(
        tmp_path / "w.duckdb", "SELECT count(*), count(DISTINCT id), sum(id) FROM orders"
    ) == [(1000, 1000, 500500)]
