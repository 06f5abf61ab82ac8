"""Hostile table and column names against the DuckDB and PostgreSQL targets.

Every name either loads exactly (the rows expected, under exactly that name, and no other table
touched) or is refused with exit 2, one line, and the target exactly as it was. Each name runs
an append then a merge, so both the create path and a path that meets an existing table (where
PostgreSQL's 63-byte cut used to replace another table) are tried; the names where a replace
could hit another table run a replace too. A run costs ~0.5 s, so the lists are kept short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from agent_orchestrated_etl import DataOrchestrator
from tests.servers import Postgres

Rows = list[tuple[Any, ...]]
Snapshot = dict[str, Rows]

REPLACE_TOO = ["t" * 63, "t" * 64, "Keep"]  # 64: one byte over PostgreSQL's limit
TABLE_NAMES = [
    'quo"te',
    "x'); DROP TABLE keep; --",
    'x"); DROP TABLE keep; --',
    "select",
    "Ünïcode täble 名前 🎉",
    " dot.ted back\\slash %s $1 ?",
    "../../etc/passwd",
    "new\nline",
    "é" * 32,  # 64 bytes in 32 characters
    "u" * 300,
    "_aoetl_stage_0123456789ab",  # aoetl's own prefix
    *REPLACE_TOO,  # "Keep" differs from an existing table only in case
]
COLUMN_NAMES = [
    "quo\"te sin'gle; DROP TABLE keep",
    "select",
    "Ünïcode",
    "__aoetl_row",  # merge's own helper column
    "c" * 64,
]

TALLY: dict[str, int] = {"tried": 0, "loaded": 0, "refused": 0}


# -- targets -------------------------------------------------------------------------------------
class Target:
    """A database target: its URI, a snapshot of every table, and one table's rows."""

    uri: str
    max_bytes: int | None = None
    folds_case = True

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        raise NotImplementedError


class Duck(Target):
    def __init__(self, work: Path) -> None:
        self.path = work / "w.duckdb"
        self.uri = f"duckdb:///{self.path}"
        con = duckdb.connect(str(self.path))
        con.execute("CREATE TABLE keep AS SELECT * FROM (VALUES (1, 'k1'), (2, 'k2')) v(id, v)")
        con.close()

    def _con(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path), read_only=True)

    def snapshot(self) -> Snapshot:
        con = self._con()
        try:
            names = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2"
            ).fetchall()
            return {
                f"{s}.{t}": sorted(
                    con.execute(f"SELECT * FROM {_q(s)}.{_q(t)}").fetchall(), key=repr
                )
                for s, t in names
            }
        finally:
            con.close()

    def columns(self, table: str) -> list[str]:
        con = self._con()
        try:
            con.execute(f"SELECT * FROM main.{_q(table)} LIMIT 0")
            return [d[0] for d in con.description]
        finally:
            con.close()


class Pg(Target):
    max_bytes = 63
    folds_case = False

    def __init__(self, pg: Postgres) -> None:
        self.uri = pg.url()
        with psycopg.connect(self.uri, autocommit=True) as con:
            con.execute("DROP SCHEMA IF EXISTS _aoetl CASCADE")
            con.execute("DROP SCHEMA public CASCADE")
            con.execute("CREATE SCHEMA public")
            con.execute("CREATE TABLE keep (id bigint, v text)")
            con.execute("INSERT INTO keep VALUES (1, 'k1'), (2, 'k2')")

    def snapshot(self) -> Snapshot:
        with psycopg.connect(self.uri) as con:
            names = con.execute(
                "SELECT schemaname, tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ).fetchall()
            return {
                f"{s}.{t}": sorted(
                    con.execute(
                        sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(s), sql.Identifier(t))
                    ).fetchall(),
                    key=repr,
                )
                for s, t in names
            }

    def columns(self, table: str) -> list[str]:
        with psycopg.connect(self.uri) as con:
            cur = con.execute(
                sql.SQL("SELECT * FROM public.{} LIMIT 0").format(sql.Identifier(table))
            )
            return [d.name for d in cur.description or []]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, work: Path) -> Target:
    if request.param == "duckdb":
        return Duck(work)
    return Pg(request.getfixturevalue("postgres"))


# -- expectations --------------------------------------------------------------------------------
def user_tables(snapshot: Snapshot) -> Snapshot:
    """Tables outside aoetl's bookkeeping, which a successful first run creates."""
    return {k: v for k, v in snapshot.items() if not k.startswith("_aoetl.")}


def apply_mode(current: Rows | None, rows: Rows, mode: str) -> Rows:
    if mode == "replace" or current is None:
        merged = rows if mode != "merge" else list({r[0]: r for r in rows}.values())
        return sorted(merged, key=repr)
    if mode == "append":
        return sorted(current + rows, key=repr)
    by_id = {r[0]: r for r in current}
    by_id.update({r[0]: r for r in rows})
    return sorted(by_id.values(), key=repr)


def refusable(name: str, target: Target, existing: Snapshot) -> bool:
    """Whether refusing ``name`` is the right answer on ``target`` (else it must load)."""
    too_long = target.max_bytes is not None and len(name.encode()) > target.max_bytes
    folded = target.folds_case and any(
        k.split(".", 1)[1].lower() == name.lower() and k.split(".", 1)[1] != name for k in existing
    )
    return too_long or folded or name.startswith("_aoetl_")


def check_step(
    orch: DataOrchestrator,
    target: Target,
    source: Path,
    table: str,
    mode: str,
    rows: Rows,
    current: Rows | None,
    read: Callable[[Snapshot], Rows],
    may_refuse: bool,
    before: Snapshot,
) -> tuple[Rows | None, Snapshot]:
    """Run one load; assert it loaded exactly or was refused cleanly.

    Returns the table's rows and the target's snapshot after the load.
    """
    TALLY["tried"] += 1
    spec = orch.create_pipeline(
        str(source), target.uri, table=table, mode=mode, key="id" if mode == "merge" else None
    ).spec
    result = orch.run(spec)
    if result.status == "success":
        assert not may_refuse, f"{table!r} should have been refused"
        expected = apply_mode(current, rows, mode)
        snap = target.snapshot()
        assert read(snap) == expected
        after, old = user_tables(snap), user_tables(before)
        loaded = next(k for k in after if k.split(".", 1)[1] == table)
        assert set(after) == set(old) | {loaded}  # exactly one name added, if any
        assert {k: v for k, v in after.items() if k != loaded} == {
            k: v for k, v in old.items() if k != loaded
        }  # no other table touched
        TALLY["loaded"] += 1
        return expected, snap
    assert result.exit_code == 2, (table, result.error)
    message = result.error or ""
    assert len(message.splitlines()) == 1, message
    assert "Error:" not in message and "SELECT" not in message, message
    assert target.snapshot() == before  # the target exactly as it was
    TALLY["refused"] += 1
    return current, before


def parquet(path: Path, columns: dict[str, list[Any]]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TABLE_NAMES, ids=lambda n: repr(n)[:24])
def test_hostile_table_names(orch: DataOrchestrator, work: Path, target: Target, name: str) -> None:
    steps = [
        ("append", [(1, "a'1"), (2, 'b"2'), (3, "c;3")]),
        ("merge", [(3, "C"), (4, "d"), (4, "D")]),
        *([("replace", [(9, "ünï")])] if name in REPLACE_TOO else []),
    ]
    snap = target.snapshot()
    may_refuse = refusable(name, target, snap)
    current: Rows | None = None

    def read(snap: Snapshot) -> Rows:
        return snap[next(k for k in snap if k.split(".", 1)[1] == name)]

    for i, (mode, rows) in enumerate(steps):
        src = parquet(
            work / f"step{i}.parquet",
            {"id": [r[0] for r in rows], "v": [r[1] for r in rows]},
        )
        current, snap = check_step(
            orch, target, src, name, mode, rows, current, read, may_refuse, snap
        )
    if not may_refuse:
        assert current == (
            [(9, "ünï")] if len(steps) == 3 else [(1, "a'1"), (2, 'b"2'), (3, "C"), (4, "D")]
        )
    assert snap["public.keep" if isinstance(target, Pg) else "main.keep"] == [
        (1, "k1"),
        (2, "k2"),
    ]


@pytest.mark.parametrize("column", COLUMN_NAMES, ids=lambda n: repr(n)[:24])
def test_hostile_column_names(
    orch: DataOrchestrator, work: Path, target: Target, column: str
) -> None:
    too_long = target.max_bytes is not None and len(column.encode()) > target.max_bytes
    may_refuse = too_long
    current: Rows | None = None
    snap = target.snapshot()

    def read(snap: Snapshot) -> Rows:
        assert target.columns("c") == ["id", column]
        return snap["public.c" if isinstance(target, Pg) else "main.c"]

    for i, (mode, rows) in enumerate(
        [("append", [(1, "x"), (2, "y")]), ("merge", [(2, "Y"), (3, "z"), (3, "Z")])]
    ):
        src = parquet(
            work / f"col{i}.parquet", {"id": [r[0] for r in rows], column: [r[1] for r in rows]}
        )
        current, snap = check_step(
            orch, target, src, "c", mode, rows, current, read, may_refuse, snap
        )
    if not may_refuse:
        assert current == [(1, "x"), (2, "Y"), (3, "Z")]


def test_report_the_tally() -> None:
    """Runs last in this file: the figures for the hardening note (pytest -s shows them)."""
    print(f"\nhostile identifiers: {TALLY}")
    assert TALLY["tried"] == 0 or TALLY["loaded"] + TALLY["refused"] == TALLY["tried"]
