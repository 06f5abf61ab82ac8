"""The file source: a path, glob or directory of CSV, JSON, NDJSON or Parquet (optionally .gz/.zst).

Discovery groups files into resources (one table each) and pins how each is read. Reading is
DuckDB SQL (``read_csv``/``read_json``/``read_parquet``), so a DuckDB destination can run the
whole load as one statement; other destinations stream the same SQL as Arrow batches.

Every file access goes through a :class:`~.fs.FileSystem`: local files by default, S3
objects with :class:`~agent_orchestrated_etl.connectors.s3.fs.S3FS`. DuckDB reads the paths
itself (``s3://`` through httpfs, after the file system's prelude).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import shutil
from collections import defaultdict
from pathlib import Path, PurePosixPath

import duckdb

from ..._text import plural
from ...data import lines as _lines
from ...data.duck import (
    connect,
    quote_literal,
    sql_list,
)
from ...errors import AoetlError, SourceNotFoundError, UserError, classify
from ...spec import OBJECT_COLUMNS, FileSourceSpec
from ..base import Decision, Location, Resource, shape_fingerprint
from . import _content, _estimate, _json, _names, _objects, _sniff, stored_compression
from ._read import FileRead, Reader, _struct, _with
from .fs import GLOB_CHARS, CachedHeads, FileInfo, FileSystem, LocalFS, shown

_UNREADABLE_IN_URLS = frozenset("?#%*[]{}")


class FileSource(Reader):
    """Reads files: :meth:`discover` the resources, then read each as a :meth:`relation`.

    ``where`` is the resolved source (the registry passes it; without it, ``spec.uri`` is
    resolved here); ``home`` holds DuckDB's offline extensions; ``fs`` is where the files
    live (local files by default).
    """

    def __init__(
        self,
        spec: FileSourceSpec,
        where: Location | None = None,
        home: Path | None = None,
        fs: FileSystem | None = None,
    ) -> None:
        if where is None:
            from ..registry import locate

            where = locate(spec.uri, spec.base_dir)
        self.spec = spec
        self.path = where.path
        self.fs = CachedHeads(fs or LocalFS())
        self.notes: list[str] = []
        self.endpoint: str | None = self.fs.endpoint
        self._prelude = self.fs.prelude()
        self._con = connect(home=home)
        try:
            for statement in self._prelude:  # may hold credentials: run, never logged
                self._con.execute(statement)
        except duckdb.Error as exc:
            self._con.close()
            raise classify(exc, f"preparing DuckDB to read {shown(self.path)}") from None
        self._scratch: Path | None = None
        self._infos: dict[str, FileInfo] = {}
        self._listed_at: dt.datetime | None = None
        self._listing: list[FileInfo] | None = None
        self._copies: dict[str, str] = {}  # a repaired copy -> the file it was made from
        self._codecs: dict[str, str | None] = {}
        self._read_as: dict[str, Decision] = {}  # files read by content, not by name

    def fingerprint(self, resource: Resource) -> str:
        """Each file's path and version (size and mtime, or an object's ETag), with how the
        files are read."""
        h = hashlib.sha256(shape_fingerprint(resource).encode())
        for location in resource.locations:
            info = self._info(location)
            h.update(f"{location}\0{info.version if info else '?'}\0".encode())
        return h.hexdigest()[:16]

    def close(self) -> None:
        """Close the DuckDB connection this source inspects files with, and remove the
        repaired copies of files it made. A second call does nothing.

        The runner closes the source after the run's last task: the relations it handed out
        run on the destination's engine, not on this connection.
        """
        self._con.close()  # DuckDB's close is itself a no-op the second time
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # -- discovery -------------------------------------------------------------------------
    def files(self) -> list[FileInfo]:
        """The files the source names, sorted, as the last :meth:`discover` listed them (a
        listing of its own before any); hidden files and folders are skipped."""
        if self._listing is None:
            self._listing = self._list()
        return self._listing

    def _list(self) -> list[FileInfo]:
        try:
            found = self.fs.list(self.path)
        except SourceNotFoundError as exc:
            # The source as written (a reference stays a reference), not as resolved.
            text = str(exc).replace(shown(self.path), shown(self.spec.uri))
            raise SourceNotFoundError(text) from None
        except OSError as exc:  # a name too long, a folder that cannot be read…
            raise SourceNotFoundError(
                f"cannot read source {shown(self.spec.uri)}: {exc.strerror or exc}; give a "
                f"file, a directory or a glob"
            ) from None
        self._listed_at = self.fs.listed_at
        if self.fs.scheme == "s3":
            found = [f for f in found if self._readable_key(f.path)]
        self._infos.update((f.path, f) for f in found)
        return found

    def _readable_key(self, path: str) -> bool:
        """Whether DuckDB's S3 reader can name the object: it takes ? and # in an s3:// URL
        for a query and a fragment, % for an escape and * [ ] { } for a glob, so such a key
        would stop the whole prefix. It is left out, with a note."""
        bad = sorted(set(path.removeprefix("s3://").split("/", 1)[-1]) & _UNREADABLE_IN_URLS)
        if bad:
            self.notes.append(
                f"skipped {path}: its key holds {' '.join(bad)}, which DuckDB's S3 reader takes "
                "for a query, a fragment, an escape or a glob; rename the object to load it"
            )
        return not bad

    def discover(self) -> list[Resource]:
        """Group the files into resources and pin how each is read."""
        self.fs.forget()  # a new listing: files may have changed since the last
        files = self._listing = self._list()
        self.fs.prefetch([f.path for f in files if f.size])
        single = len(files) == 1 and not (GLOB_CHARS & set(self.path))
        typed: list[tuple[str, str]] = []
        empty = 0
        for info in files:
            path = info.path
            stored = self.fs.head(path, 4096) if info.size else b""
            codec = stored_compression(stored)
            if info.size and codec != _lines.compression(path):
                self._codecs[path] = codec  # its content's codec, not the name's
            head = self._head(path, 4096) if info.size else b""
            if not head.strip() and (info.size == 0 or self._blank(path)):
                self.notes.append(f"skipped {path}: the file is empty, so there is nothing to load")
                empty += 1
                continue
            read = _content.read_format(path, stored, head) if self.spec.format == "auto" else None
            if read is not None and read.fmt is None:
                if single:
                    raise _content.mismatch_error(path, read)
                self.notes.append(f"skipped {path}: {read.note}")
                continue
            if read is not None:
                self.notes.append(f"{path}: {read.note}")
                self._read_as[path] = Decision(
                    "format", read.fmt or "", f"{PurePosixPath(path).name} is {read.note}"
                )
            fmt = (read.fmt if read else None) or _sniff.detect_format(
                path, functools.partial(self.fs.head, path, 4096), self.spec.format
            )
            if fmt is None:
                if single:
                    raise _sniff.unknown_format(path, head)
                self.notes.append(
                    f"skipped {path}: not a data file (give --format to read it as one)"
                )
                continue
            typed.append((path, fmt))
        if self.spec.table and len({fmt for _, fmt in typed}) > 1:
            raise UserError(
                f"--table {self.spec.table} was given, but the files mix formats "
                f"({', '.join(sorted({fmt for _, fmt in typed}))}); load each format separately"
            )
        names = {} if self.spec.table else _names.assign(typed)
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        reasons: dict[str, Decision] = {}
        for path, fmt in typed:
            name = self.spec.table or names[path].table
            groups[(name, fmt)].append(path)
            reasons[name] = (
                Decision("table", name, "named by source.table (--table)")
                if self.spec.table
                else Decision("table", name, names[path].reason)
            )
        resources: list[Resource] = []
        for (name, fmt), paths in sorted(groups.items()):
            found = self._resources(name, fmt, paths)
            found = [
                _with(r, decisions=(*r.decisions, *self._read_as_of(r.locations))) for r in found
            ]
            for resource in found:
                # A table split off for its header has its own table decision; the group's
                # holds for the rest.
                if resource.name != name:
                    resources.append(resource)
                    continue
                table = reasons[name]
                if len(found) > 1:
                    split = len(paths) - len(resource.locations)
                    table = Decision(
                        "table",
                        name,
                        f"{table.reason}; {plural(split, 'file')} with another header "
                        f"{'loads' if split == 1 else 'load'} into a table of its own",
                    )
                resources.append(_with(resource, decisions=(table, *resource.decisions)))
        if not resources and empty:
            return []  # only empty files: a successful run that loads nothing, and says so
        if not resources:
            raise SourceNotFoundError(f"source {self.spec.uri} has no files of a known format")
        taken = [r.name for r in resources]
        if len(taken) != len(set(taken)):
            raise UserError(
                f"two groups of files map to the same table name ({', '.join(taken)}); "
                f"load them separately with --table"
            )
        return resources

    def _read_as_of(self, paths: tuple[str, ...]) -> tuple[Decision, ...]:
        return tuple(self._read_as[p] for p in paths if p in self._read_as)

    def _blank(self, path: str) -> bool:
        """Whether a file whose head shows nothing is blank (a damaged compressed file is
        not: its content then fits no format, and it is skipped or refused as such)."""
        if self._codec(path) is None:
            return True
        try:
            named, opener = self._as_named(path)
            return not _lines.head_bytes(named, 4096, opener).strip()
        except Exception:  # a damaged stream of any codec (zstd's error has no public base)
            return False

    def _resources(self, name: str, fmt: str, paths: list[str]) -> list[Resource]:
        # One reader call takes one codec: files whose content's codec is not their name's
        # and differs from the first file's are a table of their own.
        by_codec: dict[str | None, list[str]] = defaultdict(list)
        for path in paths:
            by_codec[self._codec_option(path) if fmt != "parquet" else None].append(path)
        found = []
        for i, group in enumerate(by_codec.values()):
            if not i:
                found.extend(self._codec_resources(name, fmt, group))
                continue
            split = _split_name(name, group[0])
            why = Decision("table", split, f"its compression differs from {name}'s files")
            for r in self._codec_resources(split, fmt, group):
                found.append(_with(r, decisions=(why, *r.decisions)))
        return found

    def _codec_resources(self, name: str, fmt: str, paths: list[str]) -> list[Resource]:
        hive, why = _objects.partitioning(self.spec, paths)
        objects = _objects.object_columns(self.spec, name)
        if fmt == "csv":
            found = self._csv_resources(name, paths, hive, objects)
        else:
            found = [self._other_resource(name, fmt, paths, hive, objects)]
        if why is None:
            return found
        return [_with(r, decisions=(*r.decisions, why)) for r in found]

    def _other_resource(
        self, name: str, fmt: str, paths: list[str], hive: bool, objects: tuple[str, ...]
    ) -> Resource:
        size = sum(self._size(p) for p in paths)
        reader = "read_parquet" if fmt == "parquet" else "read_json"
        options: dict[str, str] = {"union_by_name": "true", **_hive_option(paths, hive)}
        decisions = [Decision("reader", reader, plural(len(paths), fmt + " file"))]
        if fmt == "ndjson":
            options["format"] = quote_literal("newline_delimited")
            options["ignore_errors"] = "true"  # for the schema; malformed lines are handled
        if fmt in ("json", "ndjson"):
            options["maximum_object_size"] = str(
                max(self.spec.max_line_size, _json.DUCKDB_OBJECT_SIZE)
            )
            if (codec := self._codec_option(paths[0])) is not None:
                options["compression"] = quote_literal(codec)
        sql = f"SELECT * FROM {reader}({sql_list(paths)}, {_args(options)})"
        try:
            columns = tuple((r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall())
        except duckdb.Error as exc:
            if fmt != "ndjson":
                raise self._read_error(exc, paths[0], fmt) from None
            columns = ()
        partitions = _objects.hive_keys(paths[0]) if hive else ()
        record_path, records = None, sql
        if fmt == "json":
            record_path, why = _json.record_path(self._con, sql, self.spec.record_path)
            if why is not None:
                where = f"under {record_path!r}" if record_path else "the whole document"
                decisions.append(Decision("records", where, why))
            if record_path is not None:
                records = _json.records_sql(sql, record_path, partitions)
                columns = self._describe(records, paths[0], record_path)
        estimate = None
        if fmt == "parquet":
            row = self._con.execute(
                f"SELECT sum(num_rows) FROM parquet_file_metadata({sql_list(paths)})"
            ).fetchone()
            estimate = int(row[0]) if row and row[0] is not None else None
        else:
            estimate = self._json_rows_estimate(fmt, paths, records)
        return Resource(
            name,
            tuple(paths),
            fmt,
            (*columns, *((c, OBJECT_COLUMNS[c]) for c in objects)),
            tuple(decisions),
            size,
            FileRead(tuple(options.items()), record_path, partitions, objects),
            estimate,
        )

    def _size(self, path: str) -> int:
        info = self._info(path)
        return info.size if info is not None else 0

    def _read_error(self, exc: duckdb.Error, path: str, fmt: str) -> AoetlError:
        """A reader's failure at discovery: a store that refuses or does not answer is told
        as such (credentials, retries), bad content as a UserError."""
        if path.startswith("s3://") and isinstance(exc, duckdb.HTTPException | duckdb.IOException):
            return _store_error(exc, path)
        return UserError(f"cannot read {path} as {fmt}: {_hint(exc)}")

    def _describe(self, sql: str, path: str, record_path: str) -> tuple[tuple[str, str], ...]:
        try:
            return tuple((r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall())
        except duckdb.Error as exc:
            raise UserError(
                f"{path}: cannot read the records under '{record_path}' ({_hint(exc)}); "
                f"set source.record_path to the key that holds an array of objects"
            ) from None

    def _csv_resources(
        self, name: str, paths: list[str], hive: bool, objects: tuple[str, ...]
    ) -> list[Resource]:
        # Files in a group must share a header to share one pinned dialect.
        by_header: dict[bytes, list[str]] = defaultdict(list)
        for path in paths:
            by_header[self._head(path, 8192).split(b"\n", 1)[0].strip()].append(path)
        if self.spec.table and len(by_header) > 1:
            return [self._csv_union(name, paths, hive, objects)]
        out = []
        # The first file's header keeps the name; another header is named after its first
        # file, so names hold when files are added (a count or a position would shift).
        for i, group in enumerate(by_header.values()):
            dialect = self._sniff(group[0])
            decisions = list(dialect.decisions)
            res_name = name
            if i:
                res_name = _split_name(name, group[0])
                decisions.append(
                    Decision("table", res_name, f"its header differs from {name}'s files")
                )
            options = {**dialect.options, **_hive_option(group, hive)}
            added = self._partition_columns(group[0], options, dialect.columns) if hive else ()
            out.append(
                Resource(
                    res_name,
                    tuple(group),
                    "csv",
                    (*dialect.columns, *added, *((c, OBJECT_COLUMNS[c]) for c in objects)),
                    tuple(decisions),
                    sum(self._size(p) for p in group),
                    FileRead(tuple(options.items()), None, tuple(n for n, _ in added), objects),
                    self._csv_rows_estimate(group),
                )
            )
        return out

    def _partition_columns(
        self, path: str, options: dict[str, str], columns: list[tuple[str, str]]
    ) -> tuple[tuple[str, str], ...]:
        """The columns (and types) DuckDB reads from a CSV file's key=value folders."""
        pinned = {**options, "columns": _struct(columns), "auto_detect": "false"}
        sql = f"SELECT * FROM read_csv({quote_literal(path)}, {_args(pinned)})"
        described = self._con.execute(f"DESCRIBE {sql}").fetchall()
        return tuple((r[0], r[1]) for r in described[len(columns) :])

    def _sniff(self, path: str) -> _sniff.CsvDialect:
        """The file's dialect; a line too long to sniff is left out of the sniff (and later
        quarantined by :meth:`recover`)."""
        args = (self.spec.csv, self.spec.columns, self.spec.max_line_size)
        codec = self._codec_option(path)
        try:
            return _sniff.sniff_csv(self._con, path, self._head(path), *args, codec)
        except _sniff.LineTooLongError:
            named, opener = self._as_named(path)
            long = _lines.long_lines(named, self.spec.max_line_size, opener)
            copy, _ = _lines.repaired_copy(named, long, self._copy_folder(path), opener)
            try:
                return _sniff.sniff_csv(self._con, str(copy), _lines.head_bytes(copy), *args)
            finally:
                copy.unlink(missing_ok=True)
        except UserError as exc:
            raise self._sniff_error(exc, path) from None

    def _sniff_error(self, exc: UserError, path: str) -> AoetlError:
        """An S3 object DuckDB could not fetch is the store's error, not the file's."""
        cause = exc.__context__
        if path.startswith("s3://") and isinstance(
            cause, duckdb.HTTPException | duckdb.IOException
        ):
            return _store_error(cause, path)
        return exc

    def _csv_union(
        self, name: str, paths: list[str], hive: bool, objects: tuple[str, ...]
    ) -> Resource:
        options = {"union_by_name": "true", **_hive_option(paths, hive)}
        self.notes.append(
            f"{name}: files have different headers; read with union_by_name, where DuckDB cannot "
            f"quarantine bad rows, so a malformed row fails the run"
        )
        return Resource(
            name,
            tuple(paths),
            "csv",
            tuple((c, OBJECT_COLUMNS[c]) for c in objects),
            (Decision("columns", "union by name", "the files have different headers"),),
            sum(self._size(p) for p in paths),
            FileRead(tuple(options.items()), None, (), objects),
        )

    def _json_rows_estimate(self, fmt: str, paths: list[str], records: str) -> int | None:
        """Rows of JSON or NDJSON files, from each one's first bytes and size (None for
        compressed files). Small JSON files whose records are not one array (records under
        a key) are counted by the reader: the first bytes hold them whole."""
        heads = [(self._head(p), self._size(p)) for p in paths if self._codec(p) is None]
        if len(heads) < len(paths):
            return None
        count = _estimate.ndjson_rows if fmt == "ndjson" else _estimate.json_array_rows
        found = [count(head, size) for head, size in heads]
        if None not in found:
            return sum(n or 0 for n in found)
        if fmt != "json" or any(len(head) < size for head, size in heads):
            return None
        try:
            row = self._con.execute(f"SELECT count(*) FROM ({records})").fetchone()
        except duckdb.Error:  # the load reports what the reader cannot read
            return None
        return int(row[0]) if row else None

    def _csv_rows_estimate(self, paths: list[str]) -> int | None:
        """Rows, from the size and the line length of a sample (None for compressed files)."""
        total = 0
        for path in paths:
            if self._codec(path) is not None:
                return None
            head = self._head(path)
            lines = head.count(b"\n")
            if not lines:
                return None
            total += int(self._size(path) / (len(head) / lines))
        return max(total - len(paths), 0)  # minus the headers


def _split_name(name: str, path: str) -> str:
    """The table of files split off ``name`` for their header, after the first of them:
    its stem ('customers_2'), or with the stem shared, its folder ('app_2024_01_03')."""
    own = _names.safe(_names.stem(path))
    if own != name:
        return own
    return f"{name}_{_names.safe(PurePosixPath(path).parent.name)}"


def _hive_option(paths: list[str], hive: bool) -> dict[str, str]:
    """The pinned hive_partitioning option: set when key=value folders are in the paths
    (DuckDB would otherwise decide by itself), absent when there are none."""
    if hive:
        return {"hive_partitioning": "true"}
    if any(_objects.hive_keys(p) for p in paths):
        return {"hive_partitioning": "false"}
    return {}


def _store_error(exc: BaseException, path: str) -> AoetlError:
    """DuckDB's failure to fetch an object, as boto's would be: a refusal names the
    settings to check; a store that does not answer is transient (retried)."""
    error = classify(exc, f"reading {shown(path)}")
    if getattr(exc, "status_code", 0) in (401, 403):
        return UserError(
            f"{error}: check s3.access_key_id / s3.secret_access_key (or AWS_ACCESS_KEY_ID / "
            f"AWS_SECRET_ACCESS_KEY) and the region"
        )
    return error


def _hint(exc: BaseException) -> str:
    """DuckDB's first line, with the option to change when the reader hit a size limit."""
    text = str(exc)
    if "maximum_object_size" in text:
        return "a JSON object is larger than max_line_size; raise source.max_line_size"
    return _sniff._first_line(exc)


def _args(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())
