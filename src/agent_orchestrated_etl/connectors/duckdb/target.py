"""The DuckDB destination: tables are staged durably with a checkpoint, then committed at once.

Each table is written into its own staging table (``_aoetl_stage_<run>_<table>``) in one
transaction that also records a checkpoint row in ``_aoetl.checkpoints``: the data and the
checkpoint commit together or not at all, so a resumed run never loads a table twice. The
final commit applies every staged table to its target (replace = rename, append = insert,
merge = MERGE) and records the run in ``_aoetl.commits``, in one transaction. A run that fails
or is killed before that leaves every target table as it was.

Names are checked before anything is written (see :mod:`._schema`), and an append or merge
never drops a table: only ``replace`` does.

A run whose write or commit fails for a reason a rerun would meet again (a bad key, a failing
step, a schema conflict) drops everything it staged when it closes; a run that is interrupted
or killed, or whose source or target stayed unreachable (a TransientError), keeps it for a
resume. A run that leaves nothing behind also removes the file it created, or the bookkeeping
tables it added to an existing file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from ...data.duck import (
    BadRow,
    Relation,
    connect,
    describe,
    last_per_key,
    quote_ident,
)
from ...errors import AoetlError, FatalError, TransientError, UserError, classify_duckdb
from .._schema import Rules, check_load, check_table_name, shown
from ..base import Checkpoint, LoadResult, StagedTable
from ._apply import apply_staged, count_of
from ._bookkeeping import Meta, create_meta, meta_exists, tidy_and_close
from ._encrypted import open_encrypted
from ._staged import stream_relation

log = logging.getLogger("aoetl.duckdb")
_DB = "aoetl_target"


class DuckDBDestination:
    """Loads into a DuckDB database file (``duckdb:///warehouse.duckdb`` by default)."""

    endpoint: str | None = None  # a local file: no circuit breaker
    CHECKPOINTS = "_aoetl.checkpoints"
    COMMITS = "_aoetl.commits"
    CURSORS = "_aoetl.cursors"
    MERGE = True  # the target understands MERGE INTO
    KIND = "DuckDB"  # for messages
    MAX_NAME_BYTES: int | None = None  # DuckDB keeps names of any length
    FOLDS_CASE = True  # "Sales" and "sales" name one table
    SHARED = False  # one writer at a time (file lock): bookkeeping it added can be removed
    ALTER_TYPE = True  # a column can be widened in place

    def __init__(
        self,
        path: str,
        *,
        home: Path | None = None,
        encryption_key: str | None = None,
        lock_timeout: float | None = None,
    ) -> None:
        self.path = path
        self._lock_timeout = lock_timeout  # seconds to wait for another process to close it
        self.display = f"duckdb:///{path}"
        self._home = home
        self._key_ref = encryption_key  # a reference; resolved only when the file is opened
        self._con: duckdb.DuckDBPyConnection | None = None
        self._active: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.RLock()  # DuckDB runs one statement on all cores; one at a time
        self.run_id = ""
        self.pipeline = ""
        self._attached = bool(encryption_key)  # the target is ATTACHed as _DB, not opened
        self._created: Path | None = None  # the file this run created, if any
        self._meta_existed = self._meta_ready = True  # the bookkeeping tables: before, now
        # A write or commit failed in a way a rerun would repeat (a bad key, a failing step, a
        # schema conflict): the run cannot be resumed, so close() drops what it staged.
        self._failed = False

    def validate_table(self, table: str) -> None:
        """Refuse a table name this target would store under another name (exit 2)."""
        check_table_name(table, max_bytes=self.MAX_NAME_BYTES, target=self.KIND)

    # -- lifecycle ---------------------------------------------------------------------------
    def begin(self, run_id: str, pipeline: str) -> None:
        self.run_id, self.pipeline = run_id, pipeline
        log.debug("opening %s%s", self.display, " (encrypted)" if self._key_ref else "")
        file = self._local_file()
        self._created = file if file is not None and not file.exists() else None
        self._con = self._connect()
        self._meta_existed = self._meta_ready = meta_exists(self._con, self._meta())

    def _meta(self) -> Meta:
        return Meta(self.CHECKPOINTS, self.COMMITS, self.CURSORS)

    def _local_file(self) -> Path | None:
        """The database file, when the target is one on this machine."""
        return None if self.path == ":memory:" else Path(self.path).expanduser()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        parent = Path(self.path).expanduser().resolve().parent
        if not parent.is_dir():
            raise UserError(f"folder {parent} does not exist; create it or choose another --to")
        if self._key_ref:
            return open_encrypted(self.path, self._key_ref, _DB, home=self._home)
        return connect(self.path, home=self._home, lock_timeout=self._lock_timeout)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = self.con.cursor()
        # Session settings are per cursor: track progress (for the live view), print none.
        cur.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        if self._attached:
            cur.execute(f"USE {_DB}")  # a cursor starts in the in-memory catalog
        return cur

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise FatalError("DuckDB destination used before begin()")
        return self._con

    def close(self) -> None:
        if self._con is None:
            return
        if self._failed:
            try:
                self.discard()
            except duckdb.Error as exc:  # the staging waits for the next successful run
                log.debug("could not drop the staging of %s: %s", self.run_id, exc)
        con, self._con = self._con, None
        created, self._created = self._created, None
        added = self._meta_ready and not self._meta_existed
        tidy_and_close(
            con,
            self._meta() if self._meta_ready else None,
            added=added and not self.SHARED,
            created=created if not self._meta_existed else None,
        )

    def progress(self) -> float:
        """The running statement's progress in [0, 1], or -1 when DuckDB cannot tell."""
        con = self._active
        if con is None:
            return -1.0
        try:
            value = float(con.query_progress())
        except duckdb.Error:
            return -1.0
        return value / 100 if value >= 0 else -1.0

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoints(self) -> dict[str, Checkpoint]:
        if not self._meta_ready:
            return {}
        rows = self.con.execute(
            f"SELECT table_name, fingerprint, rows, bad_rows, high_water FROM {self.CHECKPOINTS} "
            "WHERE run_id = ?",
            [self.run_id],
        ).fetchall()
        return {r[0]: Checkpoint(r[0], r[1], int(r[2]), int(r[3]), r[4]) for r in rows}

    def cursor(self, table: str) -> str | None:
        with self._lock:
            row = self._cursor_row(table)
        return str(row[0]) if row and row[0] is not None else None

    def _cursor_row(self, table: str) -> tuple[object, ...] | None:
        if not self._meta_ready:
            return None
        return self.con.execute(
            f"SELECT high_water FROM {self.CURSORS} WHERE pipeline = ? AND table_name = ?",
            [self.pipeline, table],
        ).fetchone()

    def committed(self) -> bool:
        if not self._meta_ready:
            return False
        row = self.con.execute(
            f"SELECT count(*) FROM {self.COMMITS} WHERE run_id = ?", [self.run_id]
        ).fetchone()
        return bool(row and row[0])

    def columns(
        self, table: str, con: duckdb.DuckDBPyConnection | None = None
    ) -> list[tuple[str, str]]:
        """The table's columns, or [] if it does not exist."""
        rows = (
            (con or self.con)
            .execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = current_schema() "
                "AND table_name = ? ORDER BY column_index",
                [table],
            )
            .fetchall()
        )
        return [(r[0], r[1]) for r in rows]

    def _staging(self, table: str) -> str:
        # Short and fixed-length: PostgreSQL cuts identifiers at 63 bytes.
        digest = hashlib.sha256(f"{self.run_id}\0{table}".encode()).hexdigest()[:12]
        return quote_ident(f"_aoetl_stage_{digest}")

    # -- writing -----------------------------------------------------------------------------
    def write(
        self,
        table: str,
        relation: Relation,
        *,
        mode: str,
        key: tuple[str, ...],
        fingerprint: str,
        record_bad: Callable[[list[BadRow]], None],
        on_cancel: Callable[[Callable[[], None]], None] | None = None,
        cursor_column: str | None = None,
    ) -> LoadResult:
        """Stage one table and its checkpoint in one transaction."""
        self.validate_table(table)
        with self._lock:
            cur = self._cursor()
            self._active = cur
            ready, staged = self._meta_ready, False
            serial = relation.single_thread
            try:
                if on_cancel is not None:  # raises if already cancelled: the finally cleans up
                    on_cancel(cur.interrupt)
                if serial:
                    cur.execute("SET threads = 1")
                cur.execute("BEGIN TRANSACTION")
                relation.attach(cur)
                incoming = describe(cur, relation.sql)
                added, widened = self._check_schema(cur, table, incoming, mode, key)
                stage = self._staging(table)
                sql = self._adapt(relation.sql, incoming)
                if mode == "merge":
                    sql = last_per_key(sql, key, [n for n, _ in incoming])
                self._ensure_meta(cur)
                rows = count_of(cur.execute(f"CREATE OR REPLACE TABLE {stage} AS {sql}"))
                bad = relation.bad_rows()
                record_bad(bad)
                high_water = self._high_water(cur, table, stage, cursor_column)
                # Delete and insert, not upsert: SQLite targets have no ON CONFLICT via DuckDB.
                cur.execute(
                    f"DELETE FROM {self.CHECKPOINTS} WHERE run_id = ? AND table_name = ?",
                    [self.run_id, table],
                )
                cur.execute(
                    f"INSERT INTO {self.CHECKPOINTS} (run_id, pipeline, table_name, staging, "
                    "fingerprint, rows, bad_rows, high_water, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
                    [
                        self.run_id,
                        self.pipeline,
                        table,
                        stage,
                        fingerprint,
                        rows,
                        len(bad),
                        high_water,
                    ],
                )
                cur.execute("COMMIT")
                staged = True
                return LoadResult(table, self.display, rows, bad, relation.fused, added, widened)
            except duckdb.Error as exc:
                error = relation.stream_error() or classify_duckdb(exc, f"table {shown(table)}")
                self._note_failure(error, exc)
                raise error from exc
            except AoetlError as exc:
                self._note_failure(exc)
                raise
            finally:
                self._active = None
                cur.close()  # an open transaction is rolled back with it
                if not staged:  # and the bookkeeping tables it created, if it did
                    self._meta_ready = ready
                if serial:
                    self.con.execute("RESET threads")

    def _ensure_meta(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the bookkeeping tables in ``con``'s open transaction, if they are not there.

        Not at begin(): a run refused before it writes then adds nothing to the target.
        """
        if not self._meta_ready:
            create_meta(con, self._meta())
            self._meta_ready = True

    def _note_failure(self, error: Exception, cause: BaseException | None = None) -> None:
        """Remember a failure a rerun would repeat; an interruption or outage stays resumable."""
        if isinstance(error, TransientError) or isinstance(cause, duckdb.InterruptException):
            return
        if isinstance(cause, duckdb.IOException):  # a connection or disk, not the data
            return
        self._failed = True

    def _check_schema(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: str,
        incoming: list[tuple[str, str]],
        mode: str,
        key: tuple[str, ...],
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(columns to add, columns to widen), checked before loading rather than at commit."""
        rules = Rules(self.KIND, self.MAX_NAME_BYTES, self.FOLDS_CASE, self.ALTER_TYPE)
        existing = [] if mode == "replace" else self.columns(table, cur)

        def tables() -> list[str]:
            return [
                r[0]
                for r in cur.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = "
                    "current_database() AND schema_name = current_schema()"
                ).fetchall()
            ]

        evolution = check_load(table, incoming, existing, mode, key, rules, tables)
        return tuple(n for n, _ in evolution.add), tuple(n for n, _ in evolution.widen)

    def _high_water(
        self, cur: duckdb.DuckDBPyConnection, table: str, stage: str, column: str | None
    ) -> str | None:
        """The largest cursor value staged, for an incremental table."""
        if column is None:
            return None
        if column not in {n for n, _ in describe(cur, f"SELECT * FROM {stage}")}:
            raise UserError(
                f"table '{table}': the incremental cursor column {column!r} is not in the "
                f"loaded data; keep it through the transforms"
            )
        row = cur.execute(f"SELECT max({quote_ident(column)})::VARCHAR FROM {stage}").fetchone()
        return row[0] if row else None

    def _adapt(self, sql: str, incoming: list[tuple[str, str]]) -> str:
        """Fit the data to what the target database can store (DuckDB stores everything)."""
        return sql

    def commit(self, tables: list[StagedTable]) -> dict[str, int]:
        """Apply every staged table to its target and record the run, in one transaction."""
        con = self.con
        loaded: dict[str, int] = {}
        with self._lock:
            ready = self._meta_ready
            try:
                marks = self.checkpoints()
                con.execute("BEGIN TRANSACTION")
                self._ensure_meta(con)
                for staged in tables:
                    loaded[staged.table] = apply_staged(
                        con,
                        self._staging(staged.table),
                        staged,
                        self.columns(staged.table),
                        merge=self.MERGE,
                    )
                    mark = marks.get(staged.table)
                    if mark is not None and mark.high_water is not None:
                        # The high-water mark advances in the commit's own transaction.
                        con.execute(
                            f"DELETE FROM {self.CURSORS} WHERE pipeline = ? AND table_name = ?",
                            [self.pipeline, staged.table],
                        )
                        con.execute(
                            f"INSERT INTO {self.CURSORS} VALUES (?, ?, ?)",
                            [self.pipeline, staged.table, mark.high_water],
                        )
                con.execute(f"DELETE FROM {self.CHECKPOINTS} WHERE run_id = ?", [self.run_id])
                con.execute(f"DELETE FROM {self.COMMITS} WHERE run_id = ?", [self.run_id])
                con.execute(
                    f"INSERT INTO {self.COMMITS} (run_id, pipeline, committed_at) "
                    "VALUES (?, ?, current_timestamp)",
                    [self.run_id, self.pipeline],
                )
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                self._meta_ready = ready
                error = classify_duckdb(exc, "commit failed")
                self._note_failure(error, exc)
                raise error from exc
            except Exception as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                self._meta_ready = ready
                self._note_failure(exc)
                raise
        self._drop_abandoned()
        return loaded

    def staged(self, table: str) -> Relation:
        """The rows staged for ``table``, streamed as Arrow from a cursor of this database.

        Another connection in this process cannot ATTACH the file this one holds open, so the
        rows come through a binding; the cursor opens when the stream is first read.
        """
        with self._lock:
            stage = self._staged_table(table)
            cur = self._cursor()
            try:
                schema = cur.execute(f"SELECT * FROM {stage} LIMIT 0").to_arrow_table().schema
            finally:
                cur.close()
        return stream_relation(schema, self._cursor, f"SELECT * FROM {stage}")

    def _staged_table(self, table: str) -> str:
        """The staging table of ``table`` in this run (FatalError when nothing is staged)."""
        row = None
        if self._meta_ready:
            row = self.con.execute(
                f"SELECT staging FROM {self.CHECKPOINTS} WHERE run_id = ? AND table_name = ?",
                [self.run_id, table],
            ).fetchone()
        if row is None:
            raise FatalError(f"table '{table}' has nothing staged in run {self.run_id}")
        return str(row[0])

    def discard(self) -> None:
        """Drop this run's staging tables and checkpoints: the run will not be resumed."""
        if not self._meta_ready:
            return
        with self._lock:
            for (stage,) in self.con.execute(
                f"SELECT staging FROM {self.CHECKPOINTS} WHERE run_id = ?", [self.run_id]
            ).fetchall():
                self.con.execute(f"DROP TABLE IF EXISTS {stage}")
            self.con.execute(f"DELETE FROM {self.CHECKPOINTS} WHERE run_id = ?", [self.run_id])

    def _drop_abandoned(self) -> None:
        """Staging left by older, never-committed runs of this pipeline is dropped."""
        rows = self.con.execute(
            f"SELECT run_id, staging FROM {self.CHECKPOINTS} WHERE pipeline = ? AND run_id <> ?",
            [self.pipeline, self.run_id],
        ).fetchall()
        for run_id, stage in rows:
            self.con.execute(f"DROP TABLE IF EXISTS {stage}")
            self.con.execute(f"DELETE FROM {self.CHECKPOINTS} WHERE run_id = ?", [run_id])
