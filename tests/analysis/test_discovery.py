"""``aoetl analyze`` on a source that is not a REST API: the report of what discovery finds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers import FIXTURES, run_cli


def test_a_csv_file_reports_its_columns_and_decisions(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "orders.csv", tmp_path / "orders.csv")
    proc = run_cli("analyze", "orders.csv", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["kind"] == "files" and report["method"] == "sample"
    (orders,) = report["resources"]
    assert orders["name"] == "orders" and orders["format"] == "csv"
    assert [(f["name"], f["type"]) for f in orders["fields"]] == [
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("amount", "DOUBLE"),
        ("created", "DATE"),
    ]
    dialect = next(d for d in orders["decisions"] if d["what"] == "dialect")
    assert "delimiter=','" in dialect["value"] and dialect["reason"]
    text = run_cli("analyze", "orders.csv", cwd=tmp_path)
    assert text.returncode == 0 and "1 table" in text.stdout, text.stdout
