"""Data checks (``checks:``) on a table of a private DuckDB connection.

Each check is one SQL aggregate over the table (see :mod:`.frame` for how a relation is read
into it once). Row checks judge each row; a NULL passes every row check but ``not_null``,
and a ``sql`` predicate that is NULL for a row passes too (as in dbt): a check says what a
value must be when there is one, and ``not_null`` says there must be one. ``unique`` judges
the rows whose columns are all set, and counts the rows beyond the first of each repeated
combination. ``range`` takes numbers, or dates and timestamps written as strings; a NaN is
outside every range. ``accepted_values`` compares text as text, and reads the values as the
column's type otherwise.

:func:`run_checks` judges a table (warn and fail checks on what a run staged);
:func:`quarantine` splits a table into passing rows and rows failing a quarantine check.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from ..data.duck import BadRow, describe, fold, quote_ident, quote_literal
from ..errors import UserError, one_line
from ..settings import DUCKDB_OFFLINE
from ..spec import CheckSpec, duration_s
from .types import CheckResult

_NUMERIC = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL",
)  # fmt: skip
_TEMPORAL = ("DATE", "TIMESTAMP", "TIME")
_DONE = {"warn": "warned", "quarantine": "quarantined", "fail": "failed"}


def check_line(result: dict[str, Any]) -> str:
    """A check's result in one line, as the run's summary and notes say it."""
    return f"check {result['name']} on table {result['table']}: {result['message']}"


@dataclass(frozen=True)
class _RowTest:
    """A row check as SQL: ``fails`` is true for a row that fails it."""

    check: CheckSpec
    fails: str
    why: str


class _Table:
    """The columns of the table checks run on, found as DuckDB compares names."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, table: str) -> None:
        self.con, self.name, self.table = con, name, table
        self.types = {fold(n): (n, t) for n, t in describe(con, f"SELECT * FROM {name}")}

    def column(self, check: CheckSpec, column: str) -> tuple[str, str]:
        """(the quoted column, its DuckDB type); a column the table lacks is bad input."""
        found = self.types.get(fold(column))
        if found is None:
            known = ", ".join(n for n, _ in self.types.values() if not n.startswith("__aoetl_"))
            raise UserError(
                f"check {check.label}: table '{self.table}' has no column {column!r}; its "
                f"columns: {known}"
            )
        return quote_ident(found[0]), found[1].upper()

    def scalar(self, check: CheckSpec, sql: str) -> tuple[Any, ...]:
        try:
            row = self.con.execute(sql).fetchone()
        except duckdb.Error as exc:
            raise UserError(
                f"check {check.label} cannot run on table '{self.table}': {one_line(str(exc))}"
            ) from None
        assert row is not None  # an aggregate always returns a row
        return tuple(row)


def _is(kind: str, types: tuple[str, ...]) -> bool:
    return kind.startswith(types) and not kind.endswith("]")  # INTEGER[] is a list


def _is_text(kind: str) -> bool:
    return kind in ("VARCHAR", "JSON") or kind.startswith("ENUM")


def _shown(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    """A value as DuckDB writes it as text (``true``, not Python's ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: Any) -> str | None:
    """``value`` as an exact SQL number (an integer stays an integer, ``"0.1"`` a decimal,
    ``inf`` a DOUBLE), or None if it is no number (nor NaN: it orders above all)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if number.is_nan():
        return None
    if number.is_infinite():
        return "'-inf'::DOUBLE" if number < 0 else "'inf'::DOUBLE"
    return str(number)


def _bound(table: _Table, check: CheckSpec, column: str, kind: str, value: float | str) -> str:
    """A range bound as SQL of the column's type; a bound the type cannot hold is bad input."""
    if _is(kind, _NUMERIC):
        number = _number(value)
        if number is None:
            raise UserError(
                f"check {check.label}: column {column} holds numbers; give 'min'/'max' as "
                f"numbers, not {value!r}"
            )
        return number
    if _is(kind, _TEMPORAL):
        if not isinstance(value, str):
            raise UserError(
                f"check {check.label}: column {column} holds {kind.lower()} values; give "
                f"'min'/'max' as strings such as '2024-01-31'"
            )
        sql = f"CAST({quote_literal(value)} AS {kind})"
        table.scalar(check, f"SELECT {sql}")  # a bound that is no date says so here
        return sql
    if isinstance(value, str):
        return quote_literal(value)
    raise UserError(
        f"check {check.label}: column {column} is {kind}, not a number; give 'min'/'max' as "
        "strings to compare text, or cast the column in a transform"
    )


def _row_test(
    table: _Table, check: CheckSpec, ordinal: str | None = None, among: str | None = None
) -> _RowTest:
    """The SQL that says whether a row fails ``check`` (a row check); ``unique`` ranks the
    rows in ``ordinal`` order, only among those for which ``among`` holds if given."""
    cols = [table.column(check, c) for c in check.columns]
    names = ", ".join(check.columns)
    kind = check.check
    if kind == "not_null":
        return _RowTest(check, " OR ".join(f"{c} IS NULL" for c, _ in cols), f"NULL in {names}")
    if kind == "unique":
        parts = ", ".join(c for c, _ in cols)
        order = f" ORDER BY {ordinal}" if ordinal else ""
        fails = " AND ".join(f"{c} IS NOT NULL" for c, _ in cols)
        if among is not None:
            fails, parts = f"({among}) AND {fails}", f"{parts}, ({among})"
        fails += f" AND row_number() OVER (PARTITION BY {parts}{order}) > 1"
        return _RowTest(check, fails, f"repeats a value of ({names}) seen in an earlier row")
    if kind == "accepted_values":
        tests = []
        for (c, t), name in zip(cols, check.columns, strict=True):
            if _is_text(t):  # '01' is not the value 1: text is compared as text
                allowed = ", ".join(quote_literal(_text(v)) for v in check.values)
                tests.append(f"CAST({c} AS VARCHAR) NOT IN ({allowed})")
            else:
                allowed = ", ".join(_accepted(table, check, name, t, v) for v in check.values)
                tests.append(f"{c} NOT IN ({allowed})")
        return _RowTest(check, " OR ".join(tests), f"{names} not among the accepted values")
    if kind == "range":
        tests = []
        for (c, t), name in zip(cols, check.columns, strict=True):
            if check.min is not None:
                tests.append(f"{c} < {_bound(table, check, name, t, check.min)}")
            if check.max is not None:
                tests.append(f"{c} > {_bound(table, check, name, t, check.max)}")
            if _is(t, ("FLOAT", "DOUBLE", "REAL")):
                tests.append(f"isnan({c})")  # DuckDB orders NaN above all: it fails both ways
        low = "-inf" if check.min is None else _shown(check.min)
        high = "inf" if check.max is None else _shown(check.max)
        return _RowTest(check, " OR ".join(tests), f"{names} outside [{low}, {high}]")
    if kind == "regex":
        pattern = quote_literal(check.pattern or "")
        tests = [f"NOT regexp_full_match(CAST({c} AS VARCHAR), {pattern})" for c, _ in cols]
        return _RowTest(check, " OR ".join(tests), f"{names} does not match the pattern")
    if kind == "sql":
        return _RowTest(check, f"NOT ({check.sql})", "the row does not satisfy the sql predicate")
    raise UserError(f"check {check.label}: '{kind}' judges a whole table, not each row")


def _accepted(table: _Table, check: CheckSpec, column: str, kind: str, value: Any) -> str:
    """An accepted value as SQL of the column's type (a number stays exact, so 5.5 is no
    integer's value); a value the type cannot hold is bad input."""
    number = _number(value) if _is(kind, _NUMERIC) else None
    if number is not None:
        return number
    sql = f"TRY_CAST({quote_literal(_text(value))} AS {kind})"
    (cast,) = table.scalar(check, f"SELECT {sql} IS NOT NULL")
    if not cast:
        raise UserError(
            f"check {check.label}: value {_text(value)!r} is not a {kind}, the type of column "
            f"{column}; give values of that type"
        )
    return sql


def _result(
    check: CheckSpec,
    table: str,
    failing: int,
    checked: int,
    found: str,
    passed: str | None = None,
) -> CheckResult:
    status = _DONE[check.severity] if failing else "passed"
    after = {"warned": " (warning)", "quarantined": ": quarantined to the DLQ"}.get(status, "")
    return CheckResult(
        name=check.label,
        check=check.check,
        table=table,
        columns=list(check.columns),
        severity=check.severity,
        status=status,
        failing=failing,
        checked=checked,
        message=(found + after) if failing else (passed or f"passed on {checked:,} rows"),
    )


def _judge(table: _Table, check: CheckSpec) -> CheckResult:
    """One warn or fail check on the whole table, as one aggregate."""
    name, kind = table.name, check.check
    if kind == "row_count":
        (rows,) = table.scalar(check, f"SELECT count(*) FROM {name}")
        low, high = check.min, check.max
        bad = (low is not None and rows < float(low)) or (high is not None and rows > float(high))
        least = "0" if low is None else f"{int(float(low)):,}"
        most = "any" if high is None else f"{int(float(high)):,}"
        want = f"[{least}, {most}]"
        # A table check is one judgement: 1 of 1 failing, whatever the rows.
        found = f"{rows:,} rows, outside {want}"
        return _result(check, table.table, int(bad), 1, found, f"passed: {rows:,} rows")
    if kind == "freshness":
        column, ctype = table.column(check, check.columns[0])
        if not _is(ctype, ("DATE", "TIMESTAMP")):
            raise UserError(
                f"check {check.label}: column {check.columns[0]} is {ctype}, not a date or "
                "timestamp; cast it in a transform or name a time column"
            )
        newest = column if "TIME ZONE" in ctype else f"CAST({column} AS TIMESTAMP)"
        # 'infinity' is no time a row was made: the newest finite value is judged.
        (latest,) = table.scalar(
            check, f"SELECT epoch(max({newest}) FILTER (WHERE isfinite({newest}))) FROM {name}"
        )
        limit = duration_s(check.max_age or 0)
        if latest is None:
            found = f"{check.columns[0]} holds no (finite) value"
            return _result(check, table.table, 1, 1, found)
        age = time.time() - float(latest)
        found = f"the newest {check.columns[0]} is {_age(age)} old, more than {check.max_age}"
        fresh = f"passed: the newest {check.columns[0]} is {_age(age)} old"
        return _result(check, table.table, int(age > limit), 1, found, fresh)
    if kind == "unique":
        cols = ", ".join(table.column(check, c)[0] for c in check.columns)
        set_ = " AND ".join(f"{table.column(check, c)[0]} IS NOT NULL" for c in check.columns)
        extra, groups = table.scalar(
            check,
            f"SELECT coalesce(sum(n - 1), 0), count(*) FROM (SELECT count(*) AS n FROM {name} "
            f"WHERE {set_} GROUP BY {cols} HAVING count(*) > 1)",
        )
        (rows,) = table.scalar(check, f"SELECT count(*) FROM {name}")
        found = (
            f"{int(extra):,} of {rows:,} rows repeat a value of ({', '.join(check.columns)}) "
            f"({int(groups):,} repeated)"
        )
        return _result(check, table.table, int(extra), rows, found)
    test = _row_test(table, check)
    rows, failing = table.scalar(
        check, f"SELECT count(*), count(*) FILTER (WHERE coalesce({test.fails}, FALSE)) FROM {name}"
    )
    return _result(check, table.table, failing, rows, f"{failing:,} of {rows:,} rows: {test.why}")


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def run_checks(
    con: duckdb.DuckDBPyConnection, name: str, checks: Sequence[CheckSpec], table: str
) -> list[CheckResult]:
    """Run the checks that apply to ``table`` on the table ``name`` (quoted) of ``con``.

    A column a check names that the table lacks, a bound of the wrong type or SQL that does
    not run is a UserError, raised before any check's result is reported.
    """
    frame = _Table(con, name, table)
    return [_judge(frame, check) for check in checks if check.applies_to(table)]


def validate_checks(
    checks: Sequence[CheckSpec], table: str, columns: Sequence[tuple[str, str]]
) -> None:
    """Judge the checks that apply to ``table`` on an empty table of ``columns`` (name,
    DuckDB type), as :func:`run_checks` judges the data: a column it lacks, a bound or value
    of the wrong type, a time check on a column of no time, or SQL that does not run is a
    UserError before any data moves. Types DuckDB cannot create leave the checks to be
    judged on the data."""
    applied = [c for c in checks if c.applies_to(table)]
    if not applied or not columns:
        return
    with duckdb.connect(config=DUCKDB_OFFLINE) as con:
        defined = ", ".join(f"{quote_ident(n)} {t}" for n, t in columns)
        try:
            con.execute(f"CREATE TEMP TABLE empty_table ({defined})")
        except duckdb.Error:
            return
        run_checks(con, "empty_table", applied, table)


@dataclass
class Quarantined:
    """What :func:`quarantine` found: each check's result, the failing rows, and the SQL of
    the passing rows (in their order, without the ordinal column)."""

    results: list[CheckResult]
    bad_rows: list[BadRow]
    passing: str


def quarantine(
    con: duckdb.DuckDBPyConnection,
    name: str,
    checks: Sequence[CheckSpec],
    table: str,
    ordinal: str,
) -> Quarantined:
    """Split the table ``name`` (quoted; ``ordinal`` numbers its rows in read order) by the
    quarantine ``checks``: each failing row becomes a :class:`BadRow` (``file`` is
    ``check:<name>`` of the first check it fails, ``line`` its ordinal, ``raw`` the row as
    JSON), and the rest are what to load."""
    frame = _Table(con, name, table)
    order = quote_ident(ordinal)
    applied = [c for c in checks if c.applies_to(table)]
    # A row another check quarantines is not loaded, so it is no first occurrence: unique
    # ranks only the rows the other checks let through (each unique check on its own).
    others = {i: _row_test(frame, c) for i, c in enumerate(applied) if c.check != "unique"}
    among = " AND ".join(f"NOT coalesce({t.fails}, FALSE)" for t in others.values()) or None
    tests = [others.get(i) or _row_test(frame, c, order, among) for i, c in enumerate(applied)]
    flags = ", ".join(f"coalesce({t.fails}, FALSE) AS f{i}" for i, t in enumerate(tests))
    bad = quote_ident(f"{name.strip(chr(34))}_bad")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {bad} AS SELECT * FROM "
            f"(SELECT {order} AS o, {flags} FROM {name}) "
            f"WHERE {' OR '.join(f'f{i}' for i in range(len(tests)))}"
        )
    except duckdb.Error as exc:
        labels = ", ".join(t.check.label for t in tests)
        raise UserError(
            f"the quarantine checks of table '{table}' ({labels}) cannot run: {one_line(str(exc))}"
        ) from None
    counts = con.execute(
        f"SELECT (SELECT count(*) FROM {name}), "
        + ", ".join(f"count(*) FILTER (WHERE f{i})" for i in range(len(tests)))
        + f" FROM {bad}"
    ).fetchone()
    assert counts is not None
    rows = int(counts[0])
    results = [
        _result(t.check, table, int(n), rows, f"{int(n):,} of {rows:,} rows: {t.why}")
        for t, n in zip(tests, counts[1:], strict=True)
    ]
    bad_rows: list[BadRow] = []
    reader = con.execute(
        f"SELECT b.*, to_json(r) FROM {bad} b, LATERAL "
        f"(SELECT * EXCLUDE ({order}) FROM {name} x WHERE x.{order} = b.o) r ORDER BY b.o"
    )
    while chunk := reader.fetchmany(10_000):
        for row in chunk:
            failed = [t for t, hit in zip(tests, row[1:-1], strict=True) if hit]
            reason = "; ".join(f"check {t.check.label}: {t.why}" for t in failed)
            bad_rows.append(
                BadRow(table, f"check:{failed[0].check.label}", int(row[0]), reason, row[-1])
            )
    passing = (
        f"SELECT t.* EXCLUDE ({order}) FROM {name} t ANTI JOIN {bad} b ON t.{order} = b.o "
        f"ORDER BY t.{order}"
    )
    return Quarantined(results, bad_rows, passing)
