"""``aoetl query`` as a new user runs it: a table on stdout and a footer on stderr, ``--json``
as one object, and exit code 2 with one line for a write, a bad limit or a missing file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tests.helpers import run_cli


def test_query_prints_rows_json_and_refuses_writes(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute(
        "CREATE TABLE orders AS SELECT range::INTEGER AS id, (range * 2.5)::DECIMAL(8,2) AS "
        "amount, NULL::VARCHAR AS note FROM range(4)"
    )
    con.close()
    target = "duckdb:///warehouse.duckdb"

    shown = run_cli("query", target, "SELECT * FROM orders ORDER BY id", "--limit", "3",
                    cwd=tmp_path)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "amount" in shown.stdout and "5.00" in shown.stdout and "NULL" in shown.stdout
    assert "3 rows (truncated at 3; raise --limit to see more) from " + target in shown.stderr

    as_json = run_cli("query", target, "SELECT id, amount FROM orders WHERE id = 1", "--json",
                      cwd=tmp_path)  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["columns"] == [
        {"name": "id", "type": "INTEGER"},
        {"name": "amount", "type": "DECIMAL(8,2)"},
    ]
    assert document["rows"] == [[1, "2.50"]] and document["truncated"] is False
    assert document["target"] == target and document["elapsed_s"] >= 0

    before = (tmp_path / "warehouse.duckdb").read_bytes()
    for args, said in [
        (["DROP TABLE orders"], "error: query is read-only: this is a DROP statement"),
        (["SELECT 1; DELETE FROM orders"], "got 2 statements; give one statement"),
        (["SELECT 1", "--limit", "20000"], "--limit"),
    ]:
        refused = run_cli("query", target, *args, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert said in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert refused.stdout == "" and "Traceback" not in refused.stderr
    assert (tmp_path / "warehouse.duckdb").read_bytes() == before

    missing = run_cli("query", "duckdb:///other.duckdb", "SELECT 1", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no DuckDB database at duckdb:///other.duckdb" in missing.stderr
    assert not (tmp_path / "other.duckdb").exists()
