"""Real-world file shapes that broke aoetl once, each loaded and compared with another reader.

The small files in ``data/`` reproduce the cases (files that are too big to keep are made
here). Each test loads through the real CLI and checks what landed against the standard
library's csv/json readers, or DuckDB's own reader given explicit options.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.helpers import query, run_cli

DATA = Path(__file__).parent / "data"


def _load(work: Path, source: str, *args: str) -> dict[str, object]:
    done = run_cli("run", source, "--to", "duckdb:///w.duckdb", "--json", *args, cwd=work)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _table(result: dict[str, object], name: str) -> dict[str, int]:
    tables = result["tables"]
    assert isinstance(tables, dict)
    table: dict[str, int] = tables[name]
    assert table["rows_loaded"] + table["rows_rejected"] == table["rows_read"]
    return table


@pytest.fixture
def copy(work: Path):  # type: ignore[no-untyped-def]
    def _copy(name: str) -> str:
        src = DATA / name
        if src.is_dir():
            shutil.copytree(src, work / name)
        else:
            shutil.copy(src, work / name)
        return name

    return _copy


def test_a_truncated_ndjson_line_is_quarantined_alone(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    result = _load(work, copy("truncated.jsonl"))
    table = _table(result, "truncated")
    assert (table["rows_loaded"], table["rows_rejected"]) == (3, 1)  # was 2 and 1
    expected = []
    for line in (DATA / "truncated.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        expected.append((record["a"], record["b"]))
    assert query(work / "w.duckdb", "SELECT a, b FROM truncated ORDER BY a") == expected


def test_null_records_and_a_byte_order_mark_load(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    result = _load(work, copy("nulls_bom.jsonl"))
    table = _table(result, "nulls_bom")
    raw = (DATA / "nulls_bom.jsonl").read_bytes().decode("utf-8-sig").splitlines()
    records = []
    for line in raw:
        if not line.strip():
            continue
        try:
            records.append(json.loads(line) or {})
        except ValueError:
            continue
    assert table["rows_loaded"] == len(records) == 5
    assert table["rows_rejected"] == 1
    loaded = query(work / "w.duckdb", "SELECT id, v FROM nulls_bom")
    assert sorted(loaded, key=str) == sorted([(r.get("id"), r.get("v")) for r in records], key=str)


def test_a_preamble_line_is_skipped_and_said(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    name = copy("tumours_preamble.csv")
    plan = run_cli("run", name, "--list-tasks", cwd=work)
    assert "lines skipped before the header: 1 (line 1" in plan.stdout
    result = _load(work, name)
    table = _table(result, "tumours_preamble")
    assert (table["rows_loaded"], table["rows_rejected"]) == (40, 0)  # was 1 and 40
    with (DATA / name).open() as fh:
        rows = list(csv.reader(fh))[2:]
    loaded = query(work / "w.duckdb", "SELECT * FROM tumours_preamble")
    assert [tuple(str(v) for v in row) for row in loaded] == [
        tuple(str(float(v)) if "." in v else v for v in row) for row in rows
    ]
    # The spec overrides the sniffer: no skip reads the metadata line as the header, and
    # then nearly every row is rejected, which fails the run and loads nothing.
    (work / "p.yaml").write_text(
        f"source: {{uri: {name}, table: forced, csv: {{skip_rows: 0}}}}\ntarget: duckdb:///w.duckdb\n"
    )
    forced = run_cli("run", "p.yaml", cwd=work)
    assert forced.returncode == 2
    assert "records" in forced.stderr and "max_bad_ratio" in forced.stderr
    assert len(forced.stderr.strip().splitlines()) == 1
    tables = query(
        work / "w.duckdb", "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
    )
    assert tables == [("tumours_preamble",)]


def test_na_is_null_in_every_column(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    result = _load(work, copy("penguins_na.csv"))
    table = _table(result, "penguins_na")
    assert (table["rows_loaded"], table["rows_rejected"]) == (40, 0)  # was 38 and 2
    with (DATA / "penguins_na.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    loaded = query(
        work / "w.duckdb",
        "SELECT bill_length_mm, body_mass_g, sex, typeof(bill_length_mm) FROM penguins_na",
    )
    assert loaded[0][3] == "DOUBLE"
    assert [(b, m, s) for b, m, s, _ in loaded] == [
        (
            None if r["bill_length_mm"] == "NA" else float(r["bill_length_mm"]),
            None if r["body_mass_g"] == "NA" else int(r["body_mass_g"]),
            None if r["sex"] == "NA" else r["sex"],
        )
        for r in rows
    ]
    # null_values replaces the list: NA stays text.
    (work / "p.yaml").write_text(
        "source: {uri: penguins_na.csv, table: kept, csv: {null_values: ['']}}\n"
        "target: duckdb:///w.duckdb\n"
    )
    done = run_cli("run", "p.yaml", cwd=work)
    assert done.returncode == 0, done.stderr
    # The two rows whose bill_length_mm is NA are then not numbers: they are quarantined.
    assert query(work / "w.duckdb", "SELECT count(*), count(*) FILTER (sex = 'NA') FROM kept") == [
        (38, 1)
    ]


def test_table_names_never_collide_and_notes_are_skipped(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    done = run_cli("run", copy("names"), "--to", "duckdb:///w.duckdb", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "NOTES.txt: not a data file" in done.stdout
    tables = query(
        work / "w.duckdb",
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1",
    )
    assert tables == [("2024_sales_v1",), ("anes96",), ("v0_7_1",), ("v0_7_1_all_named_index",)]
    assert query(work / "w.duckdb", "SELECT * FROM v0_7_1_all_named_index") == [(2, "b", "x")]
    assert query(work / "w.duckdb", "SELECT * FROM v0_7_1") == [(1, "a")]


def test_records_under_a_key(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    result = _load(work, copy("wrapped.json"))
    _table(result, "wrapped")
    doc = json.loads((DATA / "wrapped.json").read_text())
    assert query(work / "w.duckdb", "SELECT id, name FROM wrapped ORDER BY id") == [
        (r["id"], r["name"]) for r in doc["data"]
    ]
    geo = _load(work, copy("places.geojson.gz"))
    _table(geo, "places")
    with gzip.open(DATA / "places.geojson.gz", "rt") as fh:
        features = json.load(fh)["features"]
    loaded = query(
        work / "w.duckdb",
        "SELECT properties.name, properties.pop, geometry.coordinates FROM places",
    )
    assert loaded == [
        (f["properties"]["name"], f["properties"]["pop"], f["geometry"]["coordinates"])
        for f in features
    ]
    plan = run_cli("run", "places.geojson.gz", "--list-tasks", cwd=work)
    assert "records: under 'features'" in plan.stdout


def test_quoted_line_breaks_and_an_unnamed_index_column(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    result = _load(work, copy("index_and_quotes.csv"))
    table = _table(result, "index_and_quotes")
    with (DATA / "index_and_quotes.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert table["rows_loaded"] == len(rows) - 1
    loaded = query(work / "w.duckdb", "SELECT * FROM index_and_quotes")
    assert [tuple(str(v) for v in r) for r in loaded] == [tuple(r) for r in rows[1:]]
    columns = query(
        work / "w.duckdb",
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'index_and_quotes'",
    )
    assert columns[1:] == [("name",), ("comment",)] and columns[0][0]


def test_a_quoted_field_past_the_sniffed_sample_stays_one_field(work: Path) -> None:
    lines = ["id,text,n", *(f"{i},plain{i},{i}" for i in range(30_000))]
    lines.append('30000,"multi\nline, with comma",5')
    (work / "late_quote.csv").write_text("\n".join(lines) + "\n")
    result = _load(work, "late_quote.csv")
    assert _table(result, "late_quote")["rows_loaded"] == 30_001
    assert query(work / "w.duckdb", "SELECT text FROM late_quote WHERE id = 30000") == [
        ("multi\nline, with comma",)
    ]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_line_over_max_line_size_is_quarantined_with_its_line(work: Path, fmt: str) -> None:
    big = "y" * 2_500_000
    if fmt == "csv":
        rows = ["id,name", *(f"{i},n{i}" for i in range(1, 100))]
        rows[50] = f"50,{big}"
        body = "\n".join(rows) + "\n"
    else:
        rows = [json.dumps({"id": i, "name": f"n{i}"}) for i in range(1, 100)]
        rows[49] = json.dumps({"id": 50, "name": big})
        body = "\n".join(rows) + "\n"
    (work / f"huge.{fmt}").write_text(body)
    result = _load(work, f"huge.{fmt}")
    table = _table(result, "huge")
    assert (table["rows_loaded"], table["rows_rejected"]) == (98, 1)
    shown = json.loads(run_cli("runs", "--show", str(result["run_id"]), "--json", cwd=work).stdout)
    (entry,) = shown["quarantined"]
    assert entry["line"] == (51 if fmt == "csv" else 50)
    assert "max_line_size" in entry["reason"]
    assert query(work / "w.duckdb", "SELECT count(*), max(length(name)) FROM huge") == [(98, 3)]
    (work / "p.yaml").write_text(
        f"source: {{uri: huge.{fmt}, table: whole, max_line_size: 4000000}}\n"
        "target: duckdb:///w.duckdb\n"
    )
    done = run_cli("run", "p.yaml", cwd=work)
    assert done.returncode == 0, done.stderr
    assert query(work / "w.duckdb", "SELECT count(*) FROM whole") == [(99,)]


def test_duckdb_reads_the_corpus_csvs_the_same_way(work: Path, copy) -> None:  # type: ignore[no-untyped-def]
    """DuckDB's read_csv with explicit options agrees with what aoetl loaded."""
    _load(work, copy("penguins_na.csv"))
    con = duckdb.connect()
    expected = con.execute(
        f"SELECT * FROM read_csv('{DATA / 'penguins_na.csv'}', header=true, delim=',', "
        "nullstr=['NA'], columns={'species': 'VARCHAR', 'island': 'VARCHAR', "
        "'bill_length_mm': 'DOUBLE', 'body_mass_g': 'BIGINT', 'sex': 'VARCHAR'})"
    ).fetchall()
    assert query(work / "w.duckdb", "SELECT * FROM penguins_na") == expected


def test_a_preamble_with_a_blank_line_keeps_every_row(work: Path) -> None:
    rows = [f"{i},n{i},{i}.5" for i in range(20)]
    (work / "export.csv").write_text(
        "exported by tool v1\n\nid,name,amount\n" + "\n".join(rows) + "\n"
    )
    table = _table(_load(work, "export.csv"), "export")
    assert (table["rows_loaded"], table["rows_rejected"]) == (20, 0)
    loaded = query(work / "w.duckdb", "SELECT id, name, amount FROM export ORDER BY id")
    assert loaded == [(i, f"n{i}", i + 0.5) for i in range(20)]


def test_a_short_ragged_file_is_not_taken_for_a_preamble(work: Path) -> None:
    """Lines skipped as a preamble are not records: a doubtful case skips nothing."""
    (work / "ragged.csv").write_text("id,c0\n0,v\n1,v,extra\n2,v,extra\n")
    done = run_cli("run", "ragged.csv", "--to", "duckdb:///w.duckdb", "--json", cwd=work)
    result = json.loads(done.stdout)
    table = result["tables"]["ragged"]
    assert table["rows_read"] == 3
