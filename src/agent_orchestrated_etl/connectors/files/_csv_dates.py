"""Dates in CSV columns: the forms a value may take, the strptime formats each may be, which
format a sample's values parse with (day-first told from month-first by a value over 12), and
the projection that converts a column read as text when its format is not the file's one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from ...data.duck import quote_ident, quote_literal
from ..base import Decision

# Date forms, tried in Python on a column's example values, and the strptime formats each
# may be; the sample then says which format parses (day-first vs month-first included).
DATE_FORMS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(rx), fmts)
    for rx, fmts in (
        (r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", ("%Y-%m-%d",)),
        (r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}", ("%Y/%m/%d",)),
        (r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}", ("%d/%m/%Y", "%m/%d/%Y")),
        (r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}", ("%d.%m.%Y", "%m.%d.%Y")),
        (r"[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}", ("%d-%m-%Y", "%m-%d-%Y")),
        (r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{2}", ("%d/%m/%y", "%m/%d/%y")),
        (r"[A-Za-z]{3,9} [0-9]{1,2} [0-9]{4}", ("%b %d %Y", "%B %d %Y")),
        (r"[A-Za-z]{3,9} [0-9]{1,2}, [0-9]{4}", ("%b %d, %Y", "%B %d, %Y")),
        (r"[0-9]{1,2} [A-Za-z]{3,9} [0-9]{4}", ("%d %b %Y", "%d %B %Y")),
        (r"[0-9]{1,2}-[A-Za-z]{3}-[0-9]{4}", ("%d-%b-%Y",)),
        (r"[0-9]{1,2}-[A-Za-z]{3}-[0-9]{2}", ("%d-%b-%y",)),
    )
)
ISO_TIMESTAMP = re.compile(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}.*")
ISO = "%Y-%m-%d"
TIMESTAMP_CAST = "cast"  # a 'format' meaning DuckDB's own ISO timestamp cast


@dataclass(frozen=True)
class Projection:
    """A column read as text and converted in SQL, because read_csv takes one date format.

    Apply it over the read_csv relation, whose column is VARCHAR:
    ``SELECT * REPLACE (<expression> AS <column>) FROM (...)``, and quarantine the rows where
    :meth:`failed` holds, with :meth:`reason` as their reason, so a value that does not parse
    is counted, never silently NULL; then add :attr:`decision` to the plan's decisions.
    """

    column: str
    type: str  # DATE or TIMESTAMP
    format: str  # strptime format, or "cast" for DuckDB's ISO cast
    decision: Decision | None = None  # for the plan once the projection is applied
    unapplied: Decision | None = None  # for the plan when it is not (the column stays text)

    def _parsed(self) -> str:
        q = quote_ident(self.column)
        if self.format == TIMESTAMP_CAST:
            return f"TRY_CAST(trim({q}) AS TIMESTAMP)"
        return f"TRY_STRPTIME(trim({q}), {quote_literal(self.format)})"

    def expression(self) -> str:
        """The typed value; NULL when the text is NULL or does not parse."""
        return f"CAST({self._parsed()} AS {self.type})"

    def failed(self) -> str:
        """A predicate, true for a row whose value is not NULL and does not parse."""
        return f"({quote_ident(self.column)} IS NOT NULL AND {self._parsed()} IS NULL)"

    def reason(self) -> str:
        """A SQL string expression: why the row is quarantined."""
        label = "an ISO timestamp" if self.format == TIMESTAMP_CAST else repr(self.format)
        return (
            f"{quote_literal(f'column {self.column}: ')} || {quote_ident(self.column)} || "
            f"{quote_literal(f' is not a {self.type.lower()} in format {label}')}"
        )


def date_candidates(examples: tuple[str, ...]) -> tuple[str, ...]:
    fmts: list[str] = []
    for value in examples:
        if ISO_TIMESTAMP.fullmatch(value):
            fmts.append(TIMESTAMP_CAST)
            continue
        for rx, forms in DATE_FORMS:
            if rx.fullmatch(value.strip()):
                fmts.extend(forms)
    return tuple(dict.fromkeys(fmts))


def convert(name: str, typ: str, fmt: str) -> str:
    if fmt == TIMESTAMP_CAST:
        return f"CAST({quote_ident(name)} AS {typ})"
    return f"strptime({quote_ident(name)}, {quote_literal(fmt)})::{typ}"


def twins(fmt: str) -> tuple[str, ...]:
    swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    return (fmt, swapped) if swapped != fmt else (fmt,)


def try_formats(
    con: duckdb.DuckDBPyConnection, table: str, cands: dict[str, tuple[str, ...]]
) -> dict[tuple[str, str], tuple[int, str | None]]:
    """(column, format) -> (values that parse, a value that parses with this format alone)."""
    fmts = sorted({f for fs in cands.values() for f in fs})
    parsed = [
        "TRY_CAST(trim(v) AS TIMESTAMP)"
        if f == TIMESTAMP_CAST
        else f"TRY_STRPTIME(trim(v), {quote_literal(f)})"
        for f in fmts
    ]
    aggs = []
    for i in range(len(fmts)):
        others = " AND ".join(f"p{j} IS NULL" for j in range(len(fmts)) if j != i) or "true"
        aggs.append(f"count(p{i}), min(v) FILTER (WHERE p{i} IS NOT NULL AND {others})")
    columns = ", ".join(quote_ident(c) for c in cands)
    sql = f"""
        SELECT name, {", ".join(aggs)}
        FROM (
            SELECT name, v, {", ".join(f"{p} AS p{i}" for i, p in enumerate(parsed))}
            FROM (UNPIVOT (SELECT {columns} FROM {table}) ON COLUMNS(*) INTO NAME name VALUE v)
        )
        GROUP BY name
    """
    out: dict[tuple[str, str], tuple[int, str | None]] = {}
    for name, *values in con.execute(sql).fetchall():
        for i, f in enumerate(fmts):
            out[(name, f)] = (int(values[2 * i]), values[2 * i + 1])
    for name, fs in cands.items():
        for f in fs:
            out.setdefault((name, f), (0, None))
    return out


def format_evidence(
    name: str,
    best: str,
    fmts: tuple[str, ...],
    found: dict[tuple[str, str], tuple[int, str | None]],
    examples: tuple[str, ...],
) -> str:
    twin = next((f for f in twins(best) if f != best and f in fmts), None)
    example = found[(name, best)][1]
    if twin is None:
        example = example or (examples[0] if examples else None)
        return f"values such as {example.strip()}" if example else "the sampled values"
    order = "day-first" if best.index("%d") < best.index("%m") else "month-first"
    if example and found[(name, best)][0] > found[(name, twin)][0]:
        return f"{order}: values such as {example.strip()}"
    return f"{order} assumed: no sampled value tells day from month; set csv.date_format to change"


def unquote(literal: str | None) -> str | None:
    if literal is None:
        return None
    return literal[1:-1].replace("''", "'")
