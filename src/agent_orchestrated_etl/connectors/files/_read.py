"""How the file source reads what it discovered: DuckDB SQL per format, with quarantine.

:class:`Reader` is the reading half of :class:`~.source.FileSource`: each resource becomes a
``read_csv`` / ``read_json`` / ``read_parquet`` SELECT over its files' paths (local, or
``s3://`` after the file system's prelude), rejecting bad rows into a sink, repairing the
rare file DuckDB cannot take as it is, and reading only the files past an object cursor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb

from ..._text import plural
from ...data import lines as _lines
from ...data.duck import BadRow, RejectSink, Relation, quote_ident, quote_literal, sql_list
from ...errors import AoetlError
from ...spec import FileSourceSpec
from ..base import Resource, RowFilter
from . import _json, _objects
from .fs import CachedHeads, FileInfo


@dataclass(frozen=True)
class FileRead:
    """How DuckDB reads a resource's files, pinned at discovery.

    Attributes:
        args: read_csv / read_json / read_parquet arguments, each as a SQL literal.
        record_path: for a JSON document, the key whose array holds the records.
    """

    args: tuple[tuple[str, str], ...]
    record_path: str | None = None
    partitions: tuple[str, ...] = ()  # columns from key=value folders (not in the files)
    objects: tuple[str, ...] = ()  # object columns (_object_key…) added to every row

    def options(self) -> tuple[tuple[str, str], ...]:
        if self.record_path is None:
            return self.args
        return (*self.args, ("record_path", quote_literal(self.record_path)))

    def file_columns(self, columns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """``columns`` less those the files' places add (partitions, object columns)."""
        added = {*self.partitions, *self.objects}
        return tuple(c for c in columns if c[0] not in added)

    def assumptions(self) -> list[str]:
        args = dict(self.args)
        found = [f"delimiter {args['delim']}"] if "delim" in args else []
        if "header" in args:
            found.append("a header line" if args["header"] == "true" else "no header line")
        if "skip" in args:
            found.append(f"{args['skip']} line{'' if args['skip'] == '1' else 's'} skipped first")
        if self.record_path is not None:
            found.append(f"records under {self.record_path!r}")
        return found


class Reader:
    """Reads resources a file source discovered (see :class:`~.source.FileSource`)."""

    spec: FileSourceSpec
    fs: CachedHeads
    _con: duckdb.DuckDBPyConnection
    _prelude: tuple[str, ...]
    _scratch: Path | None
    _infos: dict[str, FileInfo]
    _listed_at: dt.datetime | None  # the store's clock when discovery listed the files
    notes: list[str]
    _copies: dict[str, str]  # a repaired copy -> the file it was made from
    _codecs: dict[str, str | None]  # files whose content's codec is not their name's -> it

    def scratch(self) -> Path:
        """A private folder for repaired copies, removed by :meth:`close`."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="aoetl-files-"))
        return self._scratch

    def _copy_folder(self, location: str) -> Path:
        """A new folder for a repaired copy of ``location``, under its key=value folders (so
        the copy reads the same partition values)."""
        folder = self.scratch().joinpath(uuid.uuid4().hex[:12], *_objects.hive_folders(location))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _open(self, path: str) -> BinaryIO:
        """A file's stored bytes: a repaired copy from disk, anything else from the fs."""
        if path in self._copies:
            return open(path, "rb")
        return self.fs.open(path)

    def _head(self, path: str, size: int = 1 << 16) -> bytes:
        """The first ``size`` bytes of a file, decompressed (one ranged read; a stream when
        the first zstd block is longer than the read)."""
        codec = self._codec(path)
        data = _lines.decompress_head(self.fs.head(path, size), codec, size)
        if data or codec is None:
            return data
        try:
            named, opener = self._as_named(path)
            return _lines.head_bytes(named, size, opener)
        except Exception:  # a damaged stream of any codec (zstd's error has no public base)
            return b""

    def _codec(self, path: str) -> str | None:
        """How a file is compressed: by its content where that is not what its name says."""
        return self._codecs[path] if path in self._codecs else _lines.compression(path)

    def _codec_option(self, path: str) -> str | None:
        """DuckDB's ``compression`` for a file whose name tells the wrong codec, else None."""
        return (self._codecs[path] or "uncompressed") if path in self._codecs else None

    def _as_named(self, path: str) -> tuple[str, _lines.Opener]:
        """(a name, an opener) by which the line helpers (which tell a codec by the name)
        read ``path`` with its content's codec."""
        if path not in self._codecs:
            return path, self._open
        codec = self._codecs[path]
        suffix = next((s for s, c in _lines.COMPRESSIONS.items() if c == codec), ".raw")
        return path + suffix, lambda _: self._open(path)

    def _info(self, location: str) -> FileInfo | None:
        found = self._infos.get(location)
        if found is None:
            try:
                found = next((i for i in self.fs.list(location) if i.path == location), None)
            except AoetlError:
                return None
        return found

    # -- reading ---------------------------------------------------------------------------
    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        """The resource as a DuckDB SELECT that quarantines bad rows as it reads.

        With ``where`` on an object column (``_object_modified``, ``_object_key``), only the
        files past it are read; the rows are filtered as well.
        """
        state = _state(resource)
        if "_object_modified" in state.objects or (
            where is not None and where.column in state.objects
        ):
            infos = [i for i in map(self._info, resource.locations) if i is not None]
            if "_object_modified" in state.objects:
                infos = self._settled(resource.name, infos)
            kept = _objects.past_mark(self._con, infos, where) if where is not None else infos
            if not kept:
                return self._empty(resource)
            resource = _with(resource, locations=tuple(i.path for i in kept))
        relation = self._relation(resource)
        return where.apply(relation) if where is not None else relation

    def _settled(self, table: str, infos: list[FileInfo]) -> list[FileInfo]:
        """The files modified long enough before the listing; a note counts the others."""
        ready, waiting = _objects.settled(infos, self._listed_at)
        if waiting:
            seconds = int(_objects.SETTLE.total_seconds())
            self.notes.append(
                f"{table}: {plural(len(waiting), 'file')} modified less than {seconds} s before "
                f"the listing wait for the next run (an _object_modified cursor reads only "
                f"files that have settled, so none written in the same second is skipped)"
            )
        return ready

    def _empty(self, resource: Resource) -> Relation:
        """No rows, with the resource's columns (nothing is past the mark)."""
        if resource.columns:
            picks = ", ".join(f"CAST(NULL AS {t}) AS {quote_ident(c)}" for c, t in resource.columns)
            return Relation(f"SELECT {picks} LIMIT 0", prelude=self._prelude)
        first = _with(resource, locations=resource.locations[:1])
        return self._relation(first).wrap(f"SELECT * FROM ({self._relation(first).sql}) LIMIT 0")

    def _relation(self, resource: Resource) -> Relation:
        files = sql_list(resource.locations)
        state = _state(resource)
        options = dict(state.args)
        if state.objects:
            options["filename"] = quote_literal(_objects.FILE_COLUMN)
        read = {p: i for p in resource.locations if (i := self._info(self._copies.get(p, p)))}

        def done(sql: str, **extra: object) -> Relation:
            sql = _objects.with_objects(sql, state.objects, read)
            return Relation(sql, prelude=self._prelude, **extra)  # type: ignore[arg-type]

        if resource.format == "csv":
            if "union_by_name" in options:
                return done(f"SELECT * FROM read_csv({files}, {_args(options)})")
            sink = RejectSink(resource.name, opener=self._open)
            options.update(
                columns=_struct(state.file_columns(resource.columns)),
                # Everything is pinned at discovery: sniffing again at read time could only
                # fail on a damaged record (which must be quarantined, not stop the load).
                auto_detect="false",
                store_rejects="true",
                rejects_table=quote_literal(sink.errors_table),
                rejects_scan=quote_literal(sink.scans_table),
            )
            return done(f"SELECT * FROM read_csv({files}, {_args(options)})", rejects=[sink])
        if resource.format == "parquet":
            return done(f"SELECT * FROM read_parquet({files}, {_args(options)})")
        if resource.format == "json":
            sql = f"SELECT * FROM read_json({files}, {_args(options)})"
            path = state.record_path
            if path is None:
                return done(sql)
            keep = (*state.partitions, *((_objects.FILE_COLUMN,) if state.objects else ()))
            return done(_json.records_sql(sql, path, keep))
        checked = [
            _json.check_ndjson(
                self._con,
                resource.name,
                location,
                self.spec.max_line_size,
                functools.partial(self._copy_folder, location),
                self._as_named(location)[1],
                named=self._as_named(location)[0],
                compression=self._codec_option(location),
                head=functools.partial(self._head, location, 3),
            )
            for location in resource.locations
        ]
        # NDJSON is read line by line: every line loads as a row or is quarantined alone.
        bad = [row for c in checked for row in c.bad]
        for location, c in zip(resource.locations, checked, strict=True):
            if c.read_from != location:
                self._copies[c.read_from] = location
                if location in read:
                    read[c.read_from] = read[location]
        options.pop("ignore_errors", None)
        copies = sql_list(c.read_from for c in checked)
        return done(f"SELECT * FROM read_json({copies}, {_args(options)})", extra_bad_rows=bad)

    def recover(self, resource: Resource, error: AoetlError) -> Relation | None:
        """A relation without the lines that made ``error``, or None if that cannot help.

        A CSV line longer than ``max_line_size`` stops DuckDB's reader. Such lines are found,
        quarantined with their true line numbers and bytes, and the rest is read from copies
        in which they are blank.
        """
        if resource.format != "csv" or "maximum line size" not in _causes(error):
            return None
        limit = self.spec.max_line_size
        copies: dict[str, str] = {}
        bad: list[BadRow] = []
        for location in resource.locations:
            named, opener = self._as_named(location)
            long = _lines.long_lines(named, limit, opener)
            if not long:
                continue
            folder = self._copy_folder(location)
            copy, raw = _lines.repaired_copy(named, long, folder, opener)
            copies[location] = str(copy)
            self._copies[str(copy)] = location
            bad.extend(
                BadRow(
                    resource.name,
                    location,
                    n,
                    f"line of {size:,} bytes is longer than max_line_size ({limit:,}); raise "
                    f"source.max_line_size to load it",
                    raw.get(n),
                )
                for n, size in sorted(long.items())
            )
        if not copies:
            return None
        repaired = _with(resource, locations=tuple(copies.get(x, x) for x in resource.locations))
        relation = self._relation(repaired)
        relation.extra_bad_rows.extend(bad)
        relation.file_names.update({copy: original for original, copy in copies.items()})
        return relation


def _state(resource: Resource) -> FileRead:
    state = resource.state
    assert isinstance(state, FileRead), f"{resource.name} was not discovered by a FileSource"
    return state


def _struct(columns: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    """Columns as read_csv's ``columns`` struct literal."""
    return "{" + ", ".join(f"{quote_literal(n)}: {quote_literal(t)}" for n, t in columns) + "}"


def _causes(error: BaseException) -> str:
    """The text of an error and of every error that caused it, lower-cased."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts.append(str(current).lower())
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def _with(resource: Resource, **changes: object) -> Resource:

    return dataclasses.replace(resource, **changes)  # type: ignore[arg-type]


def _args(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())
