"""Column types for CSV files: what nearly all of a column's values are.

DuckDB's sniffer types a column VARCHAR when a single value does not parse, and knows neither
'Jan 1 2000' nor a decimal comma it was not told about. This pass types a column by what
nearly all of its sampled values are, so a few bad values are quarantined instead of turning
the whole column into text; it also counts the null tokens found in each column. Every
decision is returned as a record (what, value, reason); dates are told in :mod:`._csv_dates`.

Cost: the sample is read once, as text, into a temporary table, then unpivoted to one
(column, value) row per cell and aggregated by column, so the work is linear in
rows x columns. One aggregate per column over a wide SELECT was superlinear in DuckDB: a
500-column probe took minutes. A second, smaller pass tries date formats on the columns whose
values look like dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ...data.duck import quote_literal, unique_name
from ..base import Decision
from ._csv_dates import (
    ISO,
    TIMESTAMP_CAST,
    Projection,
    convert,
    date_candidates,
    format_evidence,
    try_formats,
    twins,
    unquote,
)

# Read as NULL in every column unless the spec's null_values replaces the list: what pandas and
# readr read as missing, plus a lone '-'.
DEFAULT_NULL_VALUES = (
    "",
    "NA",
    "N/A",
    "n/a",
    "#N/A",
    "#NA",
    "<NA>",
    "NaN",
    "nan",
    "-NaN",
    "-nan",
    "null",
    "NULL",
    "Null",
    "None",
    "-",
)
DOMINANT_SHARE = 0.95
_MIN_VALUES = 20
_PROBE_ROWS = 5_000  # enough to tell a 95 % numeric column
_PROBE_CELLS = 1_000_000  # wide files sample fewer rows, so the probe's cost has a ceiling
_MIN_PROBE_ROWS = 200
_NO_NULL = "\x01"  # a null string no field holds, so the probe sees every token as written

_INT = r"\s*[-+]?[0-9]+\s*"
_LEADING_ZERO = r"\s*[-+]?0[0-9]+\s*"
_COMMA_DECIMAL = r"\s*[-+]?[0-9]*,[0-9]+\s*"
_TIME = r"([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
_DATE_SHAPE = (
    r"\s*([0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}|[A-Za-z]{3,9}\.? [0-9]{1,2},? [0-9]{4}"
    r"|[0-9]{1,2}[ -][A-Za-z]{3,9}\.?,?[ -][0-9]{2,4})" + _TIME + r"\s*"
)


@dataclass
class CsvTyping:
    """What the typing pass decided for one CSV file.

    ``columns`` are the types to read with (a projected column stays VARCHAR there);
    ``options`` are the read_csv options to use instead of the ones passed in (a date format
    or a decimal comma found in the values is added); ``projections`` convert the columns
    whose date format differs from the file's one ``dateformat`` (their sentences are on the
    projections, not in ``decisions``).
    """

    columns: list[tuple[str, str]]
    options: dict[str, str]
    decisions: list[Decision] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)


@dataclass
class _Stats:
    total: int = 0  # non-null values (null tokens excluded)
    ints: int = 0
    nums: int = 0
    leading_zero: int = 0
    comma: int = 0
    bools: int = 0
    datey: int = 0
    examples: tuple[str, ...] = ()
    tokens: dict[str, int] = field(default_factory=dict)


def dominant_types(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    options: dict[str, str],
    cols: list[tuple[str, str]],
    sample: int,
    decisions: list[Decision],
    null_tokens: tuple[str, ...] = DEFAULT_NULL_VALUES,
) -> list[tuple[str, str]]:
    """:func:`type_columns` for callers without projections: ``options`` is updated in place,
    and a column that would need a projection stays VARCHAR."""
    typing = type_columns(con, path, options, cols, sample_rows=sample, null_tokens=null_tokens)
    options.clear()
    options.update(typing.options)
    decisions.extend(typing.decisions)
    decisions.extend(p.unapplied for p in typing.projections if p.unapplied is not None)
    return typing.columns


def type_columns(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    options: dict[str, str],
    cols: list[tuple[str, str]],
    *,
    sample_rows: int,
    null_tokens: tuple[str, ...],
) -> CsvTyping:
    """Type ``cols`` (DuckDB's sniffed types) by what nearly all sampled values are.

    ``options`` are the pinned read_csv options (delim, quote, escape, header, skip, nullstr,
    and dateformat / decimal_separator when set); the sample is read with them, as text.
    """
    typing = CsvTyping(list(cols), dict(options))
    if not cols:
        return typing
    rows = min(sample_rows, _PROBE_ROWS, max(_MIN_PROBE_ROWS, _PROBE_CELLS // len(cols)))
    table = unique_name("csv_sample")
    try:
        con.execute(f"CREATE TEMP TABLE {table} AS {_sample_sql(path, options, cols, rows)}")
        sampled = _count(con, f"SELECT count(*) FROM {table}")
        stats = _probe(con, table, null_tokens, options)
        _report_tokens(cols, stats, sampled, rows, typing.decisions)
        _type_numbers(typing, stats)
        _type_dates(con, table, typing, stats)
    except duckdb.Error:
        return CsvTyping(list(cols), dict(options))  # an optimisation: DuckDB's types stand
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return typing


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _sample_sql(
    path: str | Path, options: dict[str, str], cols: list[tuple[str, str]], rows: int
) -> str:
    # auto_detect=false: the dialect is pinned, and sniffing again costs as much as reading.
    keep = {k: v for k, v in options.items() if k not in ("dateformat", "timestampformat")}
    keep.pop("decimal_separator", None)
    keep["nullstr"] = quote_literal(_NO_NULL)
    keep["allow_quoted_nulls"] = "false"
    keep["columns"] = "{" + ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n, _ in cols) + "}"
    args = ", ".join(f"{k}={v}" for k, v in keep.items())
    return (
        f"SELECT * FROM read_csv({quote_literal(str(path))}, {args}, auto_detect=false, "
        f"ignore_errors=true) LIMIT {rows}"
    )


def _probe(
    con: duckdb.DuckDBPyConnection,
    table: str,
    null_tokens: tuple[str, ...],
    options: dict[str, str],
) -> dict[str, _Stats]:
    """Per column: counts of values of each shape, and of each null token, in one pass."""
    tokens = ", ".join(quote_literal(t) for t in null_tokens) or "NULL"
    comma = options.get("decimal_separator") == quote_literal(",")
    # With a decimal comma, '1,5' is a number and '1.5' is not (DuckDB reads it so).
    num = (
        "TRY_CAST(CASE WHEN NOT contains(v, '.') THEN replace(v, ',', '.') END AS DOUBLE)"
        if comma
        else "TRY_CAST(v AS DOUBLE)"
    )
    sql = f"""
        SELECT name, tok, count(*),
            count(TRY_CAST(CASE WHEN regexp_full_match(v, {quote_literal(_INT)}) THEN v END
                AS BIGINT)),
            count({num}),
            count(*) FILTER (WHERE regexp_full_match(v, {quote_literal(_LEADING_ZERO)})),
            count(*) FILTER (WHERE regexp_full_match(v, {quote_literal(_COMMA_DECIMAL)})),
            count(*) FILTER (WHERE lower(trim(v)) IN ('true', 'false', 't', 'f')),
            count(*) FILTER (WHERE datey),
            min(v) FILTER (WHERE datey), max(v) FILTER (WHERE datey)
        FROM (
            SELECT name, v, CASE WHEN v IN ({tokens}) THEN v END AS tok,
                regexp_full_match(v, {quote_literal(_DATE_SHAPE)}) AS datey
            FROM (UNPIVOT {table} ON COLUMNS(*) INTO NAME name VALUE v)
        )
        GROUP BY name, tok
    """
    stats: dict[str, _Stats] = {}
    for name, tok, n, ints, nums, zero, commas, bools, datey, lo, hi in con.execute(sql).fetchall():
        s = stats.setdefault(name, _Stats())
        if tok is not None:
            s.tokens[tok] = n
            continue
        s.total, s.ints, s.nums, s.leading_zero, s.comma = n, ints, nums, zero, commas
        s.bools, s.datey = bools, datey
        s.examples = tuple(e for e in (lo, hi) if e is not None)
    return stats


def _report_tokens(
    cols: list[tuple[str, str]],
    stats: dict[str, _Stats],
    sampled: int,
    rows: int,
    out: list[Decision],
) -> None:
    where = f"in the first {sampled} rows" if sampled >= rows else ""
    for name, _ in cols:
        found = {t: n for t, n in (stats.get(name) or _Stats()).tokens.items() if t != ""}
        if found:
            counts = ", ".join(f"{n} {t!r}" for t, n in sorted(found.items(), key=lambda i: -i[1]))
            out.append(Decision(f"column {name}", f"{counts} read as NULL", where))


def _dominant(ok: int, total: int) -> bool:
    return total >= _MIN_VALUES and ok / total >= DOMINANT_SHARE


def _share(ok: int, total: int, what: str) -> str:
    if ok == total:
        return f"all {total} sampled values parse as {what}"
    return (
        f"{ok / total:.1%} of {total} sampled values parse as {what}; rows whose value does "
        f"not are quarantined"
    )


def _type_numbers(typing: CsvTyping, stats: dict[str, _Stats]) -> None:
    """BIGINT, DOUBLE (with the decimal comma if the values show one), BOOLEAN."""
    opts = typing.options
    comma_set = opts.get("decimal_separator") == quote_literal(",")
    # A decimal comma is read file-wide, so it is taken only when no column has decimal points.
    if "decimal_separator" not in opts and opts.get("delim") == quote_literal(";"):
        point_cols = [c for c, t in typing.columns if t in ("DOUBLE", "FLOAT") or "DECIMAL" in t]
        comma_cols = [
            c
            for c, t in typing.columns
            if t == "VARCHAR"
            and (s := stats.get(c)) is not None
            and s.comma
            and not s.leading_zero
            and _dominant(s.comma + s.ints, s.total)
        ]
        if comma_cols and not point_cols:
            opts["decimal_separator"] = quote_literal(",")
            comma_set = True
            example = ", ".join(comma_cols[:3])
            typing.decisions.append(
                Decision(
                    "decimal separator",
                    "','",
                    f"the delimiter is ';' and columns {example} hold numbers such as 1,5; "
                    "set csv.decimal_separator to change this",
                )
            )
            for c in comma_cols:
                stats[c].nums = stats[c].comma + stats[c].ints
    new: list[tuple[str, str]] = []
    for name, typ in typing.columns:
        s = stats.get(name)
        if typ == "VARCHAR" and s is not None and not s.leading_zero:
            for cand, ok in (("BIGINT", s.ints), ("DOUBLE", s.nums), ("BOOLEAN", s.bools)):
                if _dominant(ok, s.total):
                    sep = " with a decimal comma" if cand == "DOUBLE" and comma_set else ""
                    typing.decisions.append(
                        Decision(f"column {name}", f"{cand}{sep}", _share(ok, s.total, cand))
                    )
                    typ = cand
                    break
        new.append((name, typ))
    typing.columns = new


def _type_dates(
    con: duckdb.DuckDBPyConnection, table: str, typing: CsvTyping, stats: dict[str, _Stats]
) -> None:
    file_fmt = unquote(typing.options.get("dateformat"))
    cands: dict[str, tuple[str, ...]] = {}
    for name, typ in typing.columns:
        s = stats.get(name)
        if typ == "VARCHAR" and s is not None and _dominant(s.datey, s.total):
            cands[name] = date_candidates(s.examples)
        elif typ == "DATE" and file_fmt and s is not None and s.total:
            cands[name] = twins(file_fmt)  # DuckDB's choice, checked for its evidence
    cands = {c: f for c, f in cands.items() if f}
    if not cands:
        return
    found = try_formats(con, table, cands)
    chosen: dict[str, tuple[str, str]] = {}  # column -> (format, evidence)
    for name, fmts in cands.items():
        total = stats[name].total
        sniffed = file_fmt if dict(typing.columns)[name] == "DATE" else None
        best = sniffed or max(fmts, key=lambda f: found[(name, f)][0])
        if found[(name, best)][0] and _dominant(found[(name, best)][0], total):
            chosen[name] = (best, format_evidence(name, best, fmts, found, stats[name].examples))
    date_fmts = [f for f, _ in chosen.values() if f != TIMESTAMP_CAST]
    if not file_fmt and date_fmts:
        # read_csv takes one date format for the file: the one most columns use, unless
        # DuckDB already read some columns as ISO dates, which any other format would break.
        iso_cols = [c for c, t in typing.columns if t == "DATE"]
        file_fmt = ISO if iso_cols else max(date_fmts, key=date_fmts.count)
        if file_fmt != ISO:
            typing.options["dateformat"] = quote_literal(file_fmt)
    ts_fmt = typing.options.get("timestampformat")
    types = dict(typing.columns)
    for name, (fmt, why) in chosen.items():
        typ = "TIMESTAMP" if fmt == TIMESTAMP_CAST else "DATE"
        label = "ISO" if fmt == TIMESTAMP_CAST else repr(fmt)
        total, ok = stats[name].total, found[(name, fmt)][0]
        evidence = f"format {label} ({why}); {_share(ok, total, typ)}"
        native = (fmt == (file_fmt or ISO)) if typ == "DATE" else ts_fmt is None
        if types[name] == "DATE" or native:
            types[name] = typ
            typing.decisions.append(Decision(f"column {name}", typ, evidence))
            continue
        why_text = f"read_csv takes one date format and the file's is {file_fmt or 'ISO'!r}"
        applied = Decision(
            f"column {name}", typ, f"{evidence}; read as text and converted, since {why_text}"
        )
        kept = Decision(
            f"column {name}",
            "VARCHAR",
            f"its values are dates in format {label} ({why}), but {why_text}; convert it "
            f"with {convert(name, typ, fmt)}",
        )
        typing.projections.append(Projection(name, typ, fmt, applied, kept))
    typing.columns = [(c, types[c]) for c, _ in typing.columns]
