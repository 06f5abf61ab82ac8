"""Table names for files: whole stems for lone files, one name for a dated or numbered series."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_orchestrated_etl.connectors.files._names import assign
from tests.helpers import query, run_cli


def _names(*files: tuple[str, str]) -> dict[str, str]:
    named = assign([(Path(f), fmt) for f, fmt in files])
    return {str(p): n.table for p, n in named.items()}


@pytest.mark.parametrize(
    ("file", "table"),
    [
        ("d/v0.7.1.parquet", "v0_7_1"),
        ("d/2024.sales.v1.csv", "2024_sales_v1"),
        ("d/anes96.csv", "anes96"),
        ("d/Daily Report (v2).csv", "daily_report_v2"),
        ("d/orders_2024-01.csv.gz", "orders_2024_01"),  # alone, it keeps its whole stem
    ],
)
def test_a_lone_file_keeps_its_whole_stem(file: str, table: str) -> None:
    assert _names((file, "csv")) == {file: table}


def test_a_series_is_one_table_and_sequences_take_the_folder_name() -> None:
    names = _names(
        ("d/orders_2024-01.csv", "csv"),
        ("d/orders_2024-02.csv", "csv"),
        ("sales/part-0001.parquet", "parquet"),
        ("sales/part-0002.parquet", "parquet"),
        ("d/v0.7.1.parquet", "parquet"),
        ("d/v0.7.1.all-named-index.parquet", "parquet"),
    )
    assert names == {
        "d/orders_2024-01.csv": "orders",
        "d/orders_2024-02.csv": "orders",
        "sales/part-0001.parquet": "sales",
        "sales/part-0002.parquet": "sales",
        "d/v0.7.1.parquet": "v0_7_1",
        "d/v0.7.1.all-named-index.parquet": "v0_7_1_all_named_index",
    }


def test_two_sources_never_share_a_table() -> None:
    names = _names(("d/orders_1.csv", "csv"), ("d/orders_2.csv", "csv"), ("d/orders.json", "json"))
    assert names == {
        "d/orders_1.csv": "orders_csv",
        "d/orders_2.csv": "orders_csv",
        "d/orders.json": "orders_json",
    }


def test_files_that_are_not_data_are_skipped_with_a_note(work: Path) -> None:
    folder = work / "in"
    folder.mkdir()
    (folder / "v0.7.1.csv").write_text("a,b\n1,2\n")
    (folder / "README.txt").write_text("a,b\nnotes, not data\n")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    done = run_cli("run", "in", "--to", "duckdb:///w.duckdb", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "README.txt: not a data file" in done.stdout
    tables = query(
        work / "w.duckdb", "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
    )
    assert tables == [("v0_7_1",)]
    text = run_cli(
        "run", "in/README.txt", "--format", "csv", "--to", "duckdb:///w.duckdb", cwd=work
    )
    assert text.returncode == 0, text.stderr
    assert query(work / "w.duckdb", "SELECT * FROM readme") == [("notes", " not data")]
