"""A directory of Parquet or CSV files as a destination, committed by an atomic symlink swap.

Layout: ``ROOT/TABLE`` is a symlink to ``ROOT/.aoetl/TABLE/RUN_ID/``, which holds the table's
files. A run writes a new version directory (append hard-links the old files into it; merge
rewrites them), and commit points the symlink at it with one ``rename``, so readers see the old
table or the new one, never a mix. Old versions are removed after the swap.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..errors import FatalError, UserError
from ..spec import Mode
from ._duck import Relation, connect, describe, quote_ident, quote_literal, unique_name
from ._schema import plan_evolution
from .base import LoadResult


@dataclass
class _Staged:
    table: str
    version: Path


class DirectoryDestination:
    """Writes each table as files under ``ROOT/TABLE/`` in ``fmt`` ('parquet' or 'csv')."""

    def __init__(self, root: str, fmt: str = "parquet") -> None:
        if fmt not in ("parquet", "csv"):
            raise UserError(f"directory targets write parquet or csv, not {fmt!r}")
        self.root = Path(root).expanduser()
        self.fmt = fmt
        self.display = f"{fmt}:///{root}"
        self._run_id = ""
        self._staged: list[_Staged] = []
        # Connections stay open until commit/abort: their temp tables hold the CSV rejects.
        self._cons: list[duckdb.DuckDBPyConnection] = []

    def begin(self, run_id: str) -> None:
        self._run_id = run_id
        self._staged = []
        self.root.mkdir(parents=True, exist_ok=True)

    def _link(self, table: str) -> Path:
        link = self.root / table
        if link.exists() and not link.is_symlink():
            raise UserError(
                f"{link} exists and was not written by aoetl; move it away or pick another target"
            )
        return link

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
        self, table: str, relation: Relation, *, mode: Mode, key: tuple[str, ...]
    ) -> LoadResult:
        link = self._link(table)
        version = self.root / ".aoetl" / table / self._run_id
        if version.exists():
            shutil.rmtree(version)
        version.mkdir(parents=True)
        self._staged.append(_Staged(table, version))
        old_files = self._files(link) if link.exists() else []
        con = connect()
        self._cons.append(con)
        relation.attach(con)
        part = version / f"part-{self._run_id}.{self.fmt}"
        added: tuple[str, ...] = ()
        widened: tuple[str, ...] = ()
        try:
            if old_files and mode != "replace":
                evolution = plan_evolution(
                    table, describe(con, self._scan(old_files)), describe(con, relation.sql)
                )
                added = tuple(n for n, _ in evolution.add)
                widened = tuple(n for n, _ in evolution.widen)
            if mode == "append" or mode == "replace" or not old_files:
                if mode == "append":
                    for f in old_files:
                        _link_or_copy(f, version / f.name)
                rows = self._copy(con, relation.sql, part)
            else:
                rows = self._merge(con, relation.sql, old_files, key, part)
        except duckdb.Error as exc:
            raise FatalError(f"table '{table}': {str(exc).splitlines()[0]}") from exc
        return LoadResult(table, self.display, rows, [], relation.fused, added, widened)

    def _merge(
        self,
        con: duckdb.DuckDBPyConnection,
        sql: str,
        old_files: list[Path],
        key: tuple[str, ...],
        dest: Path,
    ) -> int:
        stage = unique_name("stage")
        parts = ", ".join(quote_ident(k) for k in key)
        con.execute(
            f"CREATE TEMP TABLE {stage} AS SELECT * EXCLUDE (__seq) FROM "
            f"(SELECT *, row_number() OVER () AS __seq FROM ({sql})) "
            f"QUALIFY row_number() OVER (PARTITION BY {parts} ORDER BY __seq DESC) = 1"
        )
        on = " AND ".join(
            f"o.{quote_ident(k)} IS NOT DISTINCT FROM s.{quote_ident(k)}" for k in key
        )
        merged = (
            f"SELECT o.* FROM ({self._scan(old_files)}) o ANTI JOIN {stage} s ON {on} "
            f"UNION ALL BY NAME SELECT * FROM {stage}"
        )
        self._copy(con, merged, dest)
        row = con.execute(f"SELECT count(*) FROM {stage}").fetchone()
        return int(row[0]) if row else 0

    def commit(self) -> None:
        for staged in self._staged:
            link = self.root / staged.table
            tmp = self.root / f".{staged.table}.{self._run_id}.link"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(os.path.relpath(staged.version, self.root), tmp)
            os.replace(tmp, link)  # atomic: readers see the old version or the new one
            for old in staged.version.parent.iterdir():
                if old != staged.version:
                    shutil.rmtree(old, ignore_errors=True)
        self._finish()

    def abort(self) -> None:
        for staged in self._staged:
            shutil.rmtree(staged.version, ignore_errors=True)
        self._finish()

    def _finish(self) -> None:
        self._staged = []
        for con in self._cons:
            con.close()
        self._cons = []


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
