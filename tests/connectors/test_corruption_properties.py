"""Property tests: in CSV and NDJSON files with random corruptions, every record is accounted for.

Hypothesis writes files with truncated, ragged, undecodable, over-long and stray-quoted rows,
blank lines, CRLF line ends and byte-order marks. Each is loaded, and the result is checked
against Python's own csv and json readers: rows loaded + rows quarantined = records in the
input, and the rows loaded are exactly the readable ones.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import query

# Repeated random trials (about 30 s): with the soak trials in `make test-hardening`, which CI
# runs too; tests/corpus and tests/connectors/test_csv_properties.py keep the promise in
# `make test`.
pytestmark = pytest.mark.soak

_counter = itertools.count()
LIMIT = 1_000  # max_line_size in these tests: a 'huge' field is longer

# Quotes, delimiters and line breaks inside fields (csv.writer quotes them), non-ASCII text.
text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\r", whitelist_characters=',\n"'
    ),
    max_size=12,
).map(lambda s: "v" + s)
CSV_DAMAGE = ("extra_field", "missing_field", "bad_byte", "huge", "stray_quote", "blank")
JSON_DAMAGE = ("truncated", "bad_byte", "huge", "not_object", "empty", "null", "blank")


def _mostly_clean(kinds: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A row's damage: none two times in three (corruption is what files have a little of)."""
    return st.one_of(st.just("none"), st.just("none"), st.sampled_from(kinds))


DAMAGE_CSV = _mostly_clean(CSV_DAMAGE)
DAMAGE_JSON = _mostly_clean(JSON_DAMAGE)


def _run(case: Path, name: str) -> tuple[dict[str, int], list[tuple[object, ...]], int]:
    home = case / ".aoetl"
    spec = validate_spec(
        {
            "name": name,
            "source": {"uri": str(case / name), "max_line_size": LIMIT},
            "target": f"duckdb:///{case / 'w.duckdb'}",
            "max_bad_ratio": 1.0,
        }
    )
    result = DataOrchestrator(home=home).run(spec)
    assert result.status == "success", result.error
    table = next(iter(result.tables.values()))
    stem = next(iter(result.tables))
    loaded = query(case / "w.duckdb", f'SELECT * FROM "{stem}"')
    dlq = len(StateStore(home).dlq_entries(result.run_id))
    counts = {"loaded": table.rows_loaded, "rejected": table.rows_rejected, "read": table.rows_read}
    return counts, loaded, dlq


@st.composite
def damaged_csv(draw: st.DrawFn) -> tuple[bytes, dict[int, list[str]], set[int], int]:
    """(file bytes, readable rows by id, ids that may load or not, records in the file)."""
    width = draw(st.integers(min_value=1, max_value=3))
    count = draw(st.integers(min_value=3, max_value=25))
    crlf = draw(st.booleans())
    end = b"\r\n" if crlf else b"\n"
    lines = [",".join(["id", *(f"c{i}" for i in range(width))]).encode()]
    good: dict[int, list[str]] = {}
    either: set[int] = set()
    records = 0
    for row_id in range(count):
        cells = [str(row_id), *draw(st.lists(text, min_size=width, max_size=width))]
        damage = draw(DAMAGE_CSV)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)  # fields with \n get quoted
        line = buf.getvalue().removesuffix("\n").encode()
        records += 1
        if damage == "extra_field":
            line += b",extra"
        elif damage == "missing_field":
            line = str(row_id).encode() if width > 1 else line + b",x,y"
        elif damage == "bad_byte":
            line = (f"{row_id}," + ",".join(["vcaf"] * width)).encode() + b"\xe9"
            either.add(row_id)  # enough of them and the file is read as latin-1
        elif damage == "huge":  # one field longer than max_line_size
            line = (f"{row_id}," + ",".join(["v" + "h" * (LIMIT + 10)] * width)).encode()
        elif damage == "stray_quote":
            line = f"{row_id}," + ",".join(f'x"{i}' for i in range(width))
            line = line.encode()
            either.add(row_id)  # read literally, or rejected as an unterminated quote
        else:
            good[row_id] = cells
            if damage == "blank":
                lines.append(b"")
        lines.append(line)
    return end.join(lines) + end, good, either, records


@given(case_data=damaged_csv())
def test_csv_every_record_is_loaded_or_quarantined(
    tmp_path: Path, case_data: tuple[bytes, dict[int, list[str]], set[int], int]
) -> None:
    body, good, either, records = case_data
    case = tmp_path / f"case{next(_counter)}"
    case.mkdir()
    (case / "data.csv").write_bytes(body)
    counts, loaded, dlq = _run(case, "data.csv")
    assert counts["loaded"] + counts["rejected"] == counts["read"] == records
    assert dlq == counts["rejected"]
    by_id = {int(str(row[0])): [str(v) for v in row] for row in loaded}
    assert len(by_id) == len(loaded)
    for row_id, cells in good.items():
        assert by_id.get(row_id) == cells, (row_id, cells)
    assert set(by_id) <= set(good) | either


@st.composite
def damaged_ndjson(draw: st.DrawFn) -> tuple[bytes, Counter[tuple[object, object]], int]:
    """(file bytes, the (id, t) pairs that must load, records in the file)."""
    count = draw(st.integers(min_value=2, max_value=25))
    end = b"\r\n" if draw(st.booleans()) else b"\n"
    # One clean record first, so the file always has columns to load into.
    lines = [json.dumps({"id": -1, "t": "first"}).encode()]
    good: Counter[tuple[object, object]] = Counter({(-1, "first"): 1})
    records = 1
    for row_id in range(count):
        value = draw(text)
        line = json.dumps({"id": row_id, "t": value}, ensure_ascii=False).encode()
        damage = draw(DAMAGE_JSON)
        records += damage != "blank"
        if damage == "truncated":  # no strict prefix of an object parses
            line = line[: draw(st.integers(min_value=1, max_value=len(line) - 1))]
        elif damage == "bad_byte":
            line = line[:-2] + b"\xff" + line[-2:]
        elif damage == "huge":
            line = json.dumps({"id": row_id, "t": "h" * (LIMIT + 10)}).encode()
        elif damage == "not_object":
            line = draw(st.sampled_from([b"5", b"[1, 2]", b'"text"', b"true"]))
        elif damage == "empty":
            line = b"{}"
            good[(None, None)] += 1
        elif damage == "null":
            line = b"null"
            good[(None, None)] += 1
        elif damage == "blank":
            line = b"   "
        else:
            good[(row_id, value)] += 1
        lines.append(line)
    if draw(st.booleans()):
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    return end.join(lines) + end, good, records


@given(case_data=damaged_ndjson())
def test_ndjson_every_record_is_loaded_or_quarantined(
    tmp_path: Path, case_data: tuple[bytes, Counter[tuple[object, object]], int]
) -> None:
    body, good, records = case_data
    case = tmp_path / f"case{next(_counter)}"
    case.mkdir()
    (case / "data.jsonl").write_bytes(body)
    counts, loaded, dlq = _run(case, "data.jsonl")
    assert counts["loaded"] + counts["rejected"] == counts["read"] == records
    assert dlq == counts["rejected"]
    assert Counter((row[0], row[1]) for row in loaded) == +good
