"""Each file's own schema, and how it drifts from its table's: added and missing columns,
and columns whose type differs.

A file's schema comes from the cheapest evidence there is: Parquet footers (one
``parquet_schema`` call for all of a table's files), the records in an NDJSON file's first
bytes (already read to tell its format: a DESCRIBE per file cost ~5 ms, most of the time of
analysing a folder of a few hundred), a JSON document's own DESCRIBE, and for CSV
the header its table was grouped by (files whose header differs from a series' first file are
a table of their own, compared here with the table they split from) and the share of each
file's sampled values that fit the column's type.
"""

from __future__ import annotations

import dataclasses
import json

import duckdb

from ..connectors import Resource
from ..data.duck import sql_list
from ._formats import FileEvidence
from ._profile import FILE_COLUMN, INTEGERS, Sample, read_sql
from .report import FileReport, Issue, TypeConflict

_SPLIT = "its header differs from "
_JSON_DESCRIBE_LIMIT = 256  # files; past it a file's schema comes from the sample alone
_HEAD_RECORDS = 25  # NDJSON records per file its schema is read from


def header_groups(resources: list[Resource]) -> dict[str, Resource]:
    """CSV tables split off a series because their header differs -> the series' table."""
    by_name = {r.name: r for r in resources}
    out = {}
    for resource in resources:
        for decision in resource.decisions:
            if decision.what == "table" and decision.reason.startswith(_SPLIT):
                base = decision.reason[len(_SPLIT) :].split("'s files", 1)[0]
                if base in by_name:
                    out[resource.name] = by_name[base]
    return out


def file_reports(
    con: duckdb.DuckDBPyConnection,
    resource: Resource,
    sample: Sample | None,
    files: list[FileEvidence],
    headers: dict[str, Resource],
) -> list[FileReport]:
    schemas = _schemas(con, resource, files)
    if sample is not None and sample.file_columns:
        # A file's first records may lack an optional field its later ones have: the fields
        # its sampled rows hold count as its own too (typed NULL: no vote, no conflict).
        for path, fields in schemas.items():
            known = {n for n, _ in fields}
            later = sorted(sample.file_columns.get(path, set()) - known)
            fields.extend((n, "NULL") for n in later)
    base = headers.get(resource.name)
    table = list(base.columns if base is not None else resource.columns)
    first = table if base is not None else (schemas.get(files[0].path) if files else None)
    table_types = dict(table)
    if base is None:
        table_types.update(_majority(files, schemas))
    rows = _rows(con, resource, sample, files)
    out = []
    for f in files:
        schema = schemas.get(f.path)
        added: tuple[str, ...] = ()
        missing: tuple[str, ...] = ()
        conflicts: list[TypeConflict] = []
        if schema is not None and first is not None:
            names, first_names = [n for n, _ in schema], [n for n, _ in first]
            added = tuple(n for n in names if n not in first_names)
            missing = tuple(n for n in first_names if n not in names)
            conflicts = [
                TypeConflict(n, t, table_types[n])
                for n, t in schema
                if n in table_types and t != table_types[n] and t != "NULL"
            ]
        if sample is not None and sample.file_fit:
            for column, (values, fits) in sample.file_fit.get(f.path, {}).items():
                if values and fits < values / 2 and column in table_types:
                    conflicts.append(TypeConflict(column, "VARCHAR", table_types[column]))
        out.append(
            FileReport(
                path=f.path,
                format=resource.format,
                size_bytes=f.size,
                format_by_extension=f.by_extension,
                format_by_content=f.by_content,
                compression=f.compression,
                rows=rows.get(f.path),
                partitions=f.partitions,
                added=added,
                missing=missing,
                type_conflicts=tuple(conflicts),
            )
        )
    return out


def _majority(
    files: list[FileEvidence], schemas: dict[str, list[tuple[str, str]]]
) -> dict[str, str]:
    """Each column's type in most of the files that have it (ties: the earlier file's).

    Reading files together widens a column to what fits them all (BIGINT and VARCHAR read
    as VARCHAR); the odd file out is the one that drifted, not all the others.
    """
    votes: dict[str, dict[str, int]] = {}
    for f in files:
        for name, kind in schemas.get(f.path, []):
            if kind == "NULL":  # only nulls in its first records: no vote
                continue
            counts = votes.setdefault(name, {})
            counts[kind] = counts.get(kind, 0) + 1
    return {name: max(counts, key=lambda k: counts[k]) for name, counts in votes.items()}


def issue(resource: str, f: FileReport) -> Issue:
    """The schema_drift issue of a file that drifted."""
    parts = []
    if f.added:
        parts.append("adds " + ", ".join(f.added))
    if f.missing:
        parts.append("lacks " + ", ".join(f.missing))
    parts += [
        f"{c.column} is {c.file_type} here, {c.table_type} in the table's files"
        for c in f.type_conflicts
    ]
    return Issue("schema_drift", "; ".join(parts), resource=resource, file=f.path)


def _schemas(
    con: duckdb.DuckDBPyConnection, resource: Resource, files: list[FileEvidence]
) -> dict[str, list[tuple[str, str]]]:
    paths = [f.path for f in files]
    if resource.format == "csv":
        if "union_by_name" in dict(resource.options()) or (len(files) > 1 and not resource.columns):
            return _described(con, resource, paths)
        return {p: list(resource.columns) for p in paths}
    if len(files) < 2:
        return {p: list(resource.columns) for p in paths}
    if resource.format == "parquet":
        return _parquet(con, paths)
    if "record_path" in dict(resource.options()):
        return {}
    out: dict[str, list[tuple[str, str]]] = {}
    for f in files:
        schema = head_schema(f.text) if f.text is not None else None
        if schema is not None:
            out[f.path] = schema
    rest = [p for p in paths if p not in out][:_JSON_DESCRIBE_LIMIT]
    described = _described(con, resource, rest)
    if out:  # compare like with like: DuckDB's types as the JSON types they come from
        described = {p: [(n, json_family(t)) for n, t in s] for p, s in described.items()}
    return {**out, **described}


# What json.loads makes of each JSON type (exact types: a bool is no int here).
_JSON_TYPES: dict[type, str] = {
    bool: "BOOLEAN",
    int: "BIGINT",
    float: "DOUBLE",
    str: "VARCHAR",
    dict: "STRUCT",
    list: "LIST",
}


def json_family(duckdb_type: str) -> str:
    """The JSON type a DuckDB type was read from: what :func:`head_schema` calls it."""
    if duckdb_type.endswith("]") or duckdb_type.startswith(("LIST", "MAP")):
        return "LIST"
    if duckdb_type.startswith(("STRUCT", "JSON")):
        return "STRUCT" if duckdb_type.startswith("STRUCT") else "VARCHAR"
    if duckdb_type == "BOOLEAN":
        return "BOOLEAN"
    if duckdb_type in INTEGERS:
        return "BIGINT"
    if duckdb_type in ("FLOAT", "DOUBLE", "REAL") or duckdb_type.startswith("DECIMAL"):
        return "DOUBLE"
    if duckdb_type == '"NULL"' or duckdb_type == "NULL":
        return "NULL"
    return "VARCHAR"  # strings DuckDB typed further: dates, timestamps, UUIDs


def head_schema(text: bytes) -> list[tuple[str, str]] | None:
    """The fields of the NDJSON records in ``text`` (a file's first bytes, the last line
    dropped when it may be cut), with JSON's own types; None when the lines are not all
    objects (a JSON document, or damage: DESCRIBE reads it instead)."""
    lines = text.split(b"\n", _HEAD_RECORDS)
    if len(lines) > _HEAD_RECORDS or not text.endswith(b"\n"):
        lines = lines[:-1]  # the rest, or a line the head may have cut
    lines = [line for line in lines if line.strip()]
    try:  # one parse for all of them: a file's schema is read from a hundred files' heads
        records = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        return None  # one of them is not JSON (or two lines are one value): DESCRIBE decides
    if len(records) != len(lines) or not all(type(r) is dict for r in records):
        return None
    fields: dict[str, str] = {}
    for record in records:
        for name, value in record.items():
            kind = _JSON_TYPES.get(type(value), "NULL")
            known = fields.get(name, "NULL")
            if known == "NULL" or kind == "NULL" or known == kind:
                fields[name] = kind if known == "NULL" else known
            elif {known, kind} == {"BIGINT", "DOUBLE"}:
                fields[name] = "DOUBLE"
            else:
                fields[name] = "VARCHAR"
    return list(fields.items()) if records else None


def _described(
    con: duckdb.DuckDBPyConnection, resource: Resource, paths: list[str]
) -> dict[str, list[tuple[str, str]]]:
    out = {}
    for path in paths:
        one = dataclasses.replace(resource, locations=(path,))
        sql, _ = read_sql(one, "", False)
        if resource.format == "csv":
            sql = sql.replace("union_by_name=true", "union_by_name=false")
        try:
            rows = con.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error:
            continue  # unreadable alone: the sample's issue says so
        out[path] = [(str(r[0]), str(r[1])) for r in rows if r[0] != FILE_COLUMN]
    return out


def _parquet(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        f"SELECT file_name, name, duckdb_type, num_children FROM parquet_schema({sql_list(paths)})"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    skip = 0  # the nested fields of a struct or list column still to pass over
    for file_name, name, kind, children in rows:
        if file_name not in out:
            out[file_name] = []
            skip = 0
            continue  # the schema's root
        if skip:
            skip += (children or 0) - 1
            continue
        out[file_name].append((str(name), str(kind)))
        skip = children or 0
    return out


def _rows(
    con: duckdb.DuckDBPyConnection,
    resource: Resource,
    sample: Sample | None,
    files: list[FileEvidence],
) -> dict[str, int]:
    if resource.format == "parquet" and files:
        found = con.execute(
            "SELECT file_name, num_rows FROM "
            f"parquet_file_metadata({sql_list([f.path for f in files])})"
        ).fetchall()
        return {str(f): int(n) for f, n in found}
    if sample is not None and sample.complete and sample.has_files:
        return {f.path: sample.per_file.get(f.path, 0) for f in files}
    return {
        f.path: max(int(f.size / f.line_bytes) - 1, 0)
        for f in files
        if resource.format == "csv" and f.line_bytes and f.compression is None
    }
