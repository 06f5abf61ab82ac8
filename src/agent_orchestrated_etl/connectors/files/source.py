"""The file source: a path, glob or directory of CSV, JSON, NDJSON or Parquet (optionally .gz/.zst).

Discovery groups files into resources (one table each) and pins how each is read. Reading is
DuckDB SQL (``read_csv``/``read_json``/``read_parquet``), so a DuckDB destination can run the
whole load as one statement; other destinations stream the same SQL as Arrow batches.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..._text import plural
from ...data import lines as _lines
from ...data.duck import BadRow, RejectSink, Relation, connect, quote_literal, sql_list
from ...errors import AoetlError, SourceNotFoundError, UserError
from ...spec import FileSourceSpec
from ..base import Decision, Location, Resource, RowFilter, shape_fingerprint
from . import _json, _names, _sniff

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class FileRead:
    """How DuckDB reads a resource's files, pinned at discovery.

    Attributes:
        args: read_csv / read_json / read_parquet arguments, each as a SQL literal.
        record_path: for a JSON document, the key whose array holds the records.
    """

    args: tuple[tuple[str, str], ...]
    record_path: str | None = None

    def options(self) -> tuple[tuple[str, str], ...]:
        if self.record_path is None:
            return self.args
        return (*self.args, ("record_path", quote_literal(self.record_path)))

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


class FileSource:
    """Reads local files: :meth:`discover` the resources, then read each as a :meth:`relation`.

    ``where`` is the resolved source (the registry passes it; without it, ``spec.uri`` is
    resolved here); ``home`` holds DuckDB's offline extensions.
    """

    def __init__(
        self, spec: FileSourceSpec, where: Location | None = None, home: Path | None = None
    ) -> None:
        if where is None:
            from ..registry import locate

            where = locate(spec.uri, spec.base_dir)
        self.spec = spec
        self.path = where.path
        self.notes: list[str] = []
        self.endpoint: str | None = None
        self._con = connect(home=home)
        self._scratch: Path | None = None

    def fingerprint(self, resource: Resource) -> str:
        """Each file's name, size and modification time, with how the files are read."""
        h = hashlib.sha256(shape_fingerprint(resource).encode())
        for location in resource.locations:
            try:
                stat = os.stat(location)
                h.update(f"{location}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
            except OSError:
                h.update(f"{location}\0?\0".encode())
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

    def scratch(self) -> Path:
        """A private folder for repaired copies, removed by :meth:`close`."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="aoetl-files-"))
        return self._scratch

    # -- discovery -------------------------------------------------------------------------
    def files(self) -> list[Path]:
        """The files the source names, sorted; hidden files and '_'-prefixed files are skipped."""
        raw = os.path.expanduser(self.path)
        try:
            return self._files(raw)
        except OSError as exc:  # a name too long, a folder that cannot be read…
            raise SourceNotFoundError(
                f"cannot read source {_shown(self.spec.uri)}: {exc.strerror or exc}; give a "
                f"file, a directory or a glob"
            ) from None

    def _files(self, raw: str) -> list[Path]:
        if _GLOB_CHARS & set(raw):
            found = [Path(p) for p in glob.glob(raw, recursive=True)]
        elif Path(raw).is_dir():
            found = [p for p in Path(raw).rglob("*")]
        elif Path(raw).is_file():
            return [Path(raw)]
        else:
            raise SourceNotFoundError(
                f"source {_shown(self.spec.uri)} does not exist; give a file, a directory or a glob"
            )
        files = sorted(
            p for p in found if p.is_file() and not any(part[:1] in "._" for part in p.parts[-1:])
        )
        if not files:
            raise SourceNotFoundError(f"source {_shown(self.spec.uri)} matches no files")
        return files

    def discover(self) -> list[Resource]:
        """Group the files into resources and pin how each is read."""
        files = self.files()
        single = len(files) == 1 and not (_GLOB_CHARS & set(self.path))
        typed: list[tuple[Path, str]] = []
        empty = 0
        for path in files:
            if path.stat().st_size == 0 or not _lines.head_bytes(path, 4096).strip():
                self.notes.append(f"skipped {path}: the file is empty, so there is nothing to load")
                empty += 1
                continue
            fmt = _sniff.detect_format(path, self.spec.format)
            if fmt is None:
                if single:
                    raise _sniff.unknown_format(path)
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
        groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
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
            for resource in self._resources(name, fmt, paths):
                decisions = (reasons[name], *resource.decisions)
                resources.append(_with(resource, decisions=decisions))
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

    def _resources(self, name: str, fmt: str, paths: list[Path]) -> list[Resource]:
        if fmt == "csv":
            return self._csv_resources(name, paths)
        size = sum(p.stat().st_size for p in paths)
        locations = tuple(str(p) for p in paths)
        reader = "read_parquet" if fmt == "parquet" else "read_json"
        options: dict[str, str] = {"union_by_name": "true"}
        decisions = [Decision("reader", reader, plural(len(paths), fmt + " file"))]
        if fmt == "ndjson":
            options["format"] = quote_literal("newline_delimited")
            options["ignore_errors"] = "true"  # for the schema; malformed lines are handled
        if fmt in ("json", "ndjson"):
            options["maximum_object_size"] = str(
                max(self.spec.max_line_size, _json.DUCKDB_OBJECT_SIZE)
            )
        sql = f"SELECT * FROM {reader}({sql_list(locations)}, {_args(options)})"
        try:
            columns = tuple((r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall())
        except duckdb.Error as exc:
            if fmt != "ndjson":
                raise UserError(f"cannot read {paths[0]} as {fmt}: {_hint(exc)}") from None
            columns = ()
        if fmt == "json":
            record_path, why = _json.record_path(self._con, sql, self.spec.record_path)
            if why is not None:
                where = f"under {record_path!r}" if record_path else "the whole document"
                decisions.append(Decision("records", where, why))
            if record_path is not None:
                columns = self._describe(_json.records_sql(sql, record_path), paths[0], record_path)
        else:
            record_path = None
        estimate = None
        if fmt == "parquet":
            row = self._con.execute(
                f"SELECT sum(num_rows) FROM parquet_file_metadata({sql_list(locations)})"
            ).fetchone()
            estimate = int(row[0]) if row and row[0] is not None else None
        return [
            Resource(
                name,
                locations,
                fmt,
                columns,
                tuple(decisions),
                size,
                FileRead(tuple(options.items()), record_path),
                estimate,
            )
        ]

    def _describe(self, sql: str, path: Path, record_path: str) -> tuple[tuple[str, str], ...]:
        try:
            return tuple((r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall())
        except duckdb.Error as exc:
            raise UserError(
                f"{path}: cannot read the records under '{record_path}' ({_hint(exc)}); "
                f"set source.record_path to the key that holds an array of objects"
            ) from None

    def _csv_resources(self, name: str, paths: list[Path]) -> list[Resource]:
        # Files in a group must share a header to share one pinned dialect.
        by_header: dict[bytes, list[Path]] = defaultdict(list)
        for path in paths:
            by_header[_lines.head_bytes(path, 8192).split(b"\n", 1)[0].strip()].append(path)
        if self.spec.table and len(by_header) > 1:
            return [self._csv_union(name, paths)]
        out = []
        groups = sorted(by_header.values(), key=len, reverse=True)
        for i, group in enumerate(groups):
            dialect = self._sniff(group[0])
            decisions = list(dialect.decisions)
            res_name = name
            if i:
                res_name = (
                    _names.safe(_names.stem(group[0])) if len(group) == 1 else f"{name}_{i + 1}"
                )
                decisions.append(
                    Decision("table", res_name, f"its header differs from {name}'s files")
                )
            out.append(
                Resource(
                    res_name,
                    tuple(str(p) for p in group),
                    "csv",
                    tuple(dialect.columns),
                    tuple(decisions),
                    sum(p.stat().st_size for p in group),
                    FileRead(tuple(dialect.options.items())),
                    _csv_rows_estimate(group),
                )
            )
        return out

    def _sniff(self, path: Path) -> _sniff.CsvDialect:
        """The file's dialect; a line too long to sniff is left out of the sniff (and later
        quarantined by :meth:`recover`)."""
        args = (self.spec.csv, self.spec.columns, self.spec.max_line_size)
        try:
            return _sniff.sniff_csv(self._con, path, *args)
        except _sniff.LineTooLongError:
            long = _lines.long_lines(path, self.spec.max_line_size)
            copy, _ = _lines.repaired_copy(path, long, self.scratch())
            try:
                return _sniff.sniff_csv(self._con, copy, *args)
            finally:
                copy.unlink(missing_ok=True)

    def _csv_union(self, name: str, paths: list[Path]) -> Resource:
        options = {"union_by_name": "true"}
        self.notes.append(
            f"{name}: files have different headers; read with union_by_name, where DuckDB cannot "
            f"quarantine bad rows, so a malformed row fails the run"
        )
        return Resource(
            name,
            tuple(str(p) for p in paths),
            "csv",
            (),
            (Decision("columns", "union by name", "the files have different headers"),),
            sum(p.stat().st_size for p in paths),
            FileRead(tuple(options.items())),
        )

    # -- reading ---------------------------------------------------------------------------
    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        """The resource as a DuckDB SELECT that quarantines bad rows as it reads."""
        relation = self._relation(resource)
        return where.apply(relation) if where is not None else relation

    def _relation(self, resource: Resource) -> Relation:
        files = sql_list(resource.locations)
        state = resource.state
        assert isinstance(state, FileRead), f"{resource.name} was not discovered by a FileSource"
        options = dict(state.args)
        if resource.format == "csv":
            if "union_by_name" in options:
                return Relation(f"SELECT * FROM read_csv({files}, {_args(options)})")
            sink = RejectSink(resource.name)
            columns = (
                "{"
                + ", ".join(f"{quote_literal(n)}: {quote_literal(t)}" for n, t in resource.columns)
                + "}"
            )
            options.update(
                columns=columns,
                # Everything is pinned at discovery: sniffing again at read time could only
                # fail on a damaged record (which must be quarantined, not stop the load).
                auto_detect="false",
                store_rejects="true",
                rejects_table=quote_literal(sink.errors_table),
                rejects_scan=quote_literal(sink.scans_table),
            )
            return Relation(f"SELECT * FROM read_csv({files}, {_args(options)})", rejects=[sink])
        if resource.format == "parquet":
            return Relation(f"SELECT * FROM read_parquet({files}, {_args(options)})")
        if resource.format == "json":
            sql = f"SELECT * FROM read_json({files}, {_args(options)})"
            path = state.record_path
            return Relation(_json.records_sql(sql, path) if path is not None else sql)
        return self._ndjson_relation(resource, options)

    def _ndjson_relation(self, resource: Resource, options: dict[str, str]) -> Relation:
        """NDJSON read line by line: every line loads as a row or is quarantined alone."""
        checked = [
            _json.check_ndjson(
                self._con, resource.name, location, self.spec.max_line_size, self.scratch
            )
            for location in resource.locations
        ]
        bad = [row for c in checked for row in c.bad]
        options.pop("ignore_errors", None)
        files = sql_list(c.read_from for c in checked)
        return Relation(f"SELECT * FROM read_json({files}, {_args(options)})", extra_bad_rows=bad)

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
            long = _lines.long_lines(Path(location), limit)
            if not long:
                continue
            copy, raw = _lines.repaired_copy(Path(location), long, self.scratch())
            copies[location] = str(copy)
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


def _shown(uri: str, limit: int = 200) -> str:
    """A source as an error shows it: a path of 100 KB is cut, not printed whole."""
    return uri if len(uri) <= limit else f"{uri[: limit - 20]}…({len(uri):,} characters)"


def _causes(error: BaseException) -> str:
    """The text of an error and of every error that caused it, lower-cased."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts.append(str(current).lower())
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def _with(resource: Resource, **changes: object) -> Resource:
    import dataclasses

    return dataclasses.replace(resource, **changes)  # type: ignore[arg-type]


def _csv_rows_estimate(paths: list[Path]) -> int | None:
    """Rows, from the size and the line length of a sample (None for compressed files)."""
    total = 0
    for path in paths:
        if _sniff.split_suffixes(path)[1] is not None:
            return None
        head = _lines.head_bytes(path)
        lines = head.count(b"\n")
        if not lines:
            return None
        total += int(path.stat().st_size / (len(head) / lines))
    return max(total - len(paths), 0)  # minus the headers


def _hint(exc: BaseException) -> str:
    """DuckDB's first line, with the option to change when the reader hit a size limit."""
    text = str(exc)
    if "maximum_object_size" in text:
        return "a JSON object is larger than max_line_size; raise source.max_line_size"
    return _sniff._first_line(exc)


def _args(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())
