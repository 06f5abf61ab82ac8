"""The DuckDB destination: every table of a run is written in one transaction.

A run opens one transaction, writes each table straight from the source SQL (one engine
statement when the source is a file scan), and commits once. If anything fails, or the process
is killed, DuckDB discards the uncommitted transaction and the file is as it was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from ..errors import FatalError, UserError
from ..spec import Mode
from ._duck import Relation, connect, describe, quote_ident, unique_name
from ._schema import plan_evolution
from .base import LoadResult

_SEQ = "__aoetl_seq"


class DuckDBDestination:
    """Loads into a DuckDB database file (``duckdb:///warehouse.duckdb`` by default)."""

    def __init__(self, path: str, *, home: Path | None = None) -> None:
        self.path = path
        self.display = f"duckdb:///{path}"
        self._home = home
        self._con: duckdb.DuckDBPyConnection | None = None

    def begin(self, run_id: str) -> None:
        parent = Path(self.path).expanduser().resolve().parent
        if not parent.is_dir():
            raise UserError(f"folder {parent} does not exist; create it or choose another --to")
        self._con = connect(self.path, home=self._home)
        self._con.execute("BEGIN TRANSACTION")

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise FatalError("DuckDB destination used before begin()")
        return self._con

    def progress(self) -> float:
        """The running statement's progress in [0, 1], or -1 when DuckDB cannot tell."""
        con = self._con
        if con is None:
            return -1.0
        try:
            value = float(con.query_progress())
        except duckdb.Error:
            return -1.0
        return value / 100 if value >= 0 else -1.0

    def columns(self, table: str) -> list[tuple[str, str]]:
        """The table's columns, or [] if it does not exist."""
        rows = self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main' "
            "AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def write(
        self, table: str, relation: Relation, *, mode: Mode, key: tuple[str, ...]
    ) -> LoadResult:
        con = self.con
        relation.attach(con)
        target = quote_ident(table)
        existing = self.columns(table)
        try:
            if mode == "replace" or not existing:
                sql = _deduped(relation.sql, key) if mode == "merge" else relation.sql
                rows = _count(con.execute(f"CREATE OR REPLACE TABLE {target} AS {sql}"))
                if mode == "merge":
                    con.execute(f"ALTER TABLE {target} DROP COLUMN {_SEQ}")
                return LoadResult(table, self.display, rows, fused=relation.fused)
            if mode == "append":
                incoming = describe(con, relation.sql)
                added, widened = self._evolve(table, existing, incoming)
                rows = _count(con.execute(f"INSERT INTO {target} BY NAME {relation.sql}"))
                return LoadResult(table, self.display, rows, [], relation.fused, added, widened)
            return self._merge(table, relation, existing, key)
        except duckdb.Error as exc:
            raise _as_error(exc, table) from exc

    def _merge(
        self,
        table: str,
        relation: Relation,
        existing: list[tuple[str, str]],
        key: tuple[str, ...],
    ) -> LoadResult:
        con = self.con
        stage = unique_name("stage")
        con.execute(f"CREATE TEMP TABLE {stage} AS {_deduped(relation.sql, key)}")
        con.execute(f"ALTER TABLE {stage} DROP COLUMN {_SEQ}")
        incoming = describe(con, f"SELECT * FROM {stage}")
        missing = [k for k in key if k not in {n for n, _ in incoming}]
        missing += [k for k in key if k not in {n for n, _ in existing}]
        if missing:
            raise UserError(f"table '{table}': merge key column(s) {', '.join(missing)} not found")
        added, widened = self._evolve(table, existing, incoming)
        on = " AND ".join(
            f"t.{quote_ident(k)} IS NOT DISTINCT FROM s.{quote_ident(k)}" for k in key
        )
        sets = ", ".join(
            f"{quote_ident(n)} = s.{quote_ident(n)}" for n, _ in incoming if n not in key
        )
        matched = f"WHEN MATCHED THEN UPDATE SET {sets} " if sets else ""
        rows = _count(
            con.execute(
                f"MERGE INTO {quote_ident(table)} AS t USING {stage} AS s ON {on} "
                f"{matched}WHEN NOT MATCHED THEN INSERT BY NAME"
            )
        )
        con.execute(f"DROP TABLE {stage}")
        return LoadResult(table, self.display, rows, [], relation.fused, added, widened)

    def _evolve(
        self, table: str, existing: list[tuple[str, str]], incoming: list[tuple[str, str]]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        evolution = plan_evolution(table, existing, incoming)
        target = quote_ident(table)
        for name, typ in evolution.add:
            self.con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {typ}")
        for name, typ in evolution.widen:
            self.con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote_ident(name)} TYPE {typ}")
        return tuple(n for n, _ in evolution.add), tuple(n for n, _ in evolution.widen)

    def commit(self) -> None:
        self.con.execute("COMMIT")
        self._close()

    def abort(self) -> None:
        if self._con is not None:
            # If the transaction already failed, closing discards it anyway.
            with contextlib.suppress(duckdb.Error):
                self._con.execute("ROLLBACK")
            self._close()

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def _deduped(sql: str, key: tuple[str, ...]) -> str:
    """Keep one row per key, the last one read, with a sequence column to order by."""
    parts = ", ".join(quote_ident(k) for k in key)
    return (
        f"SELECT * FROM (SELECT *, row_number() OVER () AS {_SEQ} FROM ({sql})) "
        f"QUALIFY row_number() OVER (PARTITION BY {parts} ORDER BY {_SEQ} DESC) = 1"
    )


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def _as_error(exc: duckdb.Error, table: str) -> Exception:
    message = str(exc).strip().splitlines()[0]
    if isinstance(
        exc, duckdb.ConversionException | duckdb.BinderException | duckdb.ParserException
    ):
        return UserError(f"table '{table}': {message}")
    if isinstance(exc, duckdb.InvalidInputException):
        return UserError(f"table '{table}': {message}")
    return FatalError(f"table '{table}': {message}")
