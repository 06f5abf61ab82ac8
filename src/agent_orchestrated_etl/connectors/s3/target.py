"""An S3 prefix as a destination: Parquet (or CSV) files per table, committed by a manifest.

A run stages each table under ``_aoetl/staging/RUN_ID/TABLE/`` with DuckDB's ``COPY … TO
's3://…'`` (httpfs streams it up; nothing is held in memory), Hive-partitioned when the target
says ``partition_by``, and writes the table's checkpoint last: a staging with a checkpoint is
complete, and a resumed run reuses it. The commit copies the staged files to their final keys
and publishes each table's ``_manifest.json`` (see ``_target_publish``); until then nothing
appears under ``TABLE/``. Layout and manifest: ``_manifest``.

Modes: replace (the new files only), append (the old ones kept), merge on the key (only the
files holding a key of the load are rewritten, with their other rows). Columns evolve as in
every destination (``connectors/_schema``). One writer per table at a time: a manifest is
written only over the version it was built on, and a merge whose base changed meanwhile fails.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from ...data.duck import (
    BadRow,
    Relation,
    connect,
    describe,
    key_match,
    last_per_key,
    quote_ident,
    unique_name,
)
from ...errors import (
    AoetlError,
    FatalError,
    TransientError,
    UserError,
    classify_boto,
    classify_duckdb,
)
from ...spec import TargetSpec
from .._schema import check_column_names, check_key, names_list, plan_evolution, shown
from ..base import Checkpoint, LoadResult, Location, StagedTable
from ..directory.target import name_problem
from ._access import connect as s3_connect
from ._access import split
from ._manifest import CHECKPOINT, MANIFEST, ConflictError, Store, next_manifest
from ._target_files import FILE_COLUMN, Files, file_stem, pairs, projection
from ._target_publish import commit_key, intent_key, now, publish, roll_forward, staging_key

_MODES = ("replace", "append", "merge")
# Characters DuckDB's httpfs does not take literally in an s3:// path: '?' starts a query
# (signed into the request), '#' a fragment, '%' an escape; glob characters expand; and a
# folder named k=v reads back as a Hive partition, not a table.
_URL_UNSAFE = frozenset("?#%*[]{}=")


class S3Destination:
    """Writes each table as files under ``s3://bucket/PREFIX/TABLE/``."""

    def __init__(self, spec: TargetSpec, where: Location, *, home: Path) -> None:
        self.fmt = spec.format or "parquet"
        if self.fmt not in ("parquet", "csv"):
            raise UserError(f"S3 targets write parquet or csv, not {self.fmt!r}")
        bucket, prefix = split(where.url)
        prefix = prefix.strip("/")
        self.partition_by = tuple(spec.partition_by)
        self.access = s3_connect(spec.s3)
        self.store = Store(self.access.client, bucket, f"{prefix}/" if prefix else "")
        self.files = Files(self.store, self.fmt, self.partition_by)
        self.display = where.display
        self.endpoint: str | None = self.access.endpoint
        self.notes: list[str] = []
        self.run_id = ""
        self.pipeline = ""
        self._home = home
        self._failed = False  # a write failed in a way a rerun would repeat

    # -- the run --------------------------------------------------------------------------
    def begin(self, run_id: str, pipeline: str) -> None:
        self.run_id, self.pipeline = run_id, pipeline
        try:  # a listing (not HEAD) answers with the store's error code, for the message
            self.access.client.list_objects_v2(
                Bucket=self.store.bucket, Prefix=self.store.prefix, MaxKeys=1
            )
        except Exception as exc:
            error = classify_boto(exc, f"opening {self.display}")
            if type(error) is FatalError:
                raise UserError(f"{error}; check the target URI") from None
            raise error from None
        # A commit a killed process left half done is finished before this run writes.
        self.notes.extend(roll_forward(self.store))

    def close(self) -> None:
        if self._failed:
            with contextlib.suppress(AoetlError):
                if not self.committed():
                    self.discard()

    def validate_table(self, table: str) -> None:
        """Refuse a table name that is not one plain folder name under the prefix (exit 2)."""
        problem = name_problem(table)
        if problem is None and table.startswith("_"):
            problem = "it starts with '_' (aoetl's own objects do, and readers skip them)"
        unsafe = sorted({c for c in table if c in _URL_UNSAFE})
        if problem is None and unsafe:
            problem = (
                f"it contains {' '.join(unsafe)}, which an s3:// path reader takes as a "
                "query, a fragment, an escape, a glob or a key=value partition"
            )
        if problem is not None:
            shown_name = repr(table if len(table) <= 60 else table[:57] + "...")
            raise UserError(
                f"table name {shown_name} cannot be a folder in {self.display}: {problem}; "
                f"choose another name (--table, or 'table' in the pipeline file)"
            )

    def committed(self) -> bool:
        return self.store.exists(commit_key(self.run_id))

    def checkpoints(self) -> dict[str, Checkpoint]:
        found: dict[str, Checkpoint] = {}
        if self.committed():
            return found
        for table in self.store.folders(staging_key(self.run_id)):
            doc = self._checkpoint(table)
            if doc is not None:
                found[table] = Checkpoint(
                    table, doc["fingerprint"], doc["rows"], doc["bad_rows"], doc["high_water"]
                )
        return found

    def cursor(self, table: str) -> str | None:
        manifest = self._manifest(table)
        mark = (manifest or {}).get("cursors", {}).get(self.pipeline)
        return str(mark) if mark is not None else None

    def _manifest(self, table: str) -> dict[str, Any] | None:
        found = self.store.get_json(f"{table}/{MANIFEST}")
        return found[0] if found is not None else None

    def _checkpoint(self, table: str) -> dict[str, Any] | None:
        found = self.store.get_json(f"{staging_key(self.run_id)}{table}/{CHECKPOINT}")
        return found[0] if found is not None else None

    # -- staging ---------------------------------------------------------------------------
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
        self.validate_table(table)
        if mode not in _MODES:
            raise UserError(f"mode {mode!r} is not one of {', '.join(_MODES)}")
        if self.committed():
            raise UserError(
                f"run {self.run_id} was committed meanwhile by another process; "
                f"see 'aoetl runs', and start a new run with --fresh"
            )
        stage = f"{staging_key(self.run_id)}{table}/"
        self.store.delete_under(stage)  # an unfinished attempt of this run
        current = self._manifest(table)
        if current is None:
            self._refuse_foreign(table)
        elif mode != "replace":
            self._check_layout(table, current)
        con = connect(home=self._home)
        try:
            if on_cancel is not None:  # raises if already cancelled: cleaned up below
                on_cancel(con.interrupt)
            for statement in self.access.prelude(self.store.bucket):
                con.execute(statement)
            relation.attach(con)
            incoming = describe(con, relation.sql)
            self._check_columns(table, incoming, mode, key, current)
            added: tuple[str, ...] = ()
            widened: tuple[str, ...] = ()
            if current is not None and mode != "replace":
                evolution = plan_evolution(table, pairs(current["columns"]), incoming)
                added = tuple(n for n, _ in evolution.add)
                widened = tuple(n for n, _ in evolution.widen)
            rewritten: list[str] = []
            kept: list[dict[str, Any]] = []
            if mode == "merge":
                work = unique_name("stage")
                con.execute(f"CREATE TEMP TABLE {work} AS {last_per_key(relation.sql, key)}")
                part = self.files.copy(con, f"SELECT * FROM {work}", f"{stage}part/")
                if current is not None and current["files"]:
                    rewritten, kept = self._rewrite(con, table, current, work, key, stage)
            else:
                part = self.files.copy(con, relation.sql, f"{stage}part/")
            rows = sum(int(f["rows"]) for f in part)
            bad = relation.bad_rows()
            record_bad(bad)
            high_water = None
            if cursor_column is not None:
                high_water = self._high_water(con, table, incoming, part, cursor_column)
            self.store.put_json(
                f"{stage}{CHECKPOINT}",
                {
                    "table": table,
                    "fingerprint": fingerprint,
                    "rows": rows,
                    "bad_rows": len(bad),
                    "high_water": high_water,
                    "mode": mode,
                    "key": list(key),
                    "columns": [list(c) for c in incoming],
                    "file_format": self.fmt,
                    "partition_by": list(self.partition_by),
                    "base_run": current["run_id"] if current is not None else None,
                    "part": part,
                    "kept": kept,
                    "rewritten": rewritten,
                    "staged_at": now(),
                },
            )
        except BaseException as exc:
            con.close()
            with contextlib.suppress(Exception):
                self.store.delete_under(stage)  # unfinished: nothing to resume from
            error: BaseException = exc
            if isinstance(exc, duckdb.Error):
                error = relation.stream_error() or classify_duckdb(exc, f"table {shown(table)}")
            self._failed = self._failed or (
                isinstance(error, AoetlError)
                and not isinstance(error, TransientError)
                and not isinstance(exc, (duckdb.InterruptException, duckdb.IOException))
            )
            if error is exc:
                raise
            raise error from exc
        con.close()
        return LoadResult(table, self.display, rows, bad, relation.fused, added, widened)

    def _refuse_foreign(self, table: str) -> None:
        """A table folder without a manifest holds someone else's files: never mix with them."""
        if self.store.objects(f"{table}/", limit=1):
            raise UserError(
                f"{self.store.url(table + '/')} holds objects aoetl did not write (no "
                f"{MANIFEST}); move them away, or load into another prefix or table"
            )

    def _check_layout(self, table: str, current: dict[str, Any]) -> None:
        fmt, parts = current.get("file_format"), tuple(current.get("partition_by") or ())
        if fmt != self.fmt or parts != self.partition_by:
            had = f"{fmt} files" + (f" partitioned by {', '.join(parts)}" if parts else "")
            now_ = f"{self.fmt} files" + (
                f" partitioned by {', '.join(self.partition_by)}" if self.partition_by else ""
            )
            raise UserError(
                f"table {shown(table)} in {self.display} is {had}, and this target writes "
                f"{now_}; load it with mode replace to change its layout, or match the target"
            )

    def _check_columns(
        self,
        table: str,
        incoming: list[tuple[str, str]],
        mode: str,
        key: tuple[str, ...],
        current: dict[str, Any] | None,
    ) -> None:
        names = [n for n, _ in incoming]
        check_column_names(table, names, max_bytes=None, target="a Parquet or CSV reader")
        missing = [p for p in self.partition_by if p not in names]
        if missing:
            raise UserError(
                f"table {shown(table)}: partition_by {names_list(missing)} is not a column of "
                f"the loaded data (columns: {names_list(names)}); fix target.partition_by"
            )
        if len(self.partition_by) >= len(names):
            raise UserError(
                f"table {shown(table)}: every column is a partition column, which leaves the "
                "files empty; partition by fewer columns"
            )
        if mode == "merge":
            check_key(table, key, names, "the loaded data")
            if current is not None:
                existing = [n for n, _ in pairs(current["columns"])]
                check_key(table, key, existing, f"the existing table {shown(table)}")

    def _rewrite(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        current: dict[str, Any],
        work: str,
        key: tuple[str, ...],
        stage: str,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The current files that hold a key of the load, and their other rows staged anew."""
        paths = [f["path"] for f in current["files"]]
        scan = self.files.scan(con, f"{table}/", current, paths, named=True)
        on = key_match("o", "s", key)
        found = con.execute(
            f"SELECT DISTINCT o.{FILE_COLUMN} FROM ({scan}) o SEMI JOIN {work} s ON {on}"
        ).fetchall()
        base = self.store.url(f"{table}/")
        rewritten = sorted(str(r[0])[len(base) :] for r in found)
        if not rewritten:
            return [], []
        old = self.files.scan(con, f"{table}/", current, rewritten)
        kept = self.files.copy(
            con, f"SELECT o.* FROM ({old}) o ANTI JOIN {work} s ON {on}", stage + "kept/"
        )
        return rewritten, kept

    def _high_water(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        incoming: list[tuple[str, str]],
        part: list[dict[str, Any]],
        column: str,
    ) -> str | None:
        if column not in dict(incoming):
            raise UserError(
                f"table '{table}': the incremental cursor column {column!r} is not in the "
                f"loaded data; check incremental.cursor"
            )
        sql = self._staged_sql(con, table, incoming, part)
        row = con.execute(f"SELECT max({quote_ident(column)})::VARCHAR FROM ({sql})").fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def _staged_sql(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        columns: list[tuple[str, str]],
        part: list[dict[str, Any]],
    ) -> str:
        if not part:  # nothing was written: the columns, no rows
            return projection("(SELECT 1) AS t", columns, set(), False, empty=True)
        manifest = {
            "columns": [list(c) for c in columns],
            "partition_by": list(self.partition_by),
            "file_format": self.fmt,
        }
        stage = f"{staging_key(self.run_id)}{table}/part/"
        return self.files.scan(con, stage, manifest, [f["path"] for f in part])

    def staged(self, table: str) -> Relation:
        """The rows this run staged for ``table`` (for merge, the last row per key)."""
        self.validate_table(table)
        doc = None if self.committed() else self._checkpoint(table)
        if doc is None:
            raise FatalError(f"table '{table}' has nothing staged in run {self.run_id}")
        prelude = self.access.prelude(self.store.bucket)
        con = connect(home=self._home)
        try:
            for statement in prelude:
                con.execute(statement)
            sql = self._staged_sql(con, table, pairs(doc["columns"]), doc["part"])
        except duckdb.Error as exc:
            raise classify_duckdb(exc, f"reading staged table {shown(table)}") from exc
        finally:
            con.close()
        return Relation(sql, prelude=prelude)

    # -- commit ----------------------------------------------------------------------------
    def commit(self, tables: list[StagedTable]) -> dict[str, int]:
        found = self.store.get_json(intent_key(self.run_id))
        if found is not None:  # an earlier attempt of this commit stopped: finish it
            return publish(self.store, found[0])
        at = now()
        try:  # every table is checked against its current version before anything is copied
            entries = [self._entry(staged, at) for staged in tables]
        except UserError:
            self._failed = True  # this staging can never commit: close() drops it
            raise
        intent = {"run_id": self.run_id, "pipeline": self.pipeline, "at": at, "tables": entries}
        self.store.put_json(intent_key(self.run_id), intent)
        return publish(self.store, intent)

    def _entry(self, staged: StagedTable, at: str) -> dict[str, Any]:
        """What the commit does for one table: its copies and the version they make.

        Raises:
            ConflictError, SchemaConflictError: the table's current version, written by
                another run since this one staged, does not take this run's version.
        """
        table = staged.table
        doc = self._checkpoint(table)
        if doc is None:
            raise FatalError(f"table '{table}' has nothing staged in run {self.run_id}")
        stage = f"{staging_key(self.run_id)}{table}/"
        copies, files = [], []
        staged_files = [("part/", f) for f in doc["part"]] + [("kept/", f) for f in doc["kept"]]
        name = file_stem(self.run_id, at)
        for n, (folder, f) in enumerate(staged_files):
            final = posixpath.join(posixpath.dirname(f["path"]), f"{name}-{n:05d}.{self.fmt}")
            copies.append([f"{stage}{folder}{f['path']}", f"{table}/{final}"])
            files.append({"path": final, "rows": f["rows"], "size": f["size"]})
        entry = {
            "table": table,
            "mode": doc["mode"],
            "file_format": doc["file_format"],
            "partition_by": doc["partition_by"],
            "columns": doc["columns"],
            "files": files,
            "copies": copies,
            "rewritten": doc["rewritten"],
            "base_run": doc["base_run"],
            "high_water": doc["high_water"],
            "rows": doc["rows"],
        }
        try:  # the version publishing would make, built now only for its checks
            next_manifest(self._manifest(table), entry, self.run_id, self.pipeline, at)
        except ConflictError as exc:
            raise ConflictError(
                f"{exc}; nothing was committed: run the pipeline again with --fresh to load "
                "into the table as it is now"
            ) from None
        return entry

    def discard(self) -> None:
        if self.committed() or self.store.exists(intent_key(self.run_id)):
            return  # committed, or being published: its staging is the commit's input
        self.store.delete_under(staging_key(self.run_id))
