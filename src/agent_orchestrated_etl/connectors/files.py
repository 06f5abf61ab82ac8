"""The file source: a path, glob or directory of CSV, JSON, NDJSON or Parquet (optionally .gz/.zst).

Discovery groups files into resources (one table each) and pins how each is read. Reading is
DuckDB SQL (``read_csv``/``read_json``/``read_parquet``), so a DuckDB destination can run the
whole load as one statement; other destinations stream the same SQL as Arrow batches.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from pathlib import Path

import duckdb

from ..errors import SourceNotFoundError, UserError
from ..secrets import resolve
from ..spec import SourceSpec, parse_uri
from . import _sniff
from ._duck import BadRow, RejectSink, Relation, connect, quote_ident, quote_literal, sql_list
from .base import Resource, RowFilter

_GLOB_CHARS = set("*?[")


class FileSource:
    """Reads local files: :meth:`discover` the resources, then read each as a :meth:`relation`."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.path = parse_uri(resolve(spec.uri)).path
        self.notes: list[str] = []
        self._con = connect()

    # -- discovery -------------------------------------------------------------------------
    def files(self) -> list[Path]:
        """The files the source names, sorted; hidden files and '_'-prefixed files are skipped."""
        raw = os.path.expanduser(self.path)
        if _GLOB_CHARS & set(raw):
            found = [Path(p) for p in glob.glob(raw, recursive=True)]
        elif Path(raw).is_dir():
            found = [p for p in Path(raw).rglob("*")]
        elif Path(raw).is_file():
            return [Path(raw)]
        else:
            raise SourceNotFoundError(
                f"source {self.spec.uri} does not exist; give a file, a directory or a glob"
            )
        files = sorted(
            p for p in found if p.is_file() and not any(part[:1] in "._" for part in p.parts[-1:])
        )
        if not files:
            raise SourceNotFoundError(f"source {self.spec.uri} matches no files")
        return files

    def discover(self) -> list[Resource]:
        """Group the files into resources and pin how each is read."""
        files = self.files()
        single = len(files) == 1 and not (_GLOB_CHARS & set(self.path))
        groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
        empty = 0
        for path in files:
            if path.stat().st_size == 0 or not _sniff.head_bytes(path, 4096).strip():
                self.notes.append(f"skipped {path}: the file is empty, so there is nothing to load")
                empty += 1
                continue
            fmt = _sniff.detect_format(path, self.spec.format)
            if fmt is None:
                if single:
                    raise _sniff.unknown_format(path)
                self.notes.append(f"skipped {path}: unknown format")
                continue
            name = self.spec.table or _sniff.table_name(
                _stem(path), strip_sequence=not single, folder=path.parent.name
            )
            groups[(name, fmt)].append(path)
        if self.spec.table and len({fmt for _, fmt in groups}) > 1:
            raise UserError(
                f"--table {self.spec.table} was given, but the files mix formats "
                f"({', '.join(sorted(fmt for _, fmt in groups))}); load each format separately"
            )
        resources: list[Resource] = []
        for (name, fmt), paths in sorted(groups.items()):
            resources.extend(self._resources(name, fmt, paths))
        if not resources and empty:
            return []  # only empty files: a successful run that loads nothing, and says so
        if not resources:
            raise SourceNotFoundError(f"source {self.spec.uri} has no files of a known format")
        names = [r.name for r in resources]
        if len(names) != len(set(names)):
            raise UserError(
                f"two groups of files map to the same table name ({', '.join(names)}); "
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
        if fmt == "ndjson":
            options["format"] = quote_literal("newline_delimited")
        sql = f"SELECT * FROM {reader}({sql_list(locations)}, {_args(options)})"
        try:
            columns = tuple((r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall())
        except duckdb.Error as exc:
            if fmt != "ndjson":
                raise UserError(
                    f"cannot read {paths[0]} as {fmt}: {_sniff._first_line(exc)}"
                ) from exc
            columns = ()
        decisions = (f"{len(paths)} {fmt} file(s) read with {reader}",)
        estimate = None
        if fmt == "parquet":
            row = self._con.execute(
                f"SELECT sum(num_rows) FROM parquet_file_metadata({sql_list(locations)})"
            ).fetchone()
            estimate = int(row[0]) if row and row[0] is not None else None
        return [
            Resource(
                name, locations, fmt, columns, decisions, size, tuple(options.items()), estimate
            )
        ]

    def _csv_resources(self, name: str, paths: list[Path]) -> list[Resource]:
        # Files in a group must share a header to share one pinned dialect.
        by_header: dict[bytes, list[Path]] = defaultdict(list)
        for path in paths:
            by_header[_sniff.head_bytes(path, 8192).split(b"\n", 1)[0].strip()].append(path)
        if self.spec.table and len(by_header) > 1:
            return [self._csv_union(name, paths)]
        out = []
        for i, group in enumerate(by_header.values()):
            dialect = _sniff.sniff_csv(self._con, group[0], self.spec.csv, self.spec.columns)
            decisions = list(dialect.decisions)
            res_name = name if i == 0 else f"{name}_{i + 1}"
            if i:
                decisions.append(f"named {res_name}: its header differs from {name}'s files")
            out.append(
                Resource(
                    res_name,
                    tuple(str(p) for p in group),
                    "csv",
                    tuple(dialect.columns),
                    tuple(decisions),
                    sum(p.stat().st_size for p in group),
                    tuple(dialect.options.items()),
                    _csv_rows_estimate(group),
                )
            )
        return out

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
            ("files with different headers, combined by column name",),
            sum(p.stat().st_size for p in paths),
            tuple(options.items()),
        )

    # -- reading ---------------------------------------------------------------------------
    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        """The resource as a DuckDB SELECT that quarantines bad rows as it reads."""
        relation = self._relation(resource)
        return where.apply(relation) if where is not None else relation

    def _relation(self, resource: Resource) -> Relation:
        files = sql_list(resource.locations)
        options = dict(resource.read_options)
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
                store_rejects="true",
                rejects_table=quote_literal(sink.errors_table),
                rejects_scan=quote_literal(sink.scans_table),
            )
            return Relation(f"SELECT * FROM read_csv({files}, {_args(options)})", rejects=[sink])
        if resource.format == "parquet":
            return Relation(f"SELECT * FROM read_parquet({files}, {_args(options)})")
        return self._json_relation(resource, files, options)

    def _json_relation(self, resource: Resource, files: str, options: dict[str, str]) -> Relation:
        if resource.format != "ndjson":
            return Relation(f"SELECT * FROM read_json({files}, {_args(options)})")
        bad = self._malformed_lines(resource)
        if not bad:
            return Relation(f"SELECT * FROM read_json({files}, {_args(options)})")
        # Malformed lines come back as all-NULL rows under ignore_errors; drop exactly those.
        options["ignore_errors"] = "true"
        sql = f"SELECT * FROM read_json({files}, {_args(options)})"
        names = [row[0] for row in self._con.execute(f"DESCRIBE {sql}").fetchall()]
        all_null = " AND ".join(f"{quote_ident(n)} IS NULL" for n in names) or "false"
        return Relation(f"{sql} WHERE NOT ({all_null})", extra_bad_rows=bad)

    def _malformed_lines(self, resource: Resource) -> list[BadRow]:
        bad: list[BadRow] = []
        for location in resource.locations:
            rows = self._con.execute(
                f"""
                SELECT line_no, line FROM (
                    SELECT row_number() OVER () AS line_no, line
                    FROM read_csv({quote_literal(location)}, columns={{'line': 'VARCHAR'}},
                                  delim=E'\\x1e', quote='', escape='', header=false)
                ) WHERE trim(line) <> '' AND NOT json_valid(line)
                """
            ).fetchall()
            bad.extend(
                BadRow(resource.name, location, int(n), "malformed JSON line", raw)
                for n, raw in rows
            )
        return bad


def _csv_rows_estimate(paths: list[Path]) -> int | None:
    """Rows, from the size and the line length of a sample (None for compressed files)."""
    total = 0
    for path in paths:
        if _sniff.split_suffixes(path)[1] is not None:
            return None
        head = _sniff.head_bytes(path)
        lines = head.count(b"\n")
        if not lines:
            return None
        total += int(path.stat().st_size / (len(head) / lines))
    return max(total - len(paths), 0)  # minus the headers


def _stem(path: Path) -> str:
    name = path.name
    for suffix in reversed(path.suffixes):
        name = name.removesuffix(suffix)
    return name or path.stem


def _args(options: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())
