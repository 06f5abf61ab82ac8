"""Columns a file's place gives its rows: hive partitions and the object columns.

A path (or object key) with ``key=value/`` folders reads those as columns (DuckDB's
``hive_partitioning``). An incremental cursor on ``_object_key`` or ``_object_modified``
(:data:`~agent_orchestrated_etl.spec.OBJECT_COLUMNS`) adds that column to every row, from the
file the row came from, and an incremental read then lists only the files past the mark.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import duckdb

from ...data.duck import quote_ident, quote_literal
from ...errors import UserError
from ...spec import OBJECT_COLUMNS, FileSourceSpec
from ..base import Decision, RowFilter
from .fs import FileInfo

FILE_COLUMN = "__aoetl_file"
"""The column DuckDB's ``filename`` option fills with the path each row was read from."""
_PATH = "__aoetl_path"
SETTLE = dt.timedelta(seconds=2)
"""How long before a run's listing a file must have been modified for an ``_object_modified``
cursor to read it (see :func:`settled`)."""
_SEGMENT = re.compile(r"^([^=/]+)=([^/]*)$")


def hive_keys(path: str) -> tuple[str, ...]:
    """The partition keys of a path's ``key=value`` folders, outermost first."""
    folders = path.split("/")[:-1]
    return tuple(m.group(1) for part in folders if (m := _SEGMENT.match(part)))


def hive_folders(path: str) -> tuple[str, ...]:
    """The path's ``key=value`` folders themselves (a repaired copy is put under them, so
    DuckDB reads the same partition values from it)."""
    return tuple(part for part in path.split("/")[:-1] if _SEGMENT.match(part))


def partitioning(spec: FileSourceSpec, paths: Iterable[str]) -> tuple[bool, Decision | None]:
    """Whether a group of files is read with hive partitions, and the decision that says so.

    By default the keys are read when every file's path holds the same ``key=value``
    folders; ``hive_partitioning`` (S3 sources) forces it either way.
    """
    forced: bool | None = getattr(spec, "hive_partitioning", None)
    keys = {hive_keys(p) for p in paths}
    shown = ", ".join(next(iter(keys))) if len(keys) == 1 else ""
    if forced is False:
        return False, None
    if forced is True:
        if len(keys) != 1 or not shown:
            found = " / ".join(sorted(", ".join(k) or "none" for k in keys))
            raise UserError(
                f"hive_partitioning is true, but the files' key=value folders differ ({found}); "
                f"give a prefix whose files share them, or set hive_partitioning: false"
            )
        return True, Decision("partitions", shown, "hive_partitioning is true")
    if len(keys) == 1 and shown:
        return True, Decision(
            "partitions",
            shown,
            "every file's path holds these key=value folders, read as columns; set "
            "hive_partitioning: false to read without them",
        )
    if any(keys):
        found = " / ".join(sorted(", ".join(k) or "none" for k in keys))
        return False, Decision(
            "partitions",
            "none",
            f"the files' key=value folders differ ({found}), so they are not read as columns",
        )
    return False, None


def object_columns(spec: FileSourceSpec, table: str) -> tuple[str, ...]:
    """The object columns the table's incremental cursor names (at most one)."""
    inc = spec.incremental.get(table) or spec.incremental.get("*")
    return (inc.cursor,) if inc is not None and inc.cursor in OBJECT_COLUMNS else ()


def key_of(info: FileInfo) -> str:
    """The object key of an S3 object (without s3://bucket/), else the file's path."""
    if info.path.startswith("s3://"):
        return info.path[5:].split("/", 1)[-1]
    return info.path


def _value(column: str, info: FileInfo) -> str:
    if column == "_object_key":
        return quote_literal(key_of(info))
    return f"CAST({quote_literal(info.modified.isoformat())} AS TIMESTAMP WITH TIME ZONE)"


def with_objects(sql: str, columns: tuple[str, ...], read: dict[str, FileInfo]) -> str:
    """``sql`` (which reads with ``filename=FILE_COLUMN``) with that column replaced by the
    object ``columns`` of each row's file; ``read`` maps each path read to its file (a
    repaired copy to the original).

    The files are a small relation joined on the path (a hash join: rows + files, not rows
    times files as a per-row lookup in a literal map of every file would be).
    """
    if not columns:
        return sql
    rows = ", ".join(
        f"({quote_literal(p)}, {', '.join(quote_literal(_text(c, i)) for c in columns)})"
        for p, i in read.items()
    )
    names = [f"v{n}" for n in range(len(columns))]
    casts = ", ".join(
        f"CAST({v} AS {OBJECT_COLUMNS[c]}) AS {quote_ident(c)}"
        for v, c in zip(names, columns, strict=True)
    )
    if not rows:  # no file known: the columns stay NULL
        rows = f"(NULL, {', '.join('NULL' for _ in columns)})"
    files = f"SELECT p AS {_PATH}, {casts} FROM (VALUES {rows}) AS v(p, {', '.join(names)})"
    picks = ", ".join(f"o.{quote_ident(c)}" for c in columns)
    return (
        f"SELECT t.* EXCLUDE ({FILE_COLUMN}), {picks} FROM ({sql}) AS t "
        f"LEFT JOIN ({files}) AS o ON t.{FILE_COLUMN} = o.{_PATH}"
    )


def _text(column: str, info: FileInfo) -> str:
    return key_of(info) if column == "_object_key" else info.modified.isoformat()


def settled(
    infos: list[FileInfo], listed_at: dt.datetime | None
) -> tuple[list[FileInfo], list[FileInfo]]:
    """(files an ``_object_modified`` cursor may read now, files that wait for a later run).

    A run reads only files modified at least :data:`SETTLE` before its listing began, so its
    mark is that old: a file written in the mark's second, or just after the listing, was
    either in this listing (strongly consistent on S3) and read, or is newer than the mark
    and read by the next run. Without it, such a file is never loaded.
    """
    if listed_at is None:
        listed_at = dt.datetime.now(dt.UTC)
    cutoff = listed_at - SETTLE
    ready = [i for i in infos if i.modified <= cutoff]
    return ready, [i for i in infos if i.modified > cutoff]


def past_mark(
    con: duckdb.DuckDBPyConnection, infos: list[FileInfo], where: RowFilter
) -> list[FileInfo]:
    """The files whose object column passes ``where`` (the same condition the rows meet)."""
    if not infos:
        return []
    rows = ", ".join(
        f"({i}, {_value('_object_key', info)}, {_value('_object_modified', info)})"
        for i, info in enumerate(infos)
    )
    kept = con.execute(
        f"SELECT i FROM (VALUES {rows}) AS t(i, _object_key, _object_modified) "
        f"WHERE {where.sql()} ORDER BY i"
    ).fetchall()
    return [infos[int(r[0])] for r in kept]
