"""Each kind of check on hand-made rows in a real DuckDB connection: what passes, what fails
and how it is counted, NULL semantics, quarantine's split, and bad check specs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.quality.checks import quarantine, run_checks, validate_checks
from agent_orchestrated_etl.quality.frame import scratch
from agent_orchestrated_etl.spec import CheckSpec

ROWS = """
    SELECT * FROM (VALUES
        (1, 'paid',   10.5, 'a@x.com', DATE '2024-01-01', TIMESTAMP '{now}'),
        (2, 'paid',   20.0, 'b@x.com', DATE '2024-01-02', TIMESTAMP '{now}'),
        (3, 'refund', -5.0, 'bad',     DATE '2024-03-01', NULL),
        (3, 'oops',    7.0, NULL,      NULL,              NULL),
        (4, NULL,    200.0, 'd@x.com', DATE '2024-01-05', NULL)
    ) v(id, status, amount, email, day, seen)
"""


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = scratch(tmp_path_factory.mktemp("home"))
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    connection.execute(f"CREATE TEMP TABLE t AS {ROWS.format(now=now.isoformat(sep=' '))}")
    yield connection
    connection.close()


def judge(con: duckdb.DuckDBPyConnection, **fields: object) -> tuple[str, int, int, str]:
    check = CheckSpec.model_validate({"severity": "warn", **fields})
    (result,) = run_checks(con, "t", [check], "orders")
    return result.status, result.failing, result.checked, result.message


@pytest.mark.parametrize(
    ("fields", "status", "failing"),
    [
        ({"check": "not_null", "columns": ["id", "amount"]}, "passed", 0),
        ({"check": "not_null", "column": "email"}, "warned", 1),
        ({"check": "not_null", "columns": "status, email"}, "warned", 2),
        ({"check": "unique", "column": "email"}, "passed", 0),  # NULLs are not judged
        ({"check": "unique", "column": "id"}, "warned", 1),  # the rows beyond the first
        ({"check": "unique", "columns": ["id", "status"]}, "passed", 0),
        (
            {"check": "accepted_values", "column": "status", "values": ["paid", "refund"]},
            "warned",
            1,
        ),
        ({"check": "accepted_values", "column": "id", "values": [1, 2, 3, 4]}, "passed", 0),
        ({"check": "accepted_values", "column": "id", "values": ["1", "2"]}, "warned", 3),
        ({"check": "range", "column": "amount", "min": 0, "max": 100}, "warned", 2),
        ({"check": "range", "column": "amount", "min": -10}, "passed", 0),
        (
            {"check": "range", "column": "day", "min": "2024-01-01", "max": "2024-01-31"},
            "warned",
            1,
        ),
        ({"check": "regex", "column": "email", "pattern": r"[^@]+@[^@]+\.com"}, "warned", 1),
        ({"check": "regex", "column": "status", "pattern": "[a-z]+"}, "passed", 0),
        ({"check": "row_count", "min": 1, "max": 5}, "passed", 0),
        ({"check": "row_count", "min": 6}, "warned", 1),
        ({"check": "row_count", "max": 4}, "warned", 1),
        ({"check": "freshness", "column": "seen", "max_age": "2h"}, "passed", 0),
        ({"check": "freshness", "column": "seen", "max_age": "30m"}, "warned", 1),
        ({"check": "freshness", "column": "day", "max_age": "7d"}, "warned", 1),
        ({"check": "sql", "sql": "amount < 1000"}, "passed", 0),
        # A NULL predicate passes (as in dbt): only 'refund' and 'oops' rows are judged false.
        ({"check": "sql", "expression": "status IN ('paid') OR amount > 100"}, "warned", 2),
    ],
)
def test_each_kind_passes_and_fails_on_hand_made_rows(
    con: duckdb.DuckDBPyConnection, fields: dict[str, object], status: str, failing: int
) -> None:
    found, count, checked, message = judge(con, **fields)
    assert (found, count) == (status, failing), message
    assert checked == (1 if fields["check"] in ("row_count", "freshness") else 5)  # table: 1
    assert "\n" not in message


def test_messages_say_what_was_found_without_values(con: duckdb.DuckDBPyConnection) -> None:
    assert judge(con, check="unique", column="id")[3] == (
        "1 of 5 rows repeat a value of (id) (1 repeated) (warning)"
    )
    assert judge(con, check="range", column="amount", min=0, max=100)[3] == (
        "2 of 5 rows: amount outside [0, 100] (warning)"
    )
    stale = judge(con, check="freshness", column="seen", max_age="30m")[3]
    assert stale.startswith("the newest seen is 1.0h old, more than 30m")
    assert "bad" not in judge(con, check="regex", column="email", pattern="x")[3]


def test_severity_decides_the_status(con: duckdb.DuckDBPyConnection) -> None:
    checks = [
        CheckSpec(check="not_null", columns=("email",), severity="fail"),
        CheckSpec(check="not_null", columns=("id",), severity="fail"),
        CheckSpec(check="not_null", columns=("email",), table="other"),
    ]
    results = run_checks(con, "t", checks, "orders")
    assert [(r.name, r.status) for r in results] == [
        ("not_null:*.email", "failed"),
        ("not_null:*.id", "passed"),
    ]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"check": "not_null", "column": "nope"}, "table 'orders' has no column 'nope'; its "),
        ({"check": "freshness", "column": "email", "max_age": "1d"}, "is VARCHAR, not a date"),
        ({"check": "range", "column": "amount", "min": "low"}, "give 'min'/'max' as numbers"),
        ({"check": "range", "column": "email", "min": 3}, "is VARCHAR, not a number"),
        ({"check": "range", "column": "day", "min": "soon"}, "cannot run on table 'orders'"),
        ({"check": "sql", "sql": "nope > 1"}, "cannot run on table 'orders'"),
    ],
)
def test_a_check_that_cannot_run_is_one_line_of_bad_input(
    con: duckdb.DuckDBPyConnection, fields: dict[str, object], says: str
) -> None:
    with pytest.raises(UserError) as caught:
        judge(con, **fields)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_quarantine_splits_rows_in_their_order(tmp_path: Path) -> None:
    con = scratch(tmp_path)
    con.execute(
        "CREATE TEMP TABLE q AS SELECT *, row_number() OVER () AS o FROM (VALUES "
        "(1, 'a', 5), (2, 'b', 50), (1, 'c', 6), (3, NULL, 7), (4, 'e', NULL)) v(id, name, n)"
    )
    checks = [
        CheckSpec(check="unique", columns=("id",), severity="quarantine"),
        CheckSpec(check="range", columns=("n",), max=10, severity="quarantine", name="small"),
        CheckSpec(check="not_null", columns=("name",), severity="warn"),  # not a quarantine
    ]
    found = quarantine(con, "q", checks[:2], "orders", "o")
    assert [(r.name, r.status, r.failing) for r in found.results] == [
        ("unique:*.id", "quarantined", 1),
        ("small", "quarantined", 1),
    ]
    assert [(b.file, b.line) for b in found.bad_rows] == [
        ("check:small", 2),
        ("check:unique:*.id", 3),
    ]
    assert json.loads(str(found.bad_rows[1].raw)) == {"id": 1, "name": "c", "n": 6}
    assert found.bad_rows[0].reason == "check small: n outside [-inf, 10]"
    assert con.execute(found.passing).fetchall() == [(1, "a", 5), (3, None, 7), (4, "e", None)]
    con.close()


def test_accepted_values_compare_text_as_text_and_cast_values_to_other_types(
    tmp_path: Path,
) -> None:
    con = scratch(tmp_path)
    con.execute(
        "CREATE TEMP TABLE v AS SELECT * FROM (VALUES ('1', 3.0::DOUBLE, 1), ('01', 2.5, 2), "
        "('1.0', NULL, 3), (' 1', 3.0, 4), ('a', 3.0, 5)) t(code, score, n)"
    )

    def failing(**fields: object) -> int:
        check = CheckSpec.model_validate({"check": "accepted_values", "severity": "warn", **fields})
        (result,) = run_checks(con, "v", [check], "orders")
        return result.failing

    # Text is compared as text: '01', '1.0' and ' 1' are not the value 1.
    assert failing(column="code", values=[1]) == 4
    assert failing(column="code", values=[1, "a"]) == 3
    # A text value is read as the column's type: "3" accepts 3.0.
    assert failing(column="score", values=["3"]) == 1
    assert failing(column="score", values=[3, 2.5]) == 0
    assert failing(column="n", values=[1, 2, 3, 4, 5.5]) == 1  # 5.5 is no integer: 5 fails
    with pytest.raises(UserError) as caught:
        failing(column="score", values=[3, "high"])
    assert str(caught.value) == (
        "check accepted_values:*.score: value 'high' is not a DOUBLE, the type of column "
        "score; give values of that type"
    )
    con.close()


def test_accepted_values_refuse_null_and_regex_is_validated_as_re2() -> None:
    with pytest.raises(ValueError, match="'values' holds null: a NULL passes every check"):
        CheckSpec.model_validate({"check": "accepted_values", "column": "s", "values": ["a", None]})
    with pytest.raises(ValueError) as caught:
        CheckSpec.model_validate({"check": "regex", "column": "s", "pattern": "(?=a)a"})
    assert "check 'regex': pattern '(?=a)a' is not valid RE2: invalid perl operator: (?=" in str(
        caught.value
    )
    assert CheckSpec.model_validate({"check": "regex", "column": "s", "pattern": r"\pL+"})


def test_unique_quarantine_ranks_only_the_rows_other_checks_let_through(tmp_path: Path) -> None:
    con = scratch(tmp_path)
    con.execute(
        "CREATE TEMP TABLE q AS SELECT *, row_number() OVER () AS o FROM (VALUES "
        "(2, NULL), (2, 'c'), (3, 'd'), (3, 'e')) v(id, s)"
    )
    checks = [
        CheckSpec(check="unique", columns=("id",), severity="quarantine"),
        CheckSpec(check="not_null", columns=("s",), severity="quarantine"),
    ]
    found = quarantine(con, "q", checks, "orders", "o")
    assert [(r.name, r.failing) for r in found.results] == [
        ("unique:*.id", 1),
        ("not_null:*.s", 1),
    ]
    assert con.execute(found.passing).fetchall() == [(2, "c"), (3, "d")]
    con.close()


def test_range_bounds_keep_integers_exact_take_infinity_and_fail_nan(tmp_path: Path) -> None:
    con = scratch(tmp_path)
    con.execute(
        "CREATE TEMP TABLE r AS SELECT * FROM (VALUES (9007199254740993::BIGINT, 1.0::DOUBLE), "
        "(1, 'nan'::DOUBLE), (2, 5.0)) t(big, x)"
    )

    def failing(**fields: object) -> int:
        check = CheckSpec.model_validate({"check": "range", "severity": "warn", **fields})
        (result,) = run_checks(con, "r", [check], "orders")
        return result.failing

    assert failing(column="big", max=9007199254740993) == 0
    assert failing(column="big", max=9007199254740992) == 1
    assert failing(column="big", max="9007199254740993") == 0
    assert failing(column="x", min=0, max="inf") == 1  # the NaN, whichever bound
    assert failing(column="x", min=0) == 1
    assert failing(column="x", max=10) == 1
    assert failing(column="x", min="-inf", max=2) == 2
    con.close()


def test_table_checks_count_one_and_an_infinite_timestamp_is_not_fresh(tmp_path: Path) -> None:
    con = scratch(tmp_path)
    con.execute(
        "CREATE TEMP TABLE f AS SELECT * FROM (VALUES (TIMESTAMP '2020-01-01'), "
        "('infinity'::TIMESTAMP)) t(seen)"
    )
    fresh = CheckSpec(check="freshness", columns=("seen",), max_age="1d", severity="warn")
    count = CheckSpec(check="row_count", min=5, severity="warn")
    stale, few = run_checks(con, "f", [fresh, count], "orders")
    assert (stale.status, stale.failing, stale.checked) == ("warned", 1, 1)
    assert stale.message.startswith("the newest seen is ")
    assert (few.status, few.failing, few.checked) == ("warned", 1, 1)
    assert few.message == "2 rows, outside [5, any] (warning)"
    ok = CheckSpec(check="row_count", min=1, severity="warn")
    (passed,) = run_checks(con, "f", [ok], "orders")
    assert (passed.failing, passed.checked, passed.message) == (0, 1, "passed: 2 rows")
    con.close()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"check": "freshness", "column": "t", "max_age": -5}, "'max_age' must be more than 0"),
        ({"check": "freshness", "column": "t", "max_age": "0h"}, "'max_age' must be more than 0"),
        ({"check": "range", "column": "a", "min": 10, "max": 1}, "'min' (10) is above 'max' (1)"),
        ({"check": "range", "column": "a", "min": "2", "max": 1.5}, "is above 'max'"),
        ({"check": "row_count", "min": 5, "max": 2}, "'min' (5) is above 'max' (2)"),
        (
            {"check": "range", "column": "d", "min": "2024-03-01", "max": "2024-01-01"},
            "'min' ('2024-03-01') is above 'max' ('2024-01-01')",
        ),
    ],
)
def test_a_check_spec_refuses_an_empty_freshness_window_and_bounds_in_the_wrong_order(
    fields: dict[str, object], says: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        CheckSpec.model_validate(fields)
    assert CheckSpec.model_validate({"check": "range", "column": "a", "min": 1, "max": 1})


COLUMNS = (("id", "BIGINT"), ("status", "VARCHAR"), ("amount", "DOUBLE"), ("day", "DATE"))


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"check": "not_null", "column": "idd"}, "table 'orders' has no column 'idd'"),
        ({"check": "sql", "sql": "amount >>> 3"}, "cannot run on table 'orders'"),
        ({"check": "sql", "sql": "nosuchcol > 3"}, "cannot run on table 'orders'"),
        ({"check": "range", "column": "amount", "min": "abc"}, "give 'min'/'max' as numbers"),
        ({"check": "range", "column": "day", "min": "not-a-date"}, "cannot run on table"),
        ({"check": "freshness", "column": "status", "max_age": "1h"}, "is VARCHAR, not a date"),
        ({"check": "accepted_values", "column": "id", "values": ["x"]}, "'x' is not a BIGINT"),
        ({"check": "unique", "columns": ["id", "nope"]}, "has no column 'nope'"),
    ],
)
def test_checks_are_validated_against_known_columns_without_data(
    fields: dict[str, object], says: str
) -> None:
    check = CheckSpec.model_validate(fields)
    with pytest.raises(UserError) as caught:
        validate_checks([check], "orders", COLUMNS)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_valid_checks_and_unknown_types_pass_validation() -> None:
    good = [
        CheckSpec.model_validate(f)
        for f in (
            {"check": "range", "column": "day", "min": "2024-01-01"},
            {"check": "sql", "sql": "amount >= 0 OR status = 'refund'"},
            {"check": "freshness", "column": "day", "max_age": "1d"},
            {"check": "unique", "columns": "ID, Status"},  # names fold as DuckDB folds them
            {"check": "not_null", "column": "x", "table": "other"},  # not this table's check
        )
    ]
    validate_checks(good, "orders", COLUMNS)
    # A type DuckDB cannot create is no reason to refuse: the check is judged on the data.
    odd = (("id", "NOT A TYPE"),)
    validate_checks([CheckSpec(check="range", columns=("id",), min=1)], "orders", odd)
