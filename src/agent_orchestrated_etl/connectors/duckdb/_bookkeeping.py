"""The tables in which a database target keeps its checkpoints, commits and cursors.

They are created by a run's first write, in that write's transaction, so a run refused before
it writes (a bad name, a bad key) adds nothing. A run that leaves nothing behind removes them
again if it added them, and the whole file if it created it: a failed first run must not leave
a new file, or new tables, in the user's database.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import duckdb

log = logging.getLogger("aoetl.duckdb")

_DDL = """
CREATE SCHEMA IF NOT EXISTS _aoetl;
CREATE TABLE IF NOT EXISTS {checkpoints} (
    run_id VARCHAR, pipeline VARCHAR, table_name VARCHAR, staging VARCHAR, fingerprint VARCHAR,
    rows BIGINT, bad_rows BIGINT, high_water VARCHAR, recorded_at TIMESTAMP,
    PRIMARY KEY (run_id, table_name));
CREATE TABLE IF NOT EXISTS {cursors} (
    pipeline VARCHAR, table_name VARCHAR, high_water VARCHAR, PRIMARY KEY (pipeline, table_name));
CREATE TABLE IF NOT EXISTS {commits} (
    run_id VARCHAR PRIMARY KEY, pipeline VARCHAR, committed_at TIMESTAMP);
"""
# No DEFAULT expressions and no ALTER in the bookkeeping: DuckDB 1.5.5 fails to replay a WAL
# holding an ALTER of a table whose DEFAULT calls a function (seen after kill -9).


class Meta(NamedTuple):
    """The bookkeeping tables' names: ``_aoetl.x``, or ``_aoetl_x`` where there are no schemas."""

    checkpoints: str
    commits: str
    cursors: str

    @property
    def schema(self) -> str | None:
        return self.checkpoints.split(".")[0] if "." in self.checkpoints else None


def meta_exists(con: duckdb.DuckDBPyConnection, meta: Meta) -> bool:
    try:
        # Fetched: a pending result keeps SQLite's read lock, and a write from another
        # cursor then fails to commit ("database is locked").
        con.execute(f"SELECT 1 FROM {meta.checkpoints} LIMIT 0").fetchall()
    except duckdb.CatalogException:
        return False
    return True


def create_meta(con: duckdb.DuckDBPyConnection, meta: Meta) -> None:
    ddl = _DDL.format(checkpoints=meta.checkpoints, commits=meta.commits, cursors=meta.cursors)
    con.execute(ddl if meta.schema else ddl.replace("CREATE SCHEMA IF NOT EXISTS _aoetl;", ""))


def tidy_and_close(
    con: duckdb.DuckDBPyConnection,
    meta: Meta | None,
    *,
    added: bool,
    created: Path | None,
) -> None:
    """Close ``con``; if no run has anything staged or committed, undo what opening it did.

    ``meta``: the bookkeeping tables, None when they were never created. ``added``: this run
    created them, and they are then dropped. ``created``: the database file this run created,
    which is then removed (with its WAL).
    """
    tidy = False
    try:
        tidy = (added or created is not None) and not _used(con, meta, whole=created is not None)
        if tidy and created is None and meta is not None:
            for table in meta:
                con.execute(f"DROP TABLE IF EXISTS {table}")
            if meta.schema:
                con.execute(f"DROP SCHEMA IF EXISTS {meta.schema}")
    except duckdb.Error as exc:  # tidying only: the run's outcome stands
        log.debug("could not tidy the target: %s", exc)
        tidy = False
    finally:
        con.close()
    if tidy and created is not None:
        for path in (created, created.with_name(created.name + ".wal")):
            path.unlink(missing_ok=True)


def _used(con: duckdb.DuckDBPyConnection, meta: Meta | None, *, whole: bool) -> bool:
    """A run has something staged or committed here; or, with ``whole``, any table but ours."""
    for table in (meta.checkpoints, meta.commits) if meta is not None else ():
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        if row and row[0]:
            return True
    if not whole:
        return False
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name <> '_aoetl' AND NOT starts_with(table_name, '_aoetl_')"
    ).fetchone()
    return bool(row and row[0])
