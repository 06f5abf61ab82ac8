"""PostgreSQL and SQLite as destinations, against a real PostgreSQL 15 server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.spec import validate_spec
from tests.conftest import AOETL, run_cli
from tests.connectors.test_sql import TYPES_DDL
from tests.servers import Postgres


@pytest.fixture
def pg(postgres: Postgres) -> Postgres:
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS _aoetl CASCADE")
        for (name,) in con.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall():
            con.execute(f"DROP TABLE {name} CASCADE")
        con.execute(TYPES_DDL)
    return postgres


def rows(pg: Postgres, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(pg.url()) as con:
        return con.execute(sql).fetchall()


def test_csv_into_postgres_append_replace_merge(
    pg: Postgres, orch: DataOrchestrator, work: Path
) -> None:
    (work / "a.csv").write_text("id,name,amount\n1,a,1.50\n2,b,2.25\n")
    (work / "b.csv").write_text("id,name,amount\n2,B,9.99\n3,c,3.00\n")
    target = pg.url()
    for source, mode in (("a.csv", "append"), ("b.csv", "merge")):
        result = orch.run(
            orch.create_pipeline(
                source, target, table="sales", mode=mode, key="id" if mode == "merge" else None
            )
        )
        assert result.status == "success", result.error
    assert rows(pg, "SELECT id, name, amount FROM sales ORDER BY id") == [
        (1, "a", 1.5),
        (2, "B", 9.99),
        (3, "c", 3.0),
    ]
    orch.run(orch.create_pipeline("a.csv", target, table="sales", mode="replace"))
    assert rows(pg, "SELECT count(*) FROM sales") == [(2,)]
    assert rows(pg, "SELECT count(*) FROM _aoetl.checkpoints") == [(0,)]


def test_type_round_trip_postgres_duckdb_postgres(
    pg: Postgres, orch: DataOrchestrator, work: Path
) -> None:
    to_duck = orch.create_pipeline(
        pg.url(), "duckdb:///w.duckdb", mode="replace", tables=["t_types"]
    )
    assert orch.run(to_duck).status == "success"
    back = orch.create_pipeline(
        "duckdb:///w.duckdb", pg.url(), table="t_types_copy", mode="replace", tables=["t_types"]
    )
    result = orch.run(back)
    assert result.status == "success", result.error
    columns = (
        "i2, i4, i8, n, f4, f8, tx, vc, b, d, tm, ts, tstz, iv, u, arr, tarr, by, m::text, "
        "j::text, jb::text"
    )
    original = rows(pg, f"SELECT {columns} FROM t_types ORDER BY id")
    copied = rows(
        pg, f"SELECT {columns.replace('j::text, jb::text', 'j, jb')} FROM t_types_copy ORDER BY id"
    )
    assert [r[:-2] for r in copied] == [r[:-2] for r in original]  # every typed column exactly
    assert [r[-2:] for r in copied] == [r[-2:] for r in original]  # json(b) kept as its text
    types = dict(
        rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 't_types_copy'",
        )
    )
    assert (
        types["n"] == "numeric"
        and types["u"] == "uuid"
        and types["tstz"] == "timestamp with time zone"
    )
    assert types["arr"] == "ARRAY" and types["by"] == "bytea" and types["iv"] == "interval"


@pytest.mark.parametrize(
    "name",
    ['odd "quoted" name', "select", "Ünïcode täble", "x'); DROP TABLE sales; --", "with space"],
)
def test_hostile_identifiers_cannot_inject(
    pg: Postgres, orch: DataOrchestrator, work: Path, name: str
) -> None:
    (work / "a.csv").write_text('id,"we""ird col","select"\n1,x,y\n')
    (work / "s.csv").write_text("id\n1\n")
    orch.run(orch.create_pipeline("s.csv", pg.url(), table="sales"))
    result = orch.run(orch.create_pipeline("a.csv", pg.url(), table=name))
    assert result.status == "success", result.error
    quoted = '"' + name.replace('"', '""') + '"'
    assert rows(pg, f'SELECT id, "we""ird col", "select" FROM {quoted}') == [(1, "x", "y")]
    assert rows(pg, "SELECT count(*) FROM sales") == [(1,)]  # still there


def test_wrong_password_for_the_target(pg: Postgres, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n")
    wrong = "N0pe-" + "secret-31"
    proc = run_cli("run", "a.csv", "--to", pg.url(password=wrong), cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "password authentication failed" in lines[0]
    assert wrong not in proc.stdout + proc.stderr


def test_kill_9_during_a_postgres_load_then_rerun_is_exact(pg: Postgres, tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text(
        "id,v\n" + "".join(f"{i},value-{i}\n" for i in range(200_000))
    )
    (tmp_path / "slow.py").write_text(
        "import time\ndef slow(b):\n    time.sleep(1.0)\n    return b\n"
    )
    (tmp_path / "p.yaml").write_text(
        f"name: pgload\nsource: big.csv\ntarget: {pg.url()}\nmode: append\n"
        "transforms:\n  - python: slow:slow\n"
    )
    env = {**os.environ, "AOETL_HOME": str(tmp_path / ".aoetl")}
    proc = subprocess.Popen(
        [AOETL, "run", "p.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    exists = rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'big'")[0][0]
    assert exists == 0 or rows(pg, "SELECT count(*) FROM big") == [(200_000,)]
    history = json.loads(run_cli("runs", "--json", cwd=tmp_path).stdout)
    if history and history[0]["status"] == "success":
        return  # the run beat the kill (a loaded machine); rerunning an append would append
    again = run_cli("run", "p.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert rows(pg, "SELECT count(*), count(DISTINCT id), sum(id) FROM big") == [
        (200_000, 200_000, sum(range(200_000)))
    ]


def test_sqlite_destination(orch: DataOrchestrator, work: Path) -> None:
    (work / "a.csv").write_text("id,name\n1,a\n2,b\n")
    (work / "b.csv").write_text("id,name\n2,B\n3,c\n")
    assert (
        orch.run(orch.create_pipeline("a.csv", "sqlite:///out.db", table="t")).status == "success"
    )
    result = orch.run(
        orch.create_pipeline("b.csv", "sqlite:///out.db", table="t", mode="merge", key="id")
    )
    assert result.status == "success", result.error
    con = sqlite3.connect(work / "out.db")
    assert con.execute("SELECT id, name FROM t ORDER BY id").fetchall() == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
    ]


@pytest.mark.parametrize("reader", ["duckdb", "adbc", "sqlalchemy"])
def test_incremental_runs_with_inserts_and_updates_merge_exactly(
    pg: Postgres, orch: DataOrchestrator, work: Path, reader: str
) -> None:
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute(
            "UPDATE orders SET updated_at = '2024-01-01'::timestamptz + id * interval '1 minute'"
        )
    spec = validate_spec(
        {
            "name": "orders-incremental",
            "source": {
                "uri": pg.url(),
                "tables": ["orders"],
                "incremental": {"orders": {"cursor": "updated_at", "lag": "5 minutes"}},
                "reader": reader,
            },
            "target": "duckdb:///w.duckdb",
            "mode": "merge",
            "key": "id",
        }
    )
    first = orch.run(spec)
    assert first.status == "success", first.error
    assert first.tables["orders"].rows_loaded == 1000
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute("UPDATE orders SET amount = -1, updated_at = '2024-02-01' WHERE id IN (10, 20)")
        con.execute(
            "INSERT INTO orders (id, customer_id, amount, updated_at) "
            "VALUES (1001, 1, 5.5, '2024-02-01 00:01')"
        )
    second = orch.run(spec)
    assert second.status == "success", second.error
    # Only the changed rows and the lag window were read, not the whole table again.
    assert second.tables["orders"].rows_loaded < 20
    from tests.conftest import query

    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(1001,)]
    assert query(
        work / "w.duckdb", "SELECT id, amount::DOUBLE FROM orders WHERE amount < 0 ORDER BY id"
    ) == [
        (10, -1.0),
        (20, -1.0),
    ]
    expected = rows(pg, "SELECT count(*), sum(amount)::float8 FROM orders")
    assert query(work / "w.duckdb", "SELECT count(*), sum(amount)::DOUBLE FROM orders") == expected
    third = orch.run(spec)  # nothing new: only the lag window is read again
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(1001,)]
    assert third.tables["orders"].rows_loaded <= 5
