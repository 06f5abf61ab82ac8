"""PostgreSQL and SQLite as destinations, against a real PostgreSQL 15 server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors import destination_for
from agent_orchestrated_etl.connectors.base import StagedTable
from agent_orchestrated_etl.connectors.sql.target import SqlDestination
from agent_orchestrated_etl.data.duck import Relation
from agent_orchestrated_etl.errors import FatalError
from agent_orchestrated_etl.spec import TargetSpec, validate_spec
from tests.helpers import AOETL, TYPES_DDL, read_relation, run_cli
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
    ).spec
    assert orch.run(to_duck).status == "success"
    back = orch.create_pipeline(
        "duckdb:///w.duckdb", pg.url(), table="t_types_copy", mode="replace", tables=["t_types"]
    ).spec
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
    types: dict[object, object] = dict(
        rows(  # type: ignore[arg-type]
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


# The COPY that fills a staging table, and how many rows PostgreSQL has taken from it so far.
_STAGING_COPY = (
    "SELECT p.tuples_processed FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) "
    "WHERE a.query ILIKE 'COPY %_aoetl_stage_%'"
)


def test_kill_9_during_a_postgres_load_then_rerun_is_exact(pg: Postgres, tmp_path: Path) -> None:
    n = 1_000_000  # about 8 batches: the slow step keeps the COPY open for seconds
    (tmp_path / "big.csv").write_text("id,v\n" + "".join(f"{i},value-{i}\n" for i in range(n)))
    (tmp_path / "slow.py").write_text(
        "import os, time\n"
        "def slow(b):\n"
        "    time.sleep(float(os.environ.get('SLOW_S', '0')))\n"
        "    return b\n"
    )
    (tmp_path / "p.yaml").write_text(
        f"name: pgload\nsource: big.csv\ntarget: {pg.url()}\nmode: append\n"
        "transforms:\n  - python: slow:slow\n"
    )
    env = {**os.environ, "AOETL_HOME": str(tmp_path / ".aoetl"), "SLOW_S": "0.7"}
    proc = subprocess.Popen(
        [AOETL, "run", "p.yaml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill only once PostgreSQL is taking rows into the staging table: never before the load
    # started, never after it finished.
    deadline = time.monotonic() + 120
    copied: list[tuple[object, ...]] = []
    while not copied:
        assert proc.poll() is None, "the run ended before its load was seen mid-COPY"
        assert time.monotonic() < deadline, "no COPY into a staging table within 120 s"
        copied = [r for r in rows(pg, _STAGING_COPY) if int(r[0]) > 0]  # type: ignore[call-overload]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL  # killed, not exited
    # The target is as before (absent), and nothing was checkpointed for a resume.
    assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'big'") == [(0,)]
    if rows(pg, "SELECT to_regclass('_aoetl.checkpoints') IS NOT NULL") == [(True,)]:
        assert rows(pg, "SELECT count(*) FROM _aoetl.checkpoints") == [(0,)]
    assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '_aoetl_stage%'") == [(0,)]
    history = json.loads(run_cli("runs", "--json", cwd=tmp_path).stdout)
    assert not history or history[0]["status"] != "success"
    again = run_cli("run", "p.yaml", cwd=tmp_path)  # full speed (SLOW_S unset)
    assert again.returncode == 0, again.stderr
    assert rows(pg, "SELECT count(*), count(DISTINCT id), sum(id) FROM big") == [
        (n, n, sum(range(n)))
    ]
    assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '_aoetl_stage%'") == [(0,)]


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
    from tests.helpers import query

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


# -- names PostgreSQL would cut, failed runs, one-line errors --------------------------------------
def tables(pg: Postgres) -> list[tuple[object, ...]]:
    return rows(
        pg,
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )


def test_postgres_refuses_names_it_would_cut_before_touching_anything(
    pg: Postgres, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("id,v\n1,a\n2,b\n")
    (tmp_path / "b.csv").write_text("id,w\n7,z\n")
    (tmp_path / "long.csv").write_text(f"id,{'c' * 64}\n1,2\n")
    before = tables(pg)
    # A first run refused creates nothing, not even aoetl's bookkeeping schema.
    refused: list[tuple[str, ...]] = [("b.csv", "--table", "u" * 300), ("long.csv",)]
    for args in refused:
        proc = run_cli("run", *args, "--to", pg.url(), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "PostgreSQL keeps only 63 bytes" in lines[0]
        assert tables(pg) == before
    assert (
        run_cli("run", "a.csv", "--to", pg.url(), "--table", "t" * 63, cwd=tmp_path).returncode == 0
    )
    seeded = tables(pg)
    for mode in ("append", "merge", "replace"):  # 64 bytes: PostgreSQL would cut it to the 63
        key_args = ("--key", "id") if mode == "merge" else ()
        proc = run_cli(
            "run", "b.csv", "--to", pg.url(), "--table", "t" * 64, "--mode", mode, *key_args,
            cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert "is 64 bytes long" in proc.stderr
        assert tables(pg) == seeded
        assert rows(pg, f"SELECT * FROM {'t' * 63} ORDER BY id") == [(1, "a"), (2, "b")]


def test_a_failed_merge_into_postgres_leaves_no_staging(pg: Postgres, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("id,v\n1,a\n")
    (data / "b.csv").write_text("x,v\n1,a\n")  # no id: the merge key is missing
    (data / "c.csv").write_text("id,v\n3,c\n")
    assert run_cli("run", str(data / "a.csv"), "--to", pg.url(), cwd=tmp_path).returncode == 0
    before = tables(pg)
    proc = run_cli("run", "data", "--to", pg.url(), "--mode", "merge", "--key", "id", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: table 'b': merge key 'id' is not a column of the loaded data "
        "(columns: 'x', 'v'); choose --key from these"
    ]
    assert tables(pg) == before  # no _aoetl_stage_* table left for a and c
    assert rows(pg, "SELECT count(*) FROM _aoetl.checkpoints") == [(0,)]


def test_a_constraint_violation_is_one_line_and_exit_2(pg: Postgres, tmp_path: Path) -> None:
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute("CREATE TABLE strict (id bigint PRIMARY KEY, v varchar(1) NOT NULL)")
        con.execute("INSERT INTO strict VALUES (1, 'a')")
    for text, words in (
        ("id,v\n2,abc\n", "value too long for type character varying(1)"),
        ("id,v\n1,b\n", "duplicate key value violates unique constraint"),
    ):
        (tmp_path / "s.csv").write_text(text)
        proc = run_cli("run", "s.csv", "--to", pg.url(), "--table", "strict", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0] and "COPY" not in lines[0]
        assert rows(pg, "SELECT * FROM strict") == [(1, "a")]
        assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '_aoetl_stage%'") == [
            (0,)
        ]


def test_sqlite_names_and_failures(orch: DataOrchestrator, work: Path) -> None:
    (work / "a.csv").write_text("k,v\n1,a\n2,b\n")
    (work / "b.csv").write_text("k,v\n2,B\n")
    # A table named like the staging alias of SQLite's delete-then-insert merge.
    for source, mode in (("a.csv", "append"), ("b.csv", "merge")):
        spec = orch.create_pipeline(source, "sqlite:///out.db", table="s", mode=mode, key="k").spec
        assert orch.run(spec).status == "success"
    con = sqlite3.connect(work / "out.db")
    assert con.execute("SELECT k, v FROM s ORDER BY k").fetchall() == [(1, "a"), (2, "B")]
    con.close()
    # SQLite, like DuckDB, takes "S" for "s": appending to it must not replace "s".
    result = orch.run(orch.create_pipeline("b.csv", "sqlite:///out.db", table="S"))
    assert result.exit_code == 2 and "has a table 's'" in (result.error or "")
    con = sqlite3.connect(work / "out.db")
    assert con.execute("SELECT k, v FROM s ORDER BY k").fetchall() == [(1, "a"), (2, "B")]
    con.close()
    # A failed first run creates no file.
    bad = orch.create_pipeline("a.csv", "sqlite:///new.db", mode="merge", key="nope").spec
    assert orch.run(bad).exit_code == 2
    assert not (work / "new.db").exists()


def test_a_column_type_change_the_target_cannot_make_is_refused_first(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "i.csv").write_text("id,v\n1,2\n")
    (work / "f.csv").write_text("id,v\n2,2.5\n")  # DOUBLE into BIGINT: DuckDB would widen
    assert orch.run(orch.create_pipeline("i.csv", "sqlite:///w.db", table="w")).status == "success"
    result = orch.run(orch.create_pipeline("f.csv", "sqlite:///w.db", table="w"))
    assert result.exit_code == 2
    assert result.error == (
        "table 'w': column 'v' is BIGINT in the target and DOUBLE in the data, and aoetl cannot "
        "change a column's type in SQLite; change it yourself (ALTER TABLE … ALTER COLUMN … "
        "TYPE …), or cast the data in a step"
    )
    con = sqlite3.connect(work / "w.db")
    assert con.execute("SELECT id, v FROM w").fetchall() == [(1, 2)]
    assert con.execute(
        "SELECT count(*) FROM sqlite_master WHERE name LIKE '_aoetl_stage%'"
    ).fetchall() == [(0,)]
    con.close()


# -- staged rows read back before the commit ---------------------------------------------------
def _stage(dest: SqlDestination, sql: str, mode: str = "append") -> None:
    dest.write(
        "t", Relation(sql), mode=mode, key=("id",), fingerprint="f", record_bad=lambda bad: None
    )


def _read_staged(dest: SqlDestination, home: Path, sql: str) -> list[tuple[object, ...]]:
    return read_relation(dest.staged("t"), home, sql)


def test_postgres_staged_rows_are_read_through_the_scanner_before_the_commit(
    pg: Postgres, tmp_path: Path
) -> None:
    home = tmp_path / ".aoetl"
    dest = destination_for(TargetSpec(uri=pg.url()), home=home)
    assert isinstance(dest, SqlDestination)
    dest.begin("r1", "p")
    _stage(
        dest,
        "SELECT range::BIGINT AS id, (range * 1.25)::DECIMAL(12, 2) AS amount, "
        "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS ts FROM range(1000)",
    )
    relation = dest.staged("t")
    assert pg.password not in relation.sql  # the URL is in the prelude only, never logged
    assert _read_staged(dest, home, "SELECT count(*), sum(amount), min(ts) FROM {r}") == [
        (1000, Decimal("624375.00"), datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    ]
    assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 't'") == [(0,)]
    dest.commit([StagedTable("t", "append", ("id",))])
    with pytest.raises(FatalError, match="nothing staged"):
        dest.staged("t")
    dest.close()
    assert rows(pg, "SELECT count(*), sum(amount) FROM t") == [(1000, Decimal("624375.00"))]


def test_sqlite_staged_rows_are_readable_anywhere_and_gone_after_discard(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = work / ".aoetl"
    dest = destination_for(TargetSpec(uri="sqlite:///out.db"), home=home)
    assert isinstance(dest, SqlDestination)
    dest.begin("r1", "p")
    _stage(dest, "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(id, v)")
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the target and the relation name the file absolutely
    assert _read_staged(dest, home, "SELECT * FROM {r} ORDER BY id") == [(1, "a"), (2, "b")]
    assert not (elsewhere / "out.db").exists()
    dest.discard()
    with pytest.raises(FatalError, match="nothing staged"):
        dest.staged("t")
    dest.close()
    con = sqlite3.connect(work / "out.db")
    try:
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []
        assert con.execute(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE '_aoetl_stage%'"
        ).fetchall() == [(0,)]
    finally:
        con.close()
