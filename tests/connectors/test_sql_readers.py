"""The ADBC and SQLAlchemy readers, against the real PostgreSQL server and SQLite files.

Each must land every common PostgreSQL type exactly as DuckDB's postgres scanner does, so a
pipeline can change reader without its tables changing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors import source_for
from agent_orchestrated_etl.data import duck as _duck
from agent_orchestrated_etl.engine import RunResult
from agent_orchestrated_etl.engine.events import Event, EventBus
from agent_orchestrated_etl.spec import SqlSourceSpec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import EXPECTED_TYPES, TYPES_DDL, query, run_cli, said
from tests.servers import Postgres

TYPES_SQL = "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't_types'"
# Every column as text, so two loads compare value for value.
VALUES_SQL = (
    "SELECT id, i2, i4, i8, n::VARCHAR, f4, f8, tx, vc, b, d, tm, ts, tstz::VARCHAR, "
    'iv::VARCHAR, u::VARCHAR, jb, arr, tarr, "by", m::VARCHAR FROM t_types ORDER BY id'
)


@pytest.fixture
def pg(postgres: Postgres) -> Postgres:
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute(TYPES_DDL)
    return postgres


def _load(orch: DataOrchestrator, pg: Postgres, target: str, reader: str, **kw: object) -> None:
    spec = orch.create_pipeline(pg.url(), target, mode="replace", reader=reader, **kw).spec  # type: ignore[arg-type]
    result = orch.run(spec)
    assert result.status == "success", result.error


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_reader_lands_every_type_as_the_scanner_does(
    pg: Postgres, orch: DataOrchestrator, work: Path, reader: str
) -> None:
    _load(orch, pg, "duckdb:///scan.duckdb", "duckdb", tables=["t_types"])
    _load(orch, pg, f"duckdb:///{reader}.duckdb", reader, tables=["t_types"])
    assert dict(query(work / f"{reader}.duckdb", TYPES_SQL)) == EXPECTED_TYPES  # type: ignore[arg-type]
    assert query(work / f"{reader}.duckdb", VALUES_SQL) == query(work / "scan.duckdb", VALUES_SQL)
    # json keeps PostgreSQL's text through ADBC; through SQLAlchemy the driver parses it first.
    (j,) = query(work / f"{reader}.duckdb", "SELECT j FROM t_types WHERE id = 1")[0]
    assert j == ('{"a":1}' if reader == "adbc" else '{"a": 1}')


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_every_kind_of_numeric_lands_as_the_scanner_lands_it(
    pg: Postgres, orch: DataOrchestrator, work: Path, reader: str
) -> None:
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute(
            "DROP TABLE IF EXISTS t_nums; CREATE TABLE t_nums (id int PRIMARY KEY, "
            "a numeric(8,3)[], u numeric, big numeric(30,4), huge numeric(50,2)); "
            "INSERT INTO t_nums VALUES (1, '{1.5,2.25}', 3.14159, "
            "12345678901234567890.1234, 123456789.5), (2, NULL, NULL, NULL, NULL), "
            "(3, '{}', 1e-10, -1, -0.01)"
        )
    try:
        _load(orch, pg, "duckdb:///scan.duckdb", "duckdb", tables=["t_nums"])
        _load(orch, pg, f"duckdb:///{reader}.duckdb", reader, tables=["t_nums"])
    finally:
        with psycopg.connect(pg.url(), autocommit=True) as con:
            con.execute("DROP TABLE t_nums")  # the server is shared by the session's tests
    types = "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't_nums'"
    assert query(work / f"{reader}.duckdb", types) == [
        ("id", "INTEGER"),
        ("a", "DECIMAL(8,3)[]"),
        ("u", "DOUBLE"),  # numeric without precision: DuckDB's scanner reads it as DOUBLE
        ("big", "DECIMAL(30,4)"),
        ("huge", "DOUBLE"),  # wider than DuckDB's DECIMAL(38)
    ]
    values = "SELECT * FROM t_nums ORDER BY id"
    assert query(work / f"{reader}.duckdb", values) == query(work / "scan.duckdb", values)


def test_adbc_discovery_keys_estimates_and_the_path_chosen(pg: Postgres) -> None:
    source = source_for(SqlSourceSpec(uri=pg.url(), reader="adbc"))
    resources = {r.name: r for r in source.discover()}
    orders = resources["orders"]
    assert dict(orders.columns)["amount"] == "DECIMAL(10,2)"
    assert "primary key: id" in said(orders)
    assert "foreign key: customer_id -> public.customers(id)" in said(orders)
    assert "reader: ADBC (adbc-driver-postgresql), as Arrow batches" in said(orders)
    assert orders.row_estimate == 1000
    assert source.endpoint == f"127.0.0.1:{pg.port}"  # type: ignore[attr-defined]


def test_adbc_query_and_partitioned_read(pg: Postgres, orch: DataOrchestrator, work: Path) -> None:
    _load(
        orch,
        pg,
        "duckdb:///w.duckdb",
        "adbc",
        table="big_orders",
        query="SELECT id, amount FROM orders WHERE amount > 1000",
    )
    assert query(work / "w.duckdb", "SELECT count(*), min(id) FROM big_orders") == [(200, 801)]
    assert query(work / "w.duckdb", "SELECT typeof(amount) FROM big_orders LIMIT 1") == [
        ("DECIMAL(10,2)",)
    ]
    _load(orch, pg, "duckdb:///w.duckdb", "adbc", tables=["orders"], partitions=4)
    assert query(work / "w.duckdb", "SELECT count(*), count(DISTINCT id), sum(id) FROM orders") == [
        (1000, 1000, 500500)
    ]


def test_query_through_sqlalchemy_infers_types_from_the_values(
    pg: Postgres, orch: DataOrchestrator, work: Path
) -> None:
    _load(
        orch,
        pg,
        "duckdb:///w.duckdb",
        "sqlalchemy",
        table="q",
        query="SELECT id, amount, updated_at, 'x' || id AS label, NULL AS nothing, "
        "id % 2 = 0 AS even FROM orders WHERE amount > 1000",
    )
    types = query(
        work / "w.duckdb",
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'q'",
    )
    assert dict(types) == {  # type: ignore[arg-type]
        "id": "BIGINT",
        "amount": "DECIMAL(38,2)",
        "updated_at": "TIMESTAMP WITH TIME ZONE",
        "label": "VARCHAR",
        "nothing": "VARCHAR",
        "even": "BOOLEAN",
    }
    assert query(work / "w.duckdb", "SELECT count(*), min(id), sum(amount)::DOUBLE FROM q") == [
        (200, 801, 225125.0)
    ]


def test_scanner_that_cannot_load_falls_back_to_adbc(
    pg: Postgres, orch: DataOrchestrator, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An install without DuckDB's postgres extension package: LOAD fails (and never downloads).
    monkeypatch.setattr(_duck, "_EXTENSION_PACKAGES", ("httpfs",))
    orch.home = work / "bare-home"
    spec = orch.create_pipeline(pg.url(), "duckdb:///w.duckdb", tables=["orders"]).spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert any("ADBC instead of DuckDB's scanner" in note for note in result.notes)
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(1000,)]


def test_sqlite_without_its_scanner_falls_back_to_sqlalchemy(
    orch: DataOrchestrator, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_duck, "_EXTENSION_PACKAGES", ("httpfs",))
    orch.home = work / "bare-home"
    lite = sqlite3.connect(work / "app.sqlite")
    lite.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    lite.executemany("INSERT INTO users VALUES (?, ?)", [(i, f"u{i}@x") for i in range(10)])
    lite.commit()
    lite.close()
    result = orch.run(orch.create_pipeline("sqlite:///app.sqlite", "duckdb:///w.duckdb"))
    assert result.status == "success", result.error
    assert any("SQLAlchemy instead of DuckDB's scanner" in note for note in result.notes)
    assert query(work / "w.duckdb", "SELECT count(*), max(email) FROM users") == [(10, "u9@x")]


def test_sqlite_through_sqlalchemy_quarantines_values_that_do_not_fit(
    orch: DataOrchestrator, work: Path
) -> None:
    lite = sqlite3.connect(work / "app.sqlite")
    lite.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, score INTEGER, born DATE)")
    lite.executemany(
        "INSERT INTO users VALUES (?, ?, ?)",
        [(1, 10, "2001-02-03"), (2, "lots", "2002-03-04"), (3, 30, None)],
    )
    lite.commit()
    lite.close()
    spec = orch.create_pipeline(
        "sqlite:///app.sqlite", "duckdb:///w.duckdb", reader="sqlalchemy"
    ).spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT id, score, born FROM users ORDER BY id") == [
        (1, 10, __import__("datetime").date(2001, 2, 3)),
        (3, 30, None),
    ]
    (bad,) = StateStore(orch.home).dlq_entries(run_id=result.run_id)
    assert bad.line == 2 and "column score: 'lots' is not a BIGINT" in bad.reason


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_wrong_password_through_each_reader_is_one_line(
    pg: Postgres, tmp_path: Path, reader: str
) -> None:
    wrong = "Wr0ng-" + "pass-9kz"
    proc = run_cli(
        "run", pg.url(password=wrong), "--reader", reader, "--to", "w.duckdb", cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to postgresql://")
    assert "password authentication failed" in lines[0]
    assert lines[0].endswith(
        "; check the user and the password (in the URL, or the ${…} reference that gives it)"
    )
    assert wrong not in proc.stdout + proc.stderr


@pytest.mark.parametrize("reader", ["auto", "duckdb", "sqlalchemy"])
def test_a_mistyped_database_file_is_an_error_and_no_empty_database_appears(
    tmp_path: Path, reader: str
) -> None:
    proc = run_cli("run", "sqlite:///typo.db", "--reader", reader, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "error: no SQLite database at typo.db; check the path "
        "(sqlite:///relative/file or sqlite:////absolute/file)"
    )
    assert not (tmp_path / "typo.db").exists()


def test_a_database_file_given_as_a_path_says_which_url_reads_it(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "app.db").execute("CREATE TABLE t (x)").connection.close()
    proc = run_cli("run", "app.db", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "error: app.db is a SQLite database, not a data file; read it as sqlite:///app.db"
    )


def test_a_sqlalchemy_url_without_its_driver_says_what_to_install(tmp_path: Path) -> None:
    secret = "s3cr3t-" + "x1"
    proc = run_cli("run", f"mysql+pymysql://me:{secret}@127.0.0.1:9/db", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "error: SQLAlchemy has no driver for mysql+pymysql://me:***@127.0.0.1:9/db here "
        "(pymysql is missing): pip install pymysql"
    )
    assert secret not in proc.stdout + proc.stderr


def _cut_once(url: str, cut: threading.Event) -> None:
    """Terminate the backend streaming 'paused' while it pauses half way, once."""
    with psycopg.connect(url, autocommit=True) as con:
        for _ in range(1500):
            row = con.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()"
            ).fetchone()
            if row and row[0]:
                cut.set()
                return
            time.sleep(0.01)


def _run_over_pausing_view(
    pg: Postgres, orch: DataOrchestrator, reader: str, during: Callable[[], None] | None = None
) -> tuple[RunResult, list[Event]]:
    """Load a 1M-row view that pauses for a second half way, collecting the run's events.

    Its rows are wide enough that ADBC, which batches by size, has handed over batches before
    the pause. ``during`` runs on a thread alongside the load.
    """
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute(
            "CREATE OR REPLACE VIEW paused AS SELECT g AS id, repeat('x', 100) || "
            "CASE WHEN g = 500000 THEN pg_sleep(1)::text ELSE '' END AS pad "
            "FROM generate_series(1, 1000000) g"
        )
    helper = threading.Thread(target=during) if during else None
    if helper:
        helper.start()
    spec = orch.create_pipeline(
        pg.url(), "duckdb:///w.duckdb", tables=["paused"], reader=reader, mode="replace"
    ).spec
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    try:
        return orch.run(spec, bus=bus), events
    finally:
        if helper:
            helper.join()
        with psycopg.connect(pg.url(), autocommit=True) as con:
            con.execute("DROP VIEW paused")  # the server is shared by the session's tests


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_stream_cut_mid_table_is_retried_and_loads_exactly(
    pg: Postgres, orch: DataOrchestrator, work: Path, reader: str
) -> None:
    cut = threading.Event()
    result, events = _run_over_pausing_view(pg, orch, reader, lambda: _cut_once(pg.url(), cut))
    assert cut.is_set()
    assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT count(*), sum(id) FROM paused") == [
        (1000000, 500000500000)
    ]
    (retried,) = [e for e in events if e.kind == "task_retried"]
    assert "reading stopped" in str(retried.data), retried.data


@pytest.mark.parametrize("reader", ["adbc", "sqlalchemy"])
def test_a_streamed_table_reports_the_rows_read_while_it_loads(
    pg: Postgres, orch: DataOrchestrator, reader: str
) -> None:
    result, events = _run_over_pausing_view(pg, orch, reader)
    assert result.status == "success", result.error
    counts = [e.data["rows"] for e in events if e.kind == "progress" and "rows" in e.data]
    assert counts[-1] == 1_000_000
    assert any(0 < n < 1_000_000 for n in counts), counts
    assert counts == sorted(counts)
