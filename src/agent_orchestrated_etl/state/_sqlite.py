"""The SQLite backend: ``AOETL_HOME/state.db``, the default.

The standard library's sqlite3, not SQLAlchemy: importing SQLAlchemy cost 0.16 s on every
CLI run, a sixth of the recovery-time budget. Each call opens its own connection (a file
open, microseconds), so the store is safe to share between threads; WAL mode lets readers
go on while one writer commits, and ``BEGIN IMMEDIATE`` takes the write lock at the start of a
transaction, so a read-then-write (``mark_dead_runs``) sees no other writer in between.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError
from . import _migrations as migrations
from ._dialect import SQLITE, Dialect


class SqliteBackend:
    dialect: Dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            _wal(con)
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def migrate(self) -> None:
        """Bring the file to the latest schema: one query when it is there already. Under
        ``BEGIN IMMEDIATE`` the version is read again, so of two processes opening a new
        file at once, one migrates and the other finds it done."""
        with self.connect() as con:
            if _version(con, self.where) == migrations.LATEST:
                return
            con.execute("BEGIN IMMEDIATE")
            try:
                version = _version(con, self.where)
                con.execute(migrations.VERSION_DDL)
                for number in range(version, migrations.LATEST):
                    for statement in migrations.statements(migrations.SQLITE[number]):
                        con.execute(statement)
                    if number == 0:
                        _add_missing_columns(con)
                    con.execute(
                        f"INSERT INTO {migrations.VERSION_TABLE} VALUES (?, ?, ?)",
                        (number + 1, time.time(), migrations.aoetl_version()),
                    )
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


def _version(con: sqlite3.Connection, where: str) -> int:
    """The file's schema version: 0 for a new file or one from before migrations."""
    try:
        row = con.execute(f"SELECT max(version) FROM {migrations.VERSION_TABLE}").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    found = int(row[0] or 0)
    if found > migrations.LATEST:
        raise UserError(migrations.too_new(found, where))
    return found


def _add_missing_columns(con: sqlite3.Connection) -> None:
    """Complete a state database written by an earlier version, in place."""
    for table, columns in migrations.SQLITE_COLUMNS.items():
        have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns.items():
            if name not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def _wal(con: sqlite3.Connection) -> None:
    """WAL mode, which the file keeps once set. Switching a new file to it takes an exclusive
    lock that SQLite does not wait for: a second process opening the new file at the same
    moment is told 'database is locked' at once, so it waits here (up to 30 s) instead."""
    deadline = time.monotonic() + 30
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
