"""Analysis of files, folders and S3 prefixes: what each file is, each table's schema and
quality, keys, and how the tables refer to each other.

The file source's discovery groups the files into tables and pins how each is read; then
each table is sampled once (:mod:`._profile`), each file's schema is read from cheap evidence
(Parquet metadata, the CSV header its table was grouped by, a JSON file's own DESCRIBE),
and keys and foreign keys are checked on the samples (:mod:`._keys`). S3 objects go through
the same code: the source's file system reads their first bytes, and its prelude lets the
analysis's DuckDB connection read ``s3://`` paths.
"""

from __future__ import annotations

import dataclasses
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from .._text import plural
from ..connectors import Decision, Resource, locate, source_for
from ..connectors.files.fs import FileInfo, FileSystem, LocalFS
from ..data.duck import connect, quote_ident, quote_literal
from ..spec.source import OBJECT_COLUMNS, SourceSpec
from . import _drift, _formats, _keys
from . import pii as _pii
from ._profile import Column, Sample, kind_of, read_sql, take
from .cursors import cursor_candidates
from .report import (
    FieldReport,
    FileReport,
    Issue,
    KeyCandidate,
    ResourceReport,
    SourceReport,
    where,
)

DEFAULT_SAMPLE_ROWS = 10_000
NULL_HEAVY = 0.5
_WORKERS = max(2, min(4, os.cpu_count() or 2))


def analyze_files(spec: SourceSpec, home: Path | None, sample_rows: int) -> SourceReport:
    """The report of a file or S3 source, each table profiled on ``sample_rows`` rows."""
    source: Any = source_for(spec, home=home)
    try:
        resources = source.discover()
        fs: FileSystem = getattr(source, "fs", None) or LocalFS()
        infos = [f if isinstance(f, FileInfo) else LocalFS.info(Path(f)) for f in source.files()]
        report = SourceReport(
            kind=spec.kind,
            source=locate(spec.uri).display,
            method="sample",
            sample_rows=sample_rows,
        )
        con = connect(home=home)
        try:
            for statement in fs.prelude():
                con.execute(statement)
            _fill(report, source, fs, resources, infos, con, sample_rows)
        finally:
            con.close()
        # A skipped file is an issue of the report now: its note would say it twice.
        # A skipped file is an issue of the report now: its note would say it twice.
        said = {f"skipped {i.file}:" for i in report.issues if i.kind in _SKIPPED and i.file}
        report.warnings.extend(n for n in source.notes if not n.startswith(tuple(said) or "\0"))
        return report
    finally:
        source.close()


def _fill(
    report: SourceReport,
    source: Any,
    fs: FileSystem,
    resources: list[Resource],
    infos: list[FileInfo],
    con: duckdb.DuckDBPyConnection,
    sample_rows: int,
) -> None:
    read_as = {loc: r.format for r in resources for loc in r.locations}
    encodings = {
        loc: dict(r.options()).get("encoding", "").strip("'") or None
        for r in resources
        for loc in r.locations
    }
    evidence = _evidence(fs, infos, read_as, encodings)
    owned = set(read_as)
    skipped = {
        n.split(": ", 1)[0].removeprefix("skipped "): n.split(": ", 1)[1]
        for n in source.notes
        if n.startswith("skipped ") and ": " in n
    }
    for info in infos:
        found = evidence[info.path]
        if info.path not in owned:
            report.issues.extend(found.issues)
            report.issues.append(_skipped(info, skipped.get(info.path)))

    def sampled(index: int) -> tuple[Resource, Sample | None, list[Issue]]:
        resource = resources[index]
        issues = [i for loc in resource.locations for i in evidence[loc].issues]
        issues = [dataclasses.replace(i, resource=resource.name) for i in issues]
        # The same in-memory database, a connection of its own: it shares the database's
        # extensions and secrets, which the prelude made on ``con`` (run again on cursors at
        # once, CREATE OR REPLACE SECRET is a write-write conflict in the catalog).
        cursor = con.cursor()
        try:
            sample = _sample(cursor, index, source, resource, sample_rows, issues)
        finally:
            cursor.close()
        return resource, sample, issues

    # Most of an analysis is DuckDB reading each table's files and aggregating its sample,
    # one statement after another, each on about one core: tables in parallel use both.
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        built = list(pool.map(sampled, range(len(resources))))
    tables = [_keys.Table(r.name, s) for r, s, _ in built if s is not None]
    by_name = {t.name: t for t in tables}
    keys = {t.name: _keys.candidate_keys(t, con) for t in tables}
    for resource, sample, _ in built:
        if sample is not None and not sample.complete and keys.get(resource.name):
            keys[resource.name] = _checked_keys(con, source, resource, keys[resource.name])
    for resource, sample, _ in built:
        table = by_name.get(resource.name)
        key = _primary(resource.name, keys.get(resource.name, []))
        if table is None or key is None:
            continue
        table.key = key.columns
        if len(table.key) == 1:
            table.keys_sql = _keys_sql(resource, table, sample)
    refs, orphans = _keys.references(tables, con)
    headers = _drift.header_groups(resources)
    for resource, sample, issues in built:
        files = [evidence[loc] for loc in resource.locations]
        file_reports = _drift.file_reports(con, resource, sample, files, headers)
        issues += [_drift.issue(resource.name, f) for f in file_reports if f.drifted]
        issues += orphans.get(resource.name, [])
        report.resources.append(
            _resource(
                resource,
                sample,
                issues,
                file_reports,
                keys.get(resource.name, []),
                refs.get(resource.name, []),
                con,
                by_name.get(resource.name),
            )
        )


def _evidence(
    fs: FileSystem,
    infos: list[FileInfo],
    read_as: dict[str, str],
    encodings: dict[str, str | None],
) -> dict[str, _formats.FileEvidence]:
    def one(info: FileInfo) -> _formats.FileEvidence:
        head = fs.head(info.path, _formats.HEAD_BYTES) if info.size else b""
        path = info.path
        return _formats.evidence(path, info.size, head, read_as.get(path), encodings.get(path))

    if fs.scheme == "file" or len(infos) < 4:
        return {i.path: one(i) for i in infos}
    with ThreadPoolExecutor(max_workers=8) as pool:  # one request each: overlap the waits
        return {i.path: e for i, e in zip(infos, pool.map(one, infos), strict=True)}


_SKIPPED = ("empty_file", "unreadable")


def _skipped(info: FileInfo, note: str | None) -> Issue:
    """The issue of a file discovery left out, in the words of its note (why it did)."""
    if info.size == 0 or (note is not None and "is empty" in note):
        return Issue(
            "empty_file", "the file is empty: nothing to load", file=info.path, severity="info"
        )
    why = note or "not a data file of a known format"
    return Issue("unreadable", f"skipped: {why}", file=info.path, severity="info")


def _sample(
    con: duckdb.DuckDBPyConnection,
    index: int,
    source: Any,
    resource: Resource,
    sample_rows: int,
    issues: list[Issue],
) -> Sample | None:
    fallback = ""
    if "record_path" in dict(resource.options()):
        fallback = source.relation(resource).sql
    try:
        return take(con, index, resource, fallback, sample_rows)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        issues.append(
            Issue(
                "unreadable",
                f"cannot be sampled: {first}",
                resource=resource.name,
                severity="error",
            )
        )
        return None


def _primary(table: str, keys: list[KeyCandidate]) -> KeyCandidate | None:
    """The best candidate that a name marks as a key: a merge on a column unique only by
    chance (a population, a timestamp) would overwrite rows the day a value repeats."""
    return next((k for k in keys if _keys.key_like(table, k.columns)), None)


_CHECKED_KEYS = 3  # candidates of a sampled table checked over all its rows, in one scan


def _checked_keys(
    con: duckdb.DuckDBPyConnection, source: Any, resource: Resource, keys: list[KeyCandidate]
) -> list[KeyCandidate]:
    """The candidates (found unique in a sample) that are unique and non-null in every row.

    A key seen only in a sample could repeat further on, and a merge on it would keep one
    row of each repeat: a plan must not risk that for a table that was not read whole. One
    scan counts them all; the ones that fail are dropped, and said so.
    """
    picked = keys[:_CHECKED_KEYS]
    # The typed read the sample used (bad records skipped, as a load quarantines them), not
    # the source's relation: that checks every NDJSON line first, a second pass per file.
    fallback = source.relation(resource).sql if "record_path" in dict(resource.options()) else ""
    sql, _ = read_sql(resource, fallback, False)
    # A line read_json cannot parse is a row of NULLs here; a load quarantines it instead.
    names = [n for n, _ in resource.columns if n not in OBJECT_COLUMNS]
    if resource.format in ("json", "ndjson") and names:
        blank = " AND ".join(f"{quote_ident(n)} IS NULL" for n in names)
        sql = f"SELECT * FROM ({sql}) WHERE NOT ({blank})"
    exprs = ["count(*)"]
    for k in picked:
        cols = ", ".join(quote_ident(c) for c in k.columns)
        tuple_ = f"({cols})" if len(k.columns) > 1 else cols
        empty = " OR ".join(f"{quote_ident(c)} IS NULL" for c in k.columns)
        exprs += [f"count(DISTINCT {tuple_})", f"count(*) FILTER (WHERE {empty})"]
    try:
        row = con.execute(f"SELECT {', '.join(exprs)} FROM ({sql})").fetchone() or ()
    except duckdb.Error:
        return []  # the table cannot be read whole: no key can be trusted
    total, out = int(row[0]), []
    for i, k in enumerate(picked):
        distinct, nulls = int(row[1 + 2 * i]), int(row[2 + 2 * i])
        if distinct == total and not nulls:
            whole = f"all {plural(total, 'row')} (read whole to check)"
            out.append(
                KeyCandidate(k.columns, re.sub(r"a sample of [\d,]+ rows?", whole, k.reason))
            )
    return out


def _keys_sql(resource: Resource, table: _keys.Table, sample: Sample | None) -> str:
    """SQL for every value of the table's one-column key: the sample when it is the whole
    table, else a scan of that column."""
    (key,) = table.key
    if sample is not None and sample.complete:
        return f"SELECT {quote_ident(key)} FROM {table.sample.view}"
    sql, _ = read_sql(resource, "", resource.format == "csv")
    column = next(c for c in table.sample.columns if c.name == key)
    from ._profile import fit_expr

    if resource.format == "csv" and not column.textual:
        value = fit_expr(key, column.type, dict(resource.options()))
    else:
        value = quote_ident(key)
    return f"SELECT DISTINCT {value} FROM ({sql})"


def _resource(
    resource: Resource,
    sample: Sample | None,
    issues: list[Issue],
    files: list[FileReport],
    keys: list[Any],
    refs: list[Any],
    con: duckdb.DuckDBPyConnection,
    table: _keys.Table | None,
) -> ResourceReport:
    fields = _fields(resource, sample)
    decisions = list(resource.decisions)
    primary_key: tuple[str, ...] = ()
    key = _primary(resource.name, keys)
    if key is not None:
        primary_key = key.columns
        decisions.append(Decision("primary key", ", ".join(primary_key), key.reason))
    elif keys:
        names = " and ".join(keys[0].columns)
        decisions.append(
            Decision(
                "primary key",
                "none",
                f"{names} {'is' if len(keys[0].columns) == 1 else 'are'} unique in the data, "
                "but no name says it is a key (a count or a measure can be unique by chance); "
                f"set tasks.{resource.name}.key to merge on it",
            )
        )
    if sample is not None and table is not None:
        issues += _column_issues(resource.name, sample, con)
        issues += _keys.duplicate_keys(table, resource.name)
    typed = tuple((f.name, f.type) for f in fields)
    cursors = cursor_candidates(
        dataclasses.replace(resource, columns=typed, primary_key=primary_key)
    )
    cursors.append(next(iter(OBJECT_COLUMNS.keys() - {"_object_key"})))
    partitions: list[str] = []
    for f in files:
        partitions += [k for k in f.partitions if k not in partitions]
    estimate = resource.row_estimate
    if sample is not None and sample.complete:
        estimate = sample.rows
    elif files and all(f.rows is not None for f in files):
        estimate = sum(f.rows or 0 for f in files)
    return ResourceReport(
        name=resource.name,
        location=where(resource.locations),
        format=resource.format,
        fields=fields,
        primary_key=primary_key,
        foreign_keys=tuple(str(r) for r in refs),
        row_estimate=estimate,
        decisions=tuple(decisions),
        size_bytes=resource.size_bytes,
        files=tuple(files),
        partitions=tuple(partitions),
        candidate_keys=tuple(keys),
        references=tuple(refs),
        cursors=tuple(cursors),
        issues=tuple(issues),
        sampled_rows=sample.rows if sample is not None else 0,
    )


def _fields(resource: Resource, sample: Sample | None) -> tuple[FieldReport, ...]:
    declared = dict(resource.columns)
    if sample is None:
        return tuple(FieldReport(n, t) for n, t in resource.columns)
    out = []
    for c in sample.columns:
        rows = sample.rows
        out.append(
            FieldReport(
                c.name,
                declared.get(c.name, c.type),
                nullable=c.non_null < rows,
                confidence=round(c.fits / c.non_null, 4) if c.non_null else None,
                null_ratio=round(1 - c.non_null / rows, 4) if rows else None,
                distinct=c.distinct,
            )
        )
    return tuple(out)


def _column_issues(name: str, sample: Sample, con: duckdb.DuckDBPyConnection) -> list[Issue]:
    issues = []
    rows = sample.rows
    for c in sample.columns:
        if rows and 1 - c.non_null / rows > NULL_HEAVY:
            share = 1 - c.non_null / rows
            what = "always null" if not c.non_null else f"{share:.0%} null"
            issues.append(
                Issue("null_heavy", f"{what} in {sample.where}", name, c.name, severity="info")
            )
        mixed = _mixed(c)
        if mixed:
            issues.append(Issue("mixed_types", mixed, name, c.name))
        pii = _pii_evidence(c, sample, con)
        if pii:
            issues.append(Issue("pii", pii, name, c.name, severity="info"))
    for path, (bad, lines) in sorted(sample.bad_lines.items()):
        detail = (
            f"{bad:,} of {lines:,} lines read are not JSON objects (malformed, or an array or "
            f"a scalar); a run quarantines them (the profile may count them as rows of nulls)"
        )
        issues.append(Issue("unreadable", detail, name, file=path))
    return issues


def _mixed(c: Column) -> str | None:
    if not c.non_null:
        return None
    if not c.textual and c.fits < c.non_null:
        bad = c.non_null - c.fits
        said = (
            f"{bad:,} of {plural(c.non_null, 'sampled value')} are not {c.type} "
            f"(confidence {c.fits / c.non_null:.1%})"
        )
        if kind_of(c.type) == "int":  # DuckDB's CSV reader rounds a decimal to an integer
            return (
                f"{said}: a load quarantines text but rounds a decimal (4.6 loads as 5); set "
                f"source.columns: {{{c.name}: DOUBLE}} to keep them"
            )
        return f"{said}; a load quarantines those rows"
    if c.textual and c.best is not None:
        other, fits = c.best
        if c.checked / 2 < fits < c.checked:  # mostly: more than half
            return (
                f"mostly {other} ({fits / c.checked:.0%} of {c.checked:,} sampled values) "
                f"with some text, so it loads as VARCHAR"
            )
    return None


def _pii_evidence(c: Column, sample: Sample, con: duckdb.DuckDBPyConnection) -> str | None:
    named = _pii.by_name(c.name)
    seen = []
    checked = c.checked
    # The kind the name suggests first (when its pattern also matches), then the most hits,
    # then the narrower pattern.
    order = sorted(
        c.pii.items(),
        key=lambda kv: (kv[0] != named, -kv[1], _pii.SPECIFICITY.index(kv[0])),
    )
    for kind, hits in order:
        if not checked or hits < _pii.VALUE_SHARE * checked:
            continue
        if kind == "card_number" and not _luhn_share(c, sample, con):
            continue
        share = f"{hits / checked:.0%} of {plural(checked, 'sampled value')}"
        seen.append(f"{share} look like {_pii.LABELS[kind]}")
        break
    if named is None and not seen:
        return None
    parts = [f"its name suggests {named.replace('_', ' ')}"] if named else []
    return "suspected personal data: " + "; ".join(parts + seen)


def _luhn_share(c: Column, sample: Sample, con: duckdb.DuckDBPyConnection) -> bool:
    col = quote_ident(c.name)
    rows = con.execute(
        f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {sample.view} WHERE regexp_full_match("
        f"CAST({col} AS VARCHAR), {quote_literal(_pii.VALUE_PATTERNS['card_number'])}) LIMIT 50"
    ).fetchall()
    return bool(rows) and sum(_pii.luhn(str(r[0])) for r in rows) >= 0.9 * len(rows)


__all__ = ["DEFAULT_SAMPLE_ROWS", "analyze_files", "kind_of"]
