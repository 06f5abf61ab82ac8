"""The read-only query (``DataOrchestrator.query``) against real DuckDB and SQLite files and the
real PostgreSQL server: rows and types, truncation, every write refused twice (by the
statement gate, and by the read-only connection when the gate is bypassed), the target
unchanged afterwards, and no secret in a result or an error."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path

import duckdb
import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors.duckdb._encrypted import open_encrypted
from agent_orchestrated_etl.connectors.query import check_read_only, read_unchecked
from agent_orchestrated_etl.errors import NotSupportedError, UserError
from tests.helpers import TYPES_DDL
from tests.servers import Postgres

PASSWORD = "q-literal-pw-7"  # pragma: allowlist secret
ROLE = "aoetl_query"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB warehouse (orders with several types, a sequence) and a SQLite file."""
    root = tmp_path_factory.mktemp("query")
    con = duckdb.connect(str(root / "w.duckdb"))
    con.execute(
        "CREATE TABLE orders AS SELECT range::INTEGER AS id, (range * 1.5)::DECIMAL(10,2) AS "
        "amount, DATE '2024-01-01' + range::INTEGER AS day, 'c' || range AS customer, "
        "CASE WHEN range = 0 THEN 'nan'::DOUBLE ELSE range / 4 END AS ratio, "
        "'\\xDE\\xAD'::BLOB AS raw, {'k': range} AS meta FROM range(5);"
        "CREATE SEQUENCE seq"
    )
    con.close()
    lite = sqlite3.connect(root / "w.db")
    lite.executescript(
        "CREATE TABLE t (id INTEGER, name TEXT, score REAL); "
        "INSERT INTO t VALUES (1, 'a', 1.5), (2, 'b', NULL), (3, 'c', 2.5);"
    )
    lite.close()
    return root


@pytest.fixture(scope="module")
def pg(postgres: Postgres) -> Postgres:
    own = postgres.database("query_tests")
    with psycopg.connect(own.url(), autocommit=True) as con:
        con.execute(TYPES_DDL)
        con.execute(
            "DROP SEQUENCE IF EXISTS q_seq; CREATE SEQUENCE q_seq;"
            "CREATE OR REPLACE FUNCTION q_write() RETURNS int LANGUAGE sql VOLATILE AS "
            "$$ INSERT INTO customers (id) VALUES (999) RETURNING 1 $$;"
            f"DROP ROLE IF EXISTS {ROLE}; CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}';"
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}"
        )
    return own


def _pg_state(pg: Postgres) -> tuple[object, ...]:
    with psycopg.connect(pg.url(), autocommit=True) as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders), "
            "(SELECT last_value FROM q_seq), to_regclass('public.q_made') IS NULL"
        ).fetchone()
    assert row is not None
    return tuple(row)


# -- DuckDB ----------------------------------------------------------------------------------


def test_duckdb_rows_types_and_json_values(files: Path, orch: DataOrchestrator) -> None:
    result = orch.query(
        f"duckdb:///{files / 'w.duckdb'}", "SELECT * FROM orders ORDER BY id", limit=5
    )
    assert [c["name"] for c in result.columns] == [
        "id", "amount", "day", "customer", "ratio", "raw", "meta",
    ]  # fmt: skip
    assert result.columns[1] == {"name": "amount", "type": "DECIMAL(10,2)"}
    assert result.columns[2]["type"] == "DATE"
    assert result.rows[0] == [0, "0.00", "2024-01-01", "c0", None, "\\xdead", {"k": 0}]
    assert result.rows[4][:2] == [4, "6.00"]
    assert not result.truncated and result.elapsed_s > 0
    document = json.loads(json.dumps(result.to_dict()))
    assert document["rows"] == result.rows and document["truncated"] is False


def test_a_larger_result_is_truncated_at_the_limit_without_reading_the_rest(
    files: Path, orch: DataOrchestrator
) -> None:
    result = orch.query(str(files / "w.duckdb"), "SELECT id FROM orders ORDER BY id", limit=3)
    assert result.rows == [[0], [1], [2]] and result.truncated
    started = time.perf_counter()
    huge = orch.query(str(files / "w.duckdb"), "SELECT * FROM range(10000000000)", limit=2)
    assert huge.rows == [[0], [1]] and huge.truncated
    assert time.perf_counter() - started < 5  # ten billion rows: only a few were read


WRITES = [
    ("INSERT INTO orders (id) VALUES (9)", "an INSERT statement; load data with 'aoetl run'"),
    ("UPDATE orders SET id = 1", "an UPDATE statement"),
    ("DELETE FROM orders", "a DELETE statement"),
    ("CREATE TABLE x (a INT)", "a CREATE statement"),
    ("DROP TABLE orders", "a DROP statement"),
    ("COPY orders TO 'out.csv'", "a COPY statement"),
    ("ATTACH 'other.duckdb'", "an ATTACH statement"),
    ("SELECT 1; DROP TABLE orders", "got 2 statements; give one statement"),
    ("PRAGMA query_only = OFF", "'PRAGMA …' is a SET statement"),
    ("PRAGMA user_version = 5", "'PRAGMA …' is a"),
    ("SET enable_external_access = true", "a SET statement"),
    ("EXPLAIN ANALYZE SELECT * FROM orders", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN (FORMAT json, ANALYZE) DELETE FROM orders", "EXPLAIN ANALYZE runs"),
    ("INSTALL httpfs", "a LOAD statement"),
    ("CHECKPOINT", "a CALL statement"),
    ("SELEC 1", "syntax error"),
    ("  -- nothing\n", "got no statement"),
]


@pytest.mark.parametrize(("sql", "said"), WRITES, ids=[w[0][:24] for w in WRITES])
def test_the_gate_refuses_anything_but_one_reading_statement(
    files: Path, orch: DataOrchestrator, sql: str, said: str
) -> None:
    before = _digest(files / "w.duckdb")
    with pytest.raises(UserError) as caught:
        orch.query(str(files / "w.duckdb"), sql)
    assert said in str(caught.value) and "\n" not in str(caught.value)
    assert _digest(files / "w.duckdb") == before


@pytest.mark.parametrize(
    "sql", ["SHOW TABLES", "DESCRIBE orders", "TABLE orders", "EXPLAIN SELECT 1", "VALUES (1)"]
)
def test_the_gate_lets_reading_statements_through(sql: str) -> None:
    assert check_read_only(sql) == sql


def test_a_duckdb_connection_cannot_write_even_past_the_gate(files: Path, work: Path) -> None:
    db = files / "w.duckdb"
    before = _digest(db)
    for sql in [
        "INSERT INTO orders (id) VALUES (9)",
        "CREATE TABLE made AS SELECT 1",
        "SELECT nextval('seq')",  # a SELECT that would write: the gate lets it through
        f"COPY orders TO '{work / 'out.csv'}'",
        f"ATTACH '{work / 'new.duckdb'}' AS other",
        "SELECT * FROM read_csv('/etc/passwd')",  # another file: external access is off
        "SET enable_external_access = true",
    ]:
        with pytest.raises(UserError, match=r"read-only|locked|not other files") as caught:
            read_unchecked(str(db), sql, limit=10, timeout_s=10)
        assert "\n" not in str(caught.value)
    assert not (work / "out.csv").exists() and not (work / "new.duckdb").exists()
    assert _digest(db) == before
    with pytest.raises(UserError, match="read-only: the target refused it"):
        DataOrchestrator(work / ".aoetl").query(str(db), "SELECT nextval('seq')")


def test_a_missing_duckdb_file_is_an_error_and_is_not_created(orch: DataOrchestrator) -> None:
    with pytest.raises(UserError, match=r"no DuckDB database at duckdb:///nope\.duckdb; run a"):
        orch.query("duckdb:///nope.duckdb", "SELECT 1")
    assert not Path("nope.duckdb").exists() and not Path("nope.duckdb.wal").exists()


def test_a_duckdb_file_being_written_or_encrypted_is_named(
    files: Path, orch: DataOrchestrator, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = duckdb.connect(str(files / "w.duckdb"))  # as a run in this process holds it
    try:
        with pytest.raises(UserError, match=r"is open for writing \(a run in progress\?\)"):
            orch.query(str(files / "w.duckdb"), "SELECT 1")
    finally:
        writer.close()
    monkeypatch.setenv("QUERY_KEY", "query-test-key-1")
    con = open_encrypted("enc.duckdb", "${env:QUERY_KEY}", "enc", home=work / ".aoetl")
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    with pytest.raises(NotSupportedError, match=r"enc\.duckdb is an encrypted DuckDB file"):
        orch.query("enc.duckdb", "SELECT * FROM t")


def test_mistakes_are_one_line_user_errors(files: Path, orch: DataOrchestrator) -> None:
    with pytest.raises(UserError, match="Table with name nope does not exist"):
        orch.query(str(files / "w.duckdb"), "SELECT * FROM nope")
    for limit in (0, 10_001, -1):
        with pytest.raises(UserError, match="limit must be a whole number from 1 to 10,000"):
            orch.query(str(files / "w.duckdb"), "SELECT 1", limit=limit)


def test_a_slow_duckdb_query_is_stopped_at_the_timeout(files: Path, orch: DataOrchestrator) -> None:
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"ran longer than 0\.3 s and was stopped"):
        orch.query(
            str(files / "w.duckdb"),
            "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3",
            timeout_s=0.3,
        )
    assert time.perf_counter() - started < 5


def test_targets_query_cannot_read_are_named_with_what_it_reads(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "lake").mkdir()
    for target, said in [
        ("lake", "lake is a folder of Parquet files"),
        ("s3://bucket/lake/", "not s3:// (s3://bucket/lake/)"),
    ]:
        with pytest.raises(UserError, match="query reads DuckDB files") as caught:
            orch.query(target, "SELECT 1")
        assert said in str(caught.value)
    (work / "t.csv").write_text("a\n1\n")
    (work / "notes.duckdb").write_text("not a database")
    for target, said in [
        ("t.csv", "t.csv is a file; see its tables with 'aoetl profile t.csv'"),
        ("", "give a target to query"),
        ("nothere/", "no target at nothere/"),
        ("duckdb:///notes.duckdb", "is no DuckDB database (nor SQLite)"),
    ]:
        with pytest.raises(UserError, match=re.escape(said)):
            orch.query(target, "SELECT 1")


# -- SQLite ----------------------------------------------------------------------------------


def test_sqlite_rows_and_a_read_only_connection(files: Path, orch: DataOrchestrator) -> None:
    db = files / "w.db"
    result = orch.query(f"sqlite:///{db}", "SELECT * FROM t ORDER BY id", limit=2)
    assert result.columns == [
        {"name": "id", "type": "INTEGER"},
        {"name": "name", "type": "TEXT"},
        {"name": "score", "type": "REAL"},
    ]
    assert result.rows == [[1, "a", 1.5], [2, "b", None]] and result.truncated
    assert orch.query(str(db), "SELECT count(*) AS n FROM t").rows == [[3]]  # told by content
    before = _digest(db)
    for sql in [
        "INSERT INTO t VALUES (4, 'd', 0)",
        "CREATE TABLE made (a)",
        "PRAGMA user_version = 5",
        f"ATTACH '{files / 'made.db'}' AS other",
    ]:
        with pytest.raises(UserError, match=r"read-only|too many attached"):
            read_unchecked(f"sqlite:///{db}", sql, limit=10, timeout_s=10)
    assert _digest(db) == before and not (files / "made.db").exists()
    with pytest.raises(UserError, match=r"no SQLite database at sqlite:///missing\.db"):
        orch.query("sqlite:///missing.db", "SELECT 1")
    assert not Path("missing.db").exists()


# -- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_rows_types_and_json_values(pg: Postgres, orch: DataOrchestrator) -> None:
    result = orch.query(pg.url(), "SELECT * FROM t_types ORDER BY id", limit=10)
    types = {c["name"]: c["type"] for c in result.columns}
    assert types["n"] == "numeric(12,3)" and types["ts"] == "timestamp"
    row = dict(zip(types, result.rows[0], strict=True))
    assert row["n"] == "123.456" and row["d"] == "2024-01-02" and row["by"] == "\\xdeadbeef"
    assert row["jb"] == {"b": [1, 2]} and row["arr"] == [1, 2, 3]
    assert row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert all(v is None for k, v in zip(types, result.rows[1], strict=True) if k != "id")
    assert not result.truncated
    json.dumps(result.to_dict())  # every value JSON-able as it is


def test_a_huge_postgres_result_streams_only_limit_rows(
    pg: Postgres, orch: DataOrchestrator
) -> None:
    started = time.perf_counter()
    # A nested loop: PostgreSQL sends its rows as it makes them.
    nine_hundred_million = (
        "SELECT a.x * b.y AS n FROM generate_series(1, 30000) a(x), generate_series(1, 30000) b(y)"
    )
    result = orch.query(pg.url(), nine_hundred_million, limit=3)
    assert len(result.rows) == 3 and result.truncated
    assert time.perf_counter() - started < 5  # the rest is cancelled on the server


def test_a_postgres_session_cannot_write_even_past_the_gate(pg: Postgres) -> None:
    before = _pg_state(pg)
    for sql, said in [
        ("SELECT nextval('q_seq')", "read-only: the target refused it"),
        ("SELECT q_write()", "read-only: the target refused it"),  # a function that writes
        ("SELECT set_config('transaction_read_only', 'off', true)", "before any query"),
        ("SET TRANSACTION READ WRITE", "before any query"),
        ("INSERT INTO customers (id) VALUES (1000)", "read-only transaction"),
        ("CREATE TABLE q_made (a int)", "read-only transaction"),
        ("SELECT 1; CREATE TABLE q_made (a int)", "multiple commands"),
    ]:
        with pytest.raises(UserError, match=said) as caught:
            read_unchecked(pg.url(), sql, limit=10, timeout_s=10)
        assert "\n" not in str(caught.value)
    assert check_read_only("SELECT q_write()")  # why the connection must hold the line too
    assert _pg_state(pg) == before


def test_a_superusers_query_runs_as_a_role_that_may_only_read(pg: Postgres, tmp_path: Path) -> None:
    # READ ONLY stops writes to tables, not functions acting outside them: a superuser's
    # statement runs as pg_read_all_data, which may read every table and call none of these.
    assert read_unchecked(pg.url(), "SELECT count(*) FROM customers", limit=1, timeout_s=10)
    out = tmp_path / "exported.txt"
    for sql in [
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT pg_reload_conf()",
        f"SELECT lo_export(lo_from_bytea(0, 'x'), '{out}')",
        "SELECT pg_create_physical_replication_slot('q_slot')",
        "SELECT pg_terminate_backend(pg_backend_pid())",
    ]:
        with pytest.raises(UserError, match=r"query is read-only: the target refused it"):
            read_unchecked(pg.url(), sql, limit=1, timeout_s=10)
    assert not out.exists()


def test_a_slow_postgres_query_is_stopped_at_the_timeout(
    pg: Postgres, orch: DataOrchestrator
) -> None:
    with pytest.raises(UserError, match=r"ran longer than 0\.3 s and was stopped"):
        orch.query(pg.url(), "SELECT pg_sleep(5)", timeout_s=0.3)


def test_no_password_in_results_or_errors(
    pg: Postgres, orch: DataOrchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    literal = f"postgresql://{ROLE}:{PASSWORD}@{pg.host}:{pg.port}/{pg.db}"
    monkeypatch.setenv("QUERY_PW", PASSWORD)
    reference = f"postgresql://{ROLE}:${{env:QUERY_PW}}@{pg.host}:{pg.port}/{pg.db}"
    for target, shown in [
        (literal, literal.replace(PASSWORD, "***")),
        (reference, reference),
    ]:
        result = orch.query(target, f"SELECT '{PASSWORD}' AS echoed, count(*) AS n FROM orders")
        assert result.target == shown and result.rows == [["***", 1000]]
        assert PASSWORD not in json.dumps(result.to_dict())
        for sql in ["SELECT * FROM missing_table", f"SELECT '{PASSWORD}'::int"]:
            with pytest.raises(UserError) as caught:
                orch.query(target, sql)
            assert PASSWORD not in str(caught.value) and "\n" not in str(caught.value)
        assert "missing_table" in str(orch_error(orch, target, "SELECT * FROM missing_table"))
    wrong = literal.replace(PASSWORD, "not-the-pw-1")
    with pytest.raises(UserError, match="password authentication failed") as caught:
        orch.query(wrong, "SELECT 1")
    assert "not-the-pw-1" not in str(caught.value)


def orch_error(orch: DataOrchestrator, target: str, sql: str) -> UserError:
    with pytest.raises(UserError) as caught:
        orch.query(target, sql)
    return caught.value
