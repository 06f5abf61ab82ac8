"""CSV column typing: null tokens reported, dates and their format, the decimal comma, and a
cost linear in rows x columns on wide files."""

from __future__ import annotations

import random
import time
from datetime import date
from pathlib import Path

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors.base import Resource
from agent_orchestrated_etl.connectors.files import _csv_types
from agent_orchestrated_etl.connectors.files.source import FileSource
from agent_orchestrated_etl.data.duck import connect, quote_ident, quote_literal
from agent_orchestrated_etl.spec import FileSourceSpec
from tests.helpers import query, said


def discover(path: Path, **csv: object) -> Resource:
    spec = FileSourceSpec(uri=str(path), csv=csv) if csv else FileSourceSpec(uri=str(path))
    (resource,) = FileSource(spec).discover()
    return resource


def load(orch: DataOrchestrator, path: Path, **kw: object) -> tuple[int, int]:
    spec = orch.create_pipeline(str(path), "duckdb:///w.duckdb", table="t", **kw).spec  # type: ignore[arg-type]
    result = orch.run(spec)
    assert result.status == "success", result.error
    table = result.tables["t"]
    return table.rows_loaded, table.rows_rejected


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_null_tokens_are_null_in_every_column_and_reported(
    orch: DataOrchestrator, work: Path
) -> None:
    rows = [
        f"{i},{'NA' if i in (3, 9) else 30 + i / 10},{'NA' if i == 5 else 'Adelie'}"
        for i in range(40)
    ]
    rows[20] = "20,-,Gentoo"
    path = write(work / "penguins.csv", "id,bill_length_mm,species", rows)
    decisions = said(discover(path))
    assert "column bill_length_mm: 2 'NA', 1 '-' read as NULL" in decisions
    assert "column species: 1 'NA' read as NULL" in decisions
    assert load(orch, path) == (40, 0)
    assert query(
        work / "w.duckdb",
        "SELECT count(*) FILTER (WHERE bill_length_mm IS NULL), "
        "count(*) FILTER (WHERE species IS NULL), count(*) FILTER (WHERE species = 'NA') FROM t",
    ) == [(3, 1, 0)]


def test_a_value_neither_null_nor_numeric_is_still_quarantined(
    orch: DataOrchestrator, work: Path
) -> None:
    rows = [f"{i},{'NA' if i == 4 else i * 2}" for i in range(50)]
    rows[30] = "30,thirty"
    path = write(work / "n.csv", "id,amount", rows)
    resource = discover(path)
    assert dict(resource.columns)["amount"] == "BIGINT"
    assert any("column amount: BIGINT (98.0% of 49" in d for d in said(resource))
    assert load(orch, path) == (49, 1)


def test_null_values_from_the_spec_keep_na_as_text(work: Path) -> None:
    rows = [f"{i},{'NA' if i % 7 == 0 else 'x'}" for i in range(30)]
    path = write(work / "keep.csv", "id,code", rows)
    resource = discover(path, null_values=[""])
    assert not any("read as NULL" in d for d in said(resource))


def dates_file(work: Path, name: str, values: list[str]) -> Path:
    rows = [f"{i},{v}" for i, v in enumerate(values * (30 // len(values) + 1))]
    return write(work / name, "id,born", rows)


def test_day_first_and_month_first_are_told_by_a_value_over_12(work: Path) -> None:
    day = discover(dates_file(work, "d.csv", ["01/02/2000", "31/01/2000", "05/03/2001"]))
    assert dict(day.columns)["born"] == "DATE"
    assert dict(day.options())["dateformat"] == "'%d/%m/%Y'"
    assert any(
        d.startswith("column born: DATE (format '%d/%m/%Y' (day-first: values such as 31/01/2000)")
        for d in said(day)
    ), said(day)
    month = discover(dates_file(work, "m.csv", ["01/02/2000", "01/31/2000", "05/03/2001"]))
    assert dict(month.options())["dateformat"] == "'%m/%d/%Y'"
    assert any("month-first: values such as 01/31/2000" in d for d in said(month))
    both = discover(dates_file(work, "b.csv", ["01/02/2000", "03/04/2000"]))
    assert any("no sampled value tells day from month" in d for d in said(both))


def test_month_names_and_dotted_dates_load_as_dates(orch: DataOrchestrator, work: Path) -> None:
    cases = {
        "mon.csv": (["Jan 1 2000", "Feb 13 2001", "Dec 31 1999"], "%b %d %Y"),
        "full.csv": (["1 January 2000", "13 February 2001", "31 December 1999"], "%d %B %Y"),
        "dots.csv": (["01.02.2000", "13.02.2001", "31.12.1999"], "%d.%m.%Y"),
    }
    for name, (values, fmt) in cases.items():
        path = dates_file(work, name, values)
        resource = discover(path)
        assert dict(resource.columns)["born"] == "DATE", (name, said(resource))
        assert any(f"column born: DATE (format '{fmt}'" in d for d in said(resource))
    assert load(orch, work / "mon.csv") == (33, 0)
    assert query(work / "w.duckdb", "SELECT born FROM t WHERE id < 3 ORDER BY id") == [
        (date(2000, 1, 1),),
        (date(2001, 2, 13),),
        (date(1999, 12, 31),),
    ]


def test_a_date_that_does_not_parse_is_quarantined(orch: DataOrchestrator, work: Path) -> None:
    values = [f"{m} {d} 2000" for m in ("Jan", "Feb", "Mar") for d in range(1, 11)]
    values[7] = "soon"
    path = write(work / "bad.csv", "id,born", [f"{i},{v}" for i, v in enumerate(values)])
    assert load(orch, path) == (29, 1)


def test_columns_with_another_date_format_get_a_projection(work: Path) -> None:
    rows = [f"{i},2000-01-{i % 28 + 1:02d},Jan {i % 28 + 1} 2000" for i in range(40)]
    rows[10] = "10,2000-01-11,later"
    path = write(work / "two.csv", "id,iso,named", rows)
    con = connect()
    nulls = _csv_types.DEFAULT_NULL_VALUES
    options = {
        "delim": "','",
        "quote": "'\"'",
        "escape": "'\"'",
        "header": "true",
        "nullstr": "[" + ", ".join(quote_literal(v) for v in nulls) + "]",
    }
    cols = [("id", "BIGINT"), ("iso", "DATE"), ("named", "VARCHAR")]
    typing = _csv_types.type_columns(con, path, options, cols, sample_rows=1000, null_tokens=nulls)
    assert typing.columns == cols  # ISO is read natively, so 'named' stays text in read_csv
    assert "dateformat" not in typing.options
    (proj,) = typing.projections
    assert (proj.column, proj.type, proj.format) == ("named", "DATE", "%b %d %Y")
    read = f"SELECT * FROM read_csv({quote_literal(str(path))}, header=true, all_varchar=true)"
    rows_out = con.execute(
        f"SELECT {proj.expression()}, {proj.failed()}, {proj.reason()} FROM ({read}) "
        f"ORDER BY {quote_ident('id')}::INT"
    ).fetchall()
    assert rows_out[0][:2] == (date(2000, 1, 1), False)
    assert rows_out[10] == (None, True, "column named: later is not a date in format '%b %d %Y'")
    assert sum(r[1] for r in rows_out) == 1
    # Until the reader applies projections, the plan says the column stays text, and how to
    # convert it.
    (resource,) = FileSource(FileSourceSpec(uri=str(path))).discover()
    assert dict(resource.columns)["named"] == "VARCHAR"
    assert (
        "column named: VARCHAR (its values are dates in format '%b %d %Y' (values such as "
        "Jan 1 2000), but read_csv takes one date format and the file's is '%Y-%m-%d'; "
        """convert it with strptime("named", '%b %d %Y')::DATE)"""
    ) in said(resource)


def test_decimal_comma_is_detected_under_semicolons(orch: DataOrchestrator, work: Path) -> None:
    rows = [f"{i};{i},{i % 10};name {i}" for i in range(30)]
    rows[3] = "3;oops;name 3"
    path = write(work / "eu.csv", "id;price;label", rows)
    resource = discover(path)
    assert dict(resource.options())["decimal_separator"] == "','"
    assert dict(resource.columns)["price"] == "DOUBLE"
    assert any(d.startswith("decimal separator: ','") for d in said(resource))
    assert load(orch, path) == (29, 1)
    assert query(work / "w.duckdb", "SELECT price FROM t WHERE id = 12") == [(12.2,)]


def test_decimal_separator_from_the_spec(orch: DataOrchestrator, work: Path) -> None:
    rows = [f"{i}|{i},5" for i in range(30)]
    rows[8] = "8|n/a-ish"
    path = write(work / "pipe.csv", "id|amount", rows)
    resource = discover(path, decimal_separator=",")
    assert dict(resource.columns)["amount"] == "DOUBLE", said(resource)
    assert any("DOUBLE with a decimal comma" in d for d in said(resource))


def test_wide_file_types_in_linear_time(work: Path) -> None:
    """600 columns used to take minutes (one aggregate per column and type in one SELECT)."""
    rnd = random.Random(7)
    cols = 600
    header = ",".join(f"c{c}" for c in range(cols))

    def gen(c: int) -> str:
        return (
            str(rnd.randint(0, 999)) if c % 3 == 0 else f"{rnd.random():.3f}" if c % 3 == 1 else "f"
        )

    rows = [
        ",".join("bad" if rnd.random() < 0.003 else gen(c) for c in range(cols)) for _ in range(300)
    ]
    path = write(work / "wide.csv", header, rows)
    start = time.perf_counter()
    resource = discover(path)
    elapsed = time.perf_counter() - start
    types = [t for _, t in resource.columns]
    assert [types.count(t) for t in ("BIGINT", "DOUBLE", "BOOLEAN")] == [200, 200, 200]
    assert elapsed < 30, elapsed
