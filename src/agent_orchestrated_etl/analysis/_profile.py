"""One sampled scan per resource, profiled in one aggregate.

The sample is a temporary table of up to ``sample_rows`` rows (all of a small resource, by
reservoir; the first rows of a large one). CSV is sampled as text so that one aggregate can
count, for each column, its nulls, its distinct values, how many values fit the type
discovery pinned (the confidence), how many fit other types (a text column that is mostly
numbers), and how many look like personal data. A view over the sample gives the typed
values that keys and foreign keys are checked on.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import duckdb

from .._text import plural
from ..connectors import Resource
from ..data.duck import quote_ident, quote_literal, sql_list, unique_name
from .pii import VALUE_PATTERNS

FILE_COLUMN = "_aoetl_file"
# Under this size a resource is sampled over all its rows (a reservoir), so a sample of a
# folder sees every file; above it, its first rows (a scan that stops early).
WHOLE_SCAN_BYTES = 16 << 20
INTEGERS: tuple[str, ...] = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
INTEGERS += ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
_OTHER_TYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")
_INTEGER = r"\s*[-+]?[0-9]+\s*"
# Other types and personal data are looked for in the sample's first rows only (a random
# subset of a reservoir sample).
DETAIL_ROWS = 500


@dataclass
class Column:
    """One column as the sample shows it."""

    name: str
    type: str
    non_null: int = 0
    fits: int = 0
    distinct: int | None = None
    # Of the sample's first DETAIL_ROWS rows: the non-null values looked at (``checked``),
    # for a text column the other type most of them fit and how many, and per kind of
    # personal data how many look like it.
    checked: int = 0
    best: tuple[str, int] | None = None
    pii: dict[str, int] = field(default_factory=dict)

    @property
    def textual(self) -> bool:
        return self.type == "VARCHAR"


@dataclass
class Sample:
    """A resource's sample: ``view`` (typed values) in the analysis connection."""

    view: str
    rows: int
    complete: bool
    columns: list[Column]
    per_file: dict[str, int] = field(default_factory=dict)
    file_fit: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    file_columns: dict[str, set[str]] = field(default_factory=dict)  # JSON: fields with values
    has_files: bool = True
    # NDJSON: per file, (lines that are not JSON objects, non-blank lines read).
    bad_lines: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """'all 300 rows', 'the only row', 'a sample of 10,000 rows': what evidence covers."""
        if not self.complete:
            return f"a sample of {plural(self.rows, 'row')}"
        return "the only row" if self.rows == 1 else f"all {plural(self.rows, 'row')}"


def kind_of(type_: str) -> str:
    """A type's family: 'int', 'float', 'decimal', 'text', 'temporal', 'bool', 'other'."""
    if type_ in INTEGERS:
        return "int"
    if type_ in ("FLOAT", "DOUBLE", "REAL"):
        return "float"
    if type_.startswith("DECIMAL"):
        return "decimal"
    if type_ in ("VARCHAR", "UUID"):
        return "text"
    if type_.startswith(("DATE", "TIMESTAMP", "TIME")):
        return "temporal"
    if type_ == "BOOLEAN":
        return "bool"
    return "other"


def read_sql(resource: Resource, fallback: str, text: bool) -> tuple[str, bool]:
    """The resource's read as SQL with a file-name column, and whether it has one.

    ``fallback`` is the source's own relation (a JSON document's records under a key have no
    file name). A CSV read as ``text`` keeps the pinned dialect, every column VARCHAR.
    """
    options = dict(resource.options())
    files = sql_list(resource.locations)
    if "record_path" in options:
        return fallback, False
    options["filename"] = quote_literal(FILE_COLUMN)
    if resource.format == "csv":
        if text and "union_by_name" in options:
            options["all_varchar"] = "true"
        elif text:
            columns = ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n, _ in resource.columns)
            options.update(columns="{" + columns + "}", auto_detect="false")
        # The load's own options (null_padding among them when discovery chose it), so the
        # sample holds the rows a load keeps and types them as the load will.
        options["ignore_errors"] = "true"
        reader = "read_csv"
    elif resource.format == "parquet":
        reader = "read_parquet"
    else:
        reader = "read_json"
        options["ignore_errors"] = "true"
    args = ", ".join(f"{k}={v}" for k, v in options.items())
    return f"SELECT * FROM {reader}({files}, {args})", True


def fit_expr(column: str, type_: str, options: dict[str, str]) -> str:
    """SQL: the text column as ``type_`` (NULL where a value does not fit)."""
    col = quote_ident(column)
    if type_ == "DATE" and "dateformat" in options:
        return f"CAST(try_strptime({col}, {options['dateformat']}) AS DATE)"
    if type_.startswith("TIMESTAMP") and "timestampformat" in options:
        return f"CAST(try_strptime({col}, {options['timestampformat']}) AS {type_})"
    if kind_of(type_) in ("float", "decimal") and options.get("decimal_separator") == "','":
        return f"TRY_CAST(replace({col}, ',', '.') AS {type_})"
    if kind_of(type_) == "int":
        # DuckDB casts '4.6' to an integer as 5: only a value written as one fits.
        whole = f"regexp_full_match({col}, {quote_literal(_INTEGER)})"
        return f"CASE WHEN {whole} THEN TRY_CAST({col} AS {type_}) END"
    return f"TRY_CAST({col} AS {type_})"


def take(
    con: duckdb.DuckDBPyConnection,
    index: int,
    resource: Resource,
    fallback: str,
    sample_rows: int,
) -> Sample:
    """Sample ``resource`` into the table ``_aoetl_raw_<index>`` of the analysis's private
    in-memory database, profile it, and define the typed view ``_aoetl_sample_<index>`` over
    it (not TEMP: resources are sampled on cursors of their own, in parallel, and the keys
    are then checked across all the samples on one)."""
    text = resource.format == "csv"
    sql, has_files = read_sql(resource, fallback, text)
    raw, view = f"_aoetl_raw_{index}", f"_aoetl_sample_{index}"
    if resource.size_bytes <= WHOLE_SCAN_BYTES:
        picked = f"SELECT * FROM ({sql}) USING SAMPLE reservoir({sample_rows} ROWS) REPEATABLE (7)"
    else:
        picked = f"SELECT * FROM ({sql}) LIMIT {sample_rows}"
    con.execute(f"CREATE OR REPLACE TABLE {raw} AS {picked}")
    read = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {raw}").fetchall()]
    declared = dict(resource.columns)
    options = dict(resource.options())
    columns = [
        Column(name, declared.get(name, kind) if text else kind)
        for name, kind in read
        if name != FILE_COLUMN
    ]
    typed = {
        c.name: fit_expr(c.name, c.type, options) if text and not c.textual else quote_ident(c.name)
        for c in columns
    }
    select = ", ".join(f"{typed[c.name]} AS {quote_ident(c.name)}" for c in columns)
    file_col = f", {quote_ident(FILE_COLUMN)}" if has_files else ""
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {select}{file_col} FROM {raw}")
    rows = _profile(con, raw, columns, typed)
    sample = Sample(view, rows, rows < sample_rows, columns, has_files=has_files)
    if has_files:
        # Rows per file and, for JSON, the fields each file's sampled rows have a value for
        # (a field a file's first records lack may come later: drift is judged on both).
        named = [c for c in columns if resource.format in ("json", "ndjson")]
        counts = "".join(f", count({quote_ident(c.name)})" for c in named)
        for row in con.execute(
            f"SELECT {quote_ident(FILE_COLUMN)}, count(*){counts} FROM {raw} GROUP BY ALL"
        ).fetchall():
            sample.per_file[str(row[0])] = int(row[1])
            if named:
                sample.file_columns[str(row[0])] = {
                    c.name for c, n in zip(named, row[2:], strict=True) if n
                }
        if text:
            sample.file_fit = _file_fit(con, raw, columns, typed)
    if resource.format == "ndjson" and has_files:
        limit = "" if resource.size_bytes <= WHOLE_SCAN_BYTES else f"LIMIT {sample_rows}"
        # A count of bad lines is not worth the sample: the load checks every line anyway.
        with contextlib.suppress(duckdb.Error):
            sample.bad_lines = _bad_lines(con, resource, limit)
    return sample


def _bad_lines(
    con: duckdb.DuckDBPyConnection, resource: Resource, limit: str
) -> dict[str, tuple[int, int]]:
    """Per file: (lines that are not a JSON object or null, non-blank lines), over the lines
    the sample read. read_json with ignore_errors turns such a line into a row of NULLs, so
    the sample alone cannot tell it from a record of nulls; a run quarantines it. Lines
    DuckDB rejects (not UTF-8, longer than the object size) count as bad."""
    rejects, scans = unique_name("an_rj"), unique_name("an_rs")
    options = dict(resource.options())
    size = options.get("maximum_object_size", str(16 << 20))
    # A file whose content's codec is not its name's is read with the content's, as the load
    # reads it (the option is already a SQL literal).
    codec = f"compression={options['compression']}, " if "compression" in options else ""
    lines = (
        f"read_csv({sql_list(resource.locations)}, columns={{'line': 'VARCHAR'}}, {codec}"
        f"delim=E'\\x1e', quote='', escape='', header=false, auto_detect=false, "
        f"strict_mode=false, max_line_size={size}, filename={quote_literal(FILE_COLUMN)}, "
        f"store_rejects=true, rejects_table={quote_literal(rejects)}, "
        f"rejects_scan={quote_literal(scans)})"
    )
    file_ = quote_ident(FILE_COLUMN)
    # CASE, not OR: json_type raises on a line that is not JSON.
    bad = "CASE WHEN json_valid(line) THEN json_type(line) NOT IN ('OBJECT', 'NULL') ELSE true END"
    try:
        rows = con.execute(
            f"SELECT {file_}, count(*) FILTER (WHERE {bad}), count(*) FROM (SELECT * FROM "
            f"{lines} {limit}) WHERE trim(line, E' \\t\\r') <> '' GROUP BY ALL"
        ).fetchall()
        counts = {str(f): (int(b), int(n)) for f, b, n in rows}
        for path, n in con.execute(
            f"SELECT s.file_path, count(*) FROM {rejects} r JOIN {scans} s "
            f"USING (scan_id, file_id) GROUP BY ALL"
        ).fetchall():
            b, total = counts.get(str(path), (0, 0))
            counts[str(path)] = (b + int(n), total + int(n))
    finally:
        con.execute(f"DROP TABLE IF EXISTS {rejects}; DROP TABLE IF EXISTS {scans}")
    return {f: c for f, c in counts.items() if c[0]}


def _profile(
    con: duckdb.DuckDBPyConnection, raw: str, columns: list[Column], typed: dict[str, str]
) -> int:
    """Fill each column's counts from one aggregate over the sample, and what its values
    look like (other types, personal data) from one over its first rows; returns its rows."""
    exprs = ["count(*)"]
    for c in columns:
        simple = kind_of(c.type) != "other"
        exprs += [f"count({quote_ident(c.name)})", f"count({typed[c.name]})"]
        exprs.append(f"count(DISTINCT {typed[c.name]})" if simple else "NULL")
    row: tuple[Any, ...] = con.execute(f"SELECT {', '.join(exprs)} FROM {raw}").fetchone() or ()
    values = iter(row[1:])
    for c in columns:
        c.non_null, c.fits = int(next(values)), int(next(values))
        distinct = next(values)
        c.distinct = int(distinct) if distinct is not None else None
    _look(con, raw, columns)
    return int(row[0]) if row else 0


def _look(con: duckdb.DuckDBPyConnection, raw: str, columns: list[Column]) -> None:
    """Each text column's share of values that fit another type, and each text or integer
    column's values that look like personal data, over the sample's first
    :data:`DETAIL_ROWS` rows (casting text to dates and matching patterns were most of the
    profile's time; a share is as clear in a thousand values)."""
    exprs: list[str] = []
    slots: list[tuple[Column, str, str]] = []  # (column, 'checked' | 'fit' | 'pii', kind)
    for c in columns:
        if not (c.textual or kind_of(c.type) == "int"):
            continue
        col = quote_ident(c.name)
        exprs.append(f"count({col})")
        slots.append((c, "checked", ""))
        if c.textual:
            for other in _OTHER_TYPES:
                exprs.append(f"count({_other_fit(col, other)})")
                slots.append((c, "fit", other))
        value = col if c.textual else f"CAST({col} AS VARCHAR)"
        for kind, pattern in VALUE_PATTERNS.items():
            if kind != "card_number" and not c.textual:
                continue  # a number is no email, phone or address
            test = f"regexp_full_match({value}, {quote_literal(pattern)})"
            if kind == "phone":
                # Dates and version numbers split like phone numbers; their digits do not.
                digits = f"length(regexp_replace({value}, '[^0-9]', '', 'g'))"
                test += f" AND {digits} BETWEEN 7 AND 15"
                test += f" AND TRY_CAST({value} AS TIMESTAMP) IS NULL"
            exprs.append(f"count(*) FILTER (WHERE {test})")
            slots.append((c, "pii", kind))
    if not exprs:
        return
    sql = f"SELECT {', '.join(exprs)} FROM (SELECT * FROM {raw} LIMIT {DETAIL_ROWS})"
    counts = con.execute(sql).fetchone() or ()
    fits: dict[int, list[tuple[str, int]]] = {}
    for (c, what, kind), count in zip(slots, counts, strict=True):
        if what == "checked":
            c.checked = int(count)
        elif what == "fit":
            fits.setdefault(id(c), []).append((kind, int(count)))
        elif count:
            c.pii[kind] = int(count)
    for c in columns:
        if id(c) in fits:
            c.best = max(fits[id(c)], key=lambda kc: kc[1])


def _other_fit(col: str, type_: str) -> str:
    """SQL: the text value as ``type_``, NULL where it is not one. An integer must be
    written as one: DuckDB's cast rounds '4.10' to 4, which made version numbers and prices
    look like integers."""
    cast = f"TRY_CAST({col} AS {type_})"
    if type_ != "BIGINT":
        return cast
    return f"CASE WHEN regexp_full_match({col}, {quote_literal(_INTEGER)}) THEN {cast} END"


def _file_fit(
    con: duckdb.DuckDBPyConnection, raw: str, columns: list[Column], typed: dict[str, str]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per file and typed column: (values, values that fit the column's type)."""
    checked = [c for c in columns if not c.textual]
    if not checked:
        return {}
    exprs = [f"count({quote_ident(c.name)}), count({typed[c.name]})" for c in checked]
    sql = f"SELECT {quote_ident(FILE_COLUMN)}, {', '.join(exprs)} FROM {raw} GROUP BY ALL"
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for row in con.execute(sql).fetchall():
        out[str(row[0])] = {
            c.name: (int(row[1 + 2 * i]), int(row[2 + 2 * i])) for i, c in enumerate(checked)
        }
    return out
