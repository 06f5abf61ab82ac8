"""Property tests: whatever Python's csv module writes, aoetl loads back exactly."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from agent_orchestrated_etl import DataOrchestrator
from tests.helpers import query

_counter = itertools.count()

# Quotes, delimiters, embedded newlines and non-ASCII text; no NUL, no bare CR.
cell_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\r", whitelist_characters='\n",;\t'
    ),
    max_size=20,
).map(lambda s: "v" + s)  # a letter first keeps the column text and the cell non-empty


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(min_value=1, max_value=4))
    header = [f"col_{i}" for i in range(width)]
    rows = draw(st.lists(st.lists(cell_text, min_size=width, max_size=width), max_size=15))
    return header, rows


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


@given(table=tables())
# A one-column file whose values end in a tab: the tab is not a delimiter, and line 1 is
# the header, not a preamble (found by the search; see tests/conftest.py).
@example(table=(["col_0"], [["v\t"], ["v\t"], ["v\t"], ["v\t"]]))
@example(table=(["col_0"], [["v\t"], ["v"], ["v\t"], ["v\t"], ["v\t"]]))
def test_round_trip(tmp_path: Path, table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    case = tmp_path / f"case{next(_counter)}"
    case.mkdir()
    (case / "data.csv").write_text(to_csv(header, rows), encoding="utf-8")
    orch = DataOrchestrator(home=case / ".aoetl")
    spec = orch.create_pipeline(str(case / "data.csv"), f"duckdb:///{case / 'w.duckdb'}").spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert result.tables["data"].rows_rejected == 0
    loaded = query(case / "w.duckdb", "SELECT * FROM data")
    assert [list(map(str, r)) for r in loaded] == rows
    cols = query(
        case / "w.duckdb", "SELECT column_name FROM duckdb_columns() WHERE table_name = 'data'"
    )
    assert [c[0] for c in cols] == header


def test_empty_file_loads_nothing_and_says_so(orch: DataOrchestrator, work: Path) -> None:
    (work / "empty.csv").write_text("")
    result = orch.run(orch.create_pipeline("empty.csv", "duckdb:///w.duckdb"))
    assert result.status == "success"
    assert result.tables == {}
    assert any("empty" in note for note in result.notes)


def test_header_only_file_creates_an_empty_table(orch: DataOrchestrator, work: Path) -> None:
    (work / "header.csv").write_text("id,name,amount\n")
    result = orch.run(orch.create_pipeline("header.csv", "duckdb:///w.duckdb"))
    assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT count(*) FROM header") == [(0,)]
    cols = query(
        work / "w.duckdb", "SELECT column_name FROM duckdb_columns() WHERE table_name = 'header'"
    )
    assert [c[0] for c in cols] == ["id", "name", "amount"]
