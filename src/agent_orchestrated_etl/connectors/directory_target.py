"""A directory of Parquet or CSV files as a destination, committed by atomic symlink swaps.

Layout: ``ROOT/TABLE`` is a symlink to ``ROOT/.aoetl/TABLE/RUN_ID/``, which holds the table's
files. A run writes a new version directory (append hard-links the old files into it; merge
rewrites them), and finishes it with a ``_CHECKPOINT`` file written by rename: a version
directory with that file is complete, and a resumed run skips it. Commit points each symlink
at its new version with one ``rename``, so readers see the old table or the new one, never a
mix; then it records ``ROOT/.aoetl/_commits/RUN_ID`` and removes versions no longer current.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb

from ..errors import FatalError, NotSupportedError, UserError
from ._duck import (
    BadRow,
    Relation,
    connect,
    describe,
    key_match,
    last_per_key,
    quote_literal,
    unique_name,
)
from ._schema import plan_evolution
from .base import Checkpoint, LoadResult, StagedTable

_MARK = "_CHECKPOINT"


class DirectoryDestination:
    """Writes each table as files under ``ROOT/TABLE/`` in ``fmt`` ('parquet' or 'csv')."""

    endpoint: str | None = None

    def __init__(self, root: str, fmt: str = "parquet") -> None:
        if fmt not in ("parquet", "csv"):
            raise UserError(f"directory targets write parquet or csv, not {fmt!r}")
        self.root = Path(root).expanduser()
        self.fmt = fmt
        self.display = f"{fmt}:///{root}"
        self.run_id = ""
        self.pipeline = ""

    def begin(self, run_id: str, pipeline: str) -> None:
        self.run_id, self.pipeline = run_id, pipeline
        self.root.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        pass

    def _meta(self) -> Path:
        return self.root / ".aoetl"

    def _version(self, table: str) -> Path:
        return self._meta() / table / self.run_id

    def _link(self, table: str) -> Path:
        link = self.root / table
        if link.exists() and not link.is_symlink():
            raise UserError(
                f"{link} exists and was not written by aoetl; move it away or pick another target"
            )
        return link

    def checkpoints(self) -> dict[str, Checkpoint]:
        found: dict[str, Checkpoint] = {}
        for mark in self._meta().glob(f"*/{self.run_id}/{_MARK}"):
            data = json.loads(mark.read_text())
            found[data["table"]] = Checkpoint(
                data["table"], data["fingerprint"], data["rows"], data["bad_rows"]
            )
        return found

    def committed(self) -> bool:
        return (self._meta() / "_commits" / self.run_id).exists()

    def cursor(self, table: str) -> str | None:
        return None

    def _files(self, folder: Path) -> list[Path]:
        return sorted(folder.glob(f"*.{self.fmt}"))

    def _scan(self, files: list[Path]) -> str:
        names = "[" + ", ".join(quote_literal(str(f)) for f in files) + "]"
        if self.fmt == "parquet":
            return f"SELECT * FROM read_parquet({names}, union_by_name=true)"
        return f"SELECT * FROM read_csv({names}, union_by_name=true, header=true)"

    def _copy(self, con: duckdb.DuckDBPyConnection, sql: str, dest: Path) -> int:
        options = (
            "FORMAT parquet, COMPRESSION zstd" if self.fmt == "parquet" else "FORMAT csv, HEADER"
        )
        row = con.execute(f"COPY ({sql}) TO {quote_literal(str(dest))} ({options})").fetchone()
        return int(row[0]) if row else 0

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
        if cursor_column is not None:
            raise NotSupportedError(
                "incremental loads keep their high-water mark in a database target (DuckDB, "
                "PostgreSQL, SQLite); a Parquet or CSV folder cannot hold it yet"
            )
        link = self._link(table)
        version = self._version(table)
        if version.exists():
            shutil.rmtree(version)  # an unfinished attempt of this run
        version.mkdir(parents=True)
        old_files = self._files(link) if link.exists() else []
        con = connect()
        if on_cancel is not None:
            on_cancel(con.interrupt)
        try:
            relation.attach(con)
            part = version / f"part-{self.run_id}.{self.fmt}"
            added: tuple[str, ...] = ()
            widened: tuple[str, ...] = ()
            if old_files and mode != "replace":
                evolution = plan_evolution(
                    table, describe(con, self._scan(old_files)), describe(con, relation.sql)
                )
                added = tuple(n for n, _ in evolution.add)
                widened = tuple(n for n, _ in evolution.widen)
            if mode == "merge" and old_files:
                rows = self._merge(con, relation.sql, old_files, key, part)
            else:
                if mode == "append":
                    for f in old_files:
                        _link_or_copy(f, version / f.name)
                rows = self._copy(con, relation.sql, part)
            bad = relation.bad_rows()
            record_bad(bad)
            _write_atomic(
                version / _MARK,
                {"table": table, "fingerprint": fingerprint, "rows": rows, "bad_rows": len(bad)},
            )
        except BaseException as exc:
            con.close()
            shutil.rmtree(version, ignore_errors=True)  # unfinished: nothing to resume from
            if isinstance(exc, duckdb.Error):
                typed = relation.stream_error()
                if typed is not None:
                    raise typed from exc
                raise FatalError(f"table '{table}': {str(exc).splitlines()[0]}") from exc
            raise
        con.close()
        return LoadResult(table, self.display, rows, bad, relation.fused, added, widened)

    def _merge(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        old_files: list[Path],
        key: tuple[str, ...],
        dest: Path,
    ) -> int:
        stage = unique_name("stage")
        con.execute(f"CREATE TEMP TABLE {stage} AS {last_per_key(sql, key)}")
        on = key_match("o", "s", key)
        merged = (
            f"SELECT o.* FROM ({self._scan(old_files)}) o ANTI JOIN {stage} s ON {on} "
            f"UNION ALL BY NAME SELECT * FROM {stage}"
        )
        self._copy(con, merged, dest)
        row = con.execute(f"SELECT count(*) FROM {stage}").fetchone()
        return int(row[0]) if row else 0

    def commit(self, tables: list[StagedTable]) -> dict[str, int]:
        loaded: dict[str, int] = {}
        marks = self.checkpoints()
        for staged in tables:
            version = self._version(staged.table)
            link = self.root / staged.table
            tmp = self.root / f".{staged.table}.{self.run_id}.link"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(os.path.relpath(version, self.root), tmp)
            os.replace(tmp, link)  # atomic: readers see the old version or the new one
            loaded[staged.table] = marks[staged.table].rows if staged.table in marks else 0
        commits = self._meta() / "_commits"
        commits.mkdir(parents=True, exist_ok=True)
        (commits / self.run_id).write_text(self.pipeline)
        for staged in tables:
            current = self._version(staged.table)
            for old in current.parent.iterdir():
                if old != current:
                    shutil.rmtree(old, ignore_errors=True)
        return loaded

    def discard(self) -> None:
        for version in self._meta().glob(f"*/{self.run_id}"):
            if version.parent.name != "_commits":
                shutil.rmtree(version, ignore_errors=True)


def _write_atomic(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
