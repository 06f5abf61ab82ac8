"""``aoetl analyze`` on folders, tried as a new user would: the console script in a
subprocess, the readable report on stderr, the JSON form on stdout, bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tests.helpers import run_cli


def _export(root: Path) -> None:
    root.mkdir()
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range + 1 AS id, 'c' || range || '@shop.example' AS email FROM range(30)) "
        f"TO '{root / 'customers.csv'}' (HEADER)"
    )
    con.execute(
        f"COPY (SELECT range + 1 AS order_id, range % 30 + 1 AS customer_id, "
        f"TIMESTAMP '2024-05-01' + INTERVAL (range) MINUTE AS updated_at FROM range(120)) "
        f"TO '{root / 'orders.parquet'}' (FORMAT parquet)"
    )
    (root / "empty.csv").write_bytes(b"")


def test_analyze_a_folder_prints_keys_references_and_issues(tmp_path: Path) -> None:
    _export(tmp_path / "shop")
    proc = run_cli("analyze", "shop", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 tables" in proc.stdout and "sampling up to 10,000 rows" in proc.stdout
    err = proc.stderr
    assert "customers: primary key: id" in err
    assert "foreign key customer_id -> customers(id) (coverage 100.0%)" in err
    assert "cursor candidates: updated_at, order_id" in err
    assert "pii: email: suspected personal data" in err
    assert "empty_file: shop/empty.csv" in err
    assert "@shop.example" not in err + proc.stdout  # evidence is never a value


def test_analyze_json_is_the_documented_report(tmp_path: Path) -> None:
    _export(tmp_path / "shop")
    proc = run_cli("analyze", "shop", "--json", "--sample-rows", "50", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["method"] == "sample" and report["sample_rows"] == 50
    assert [i["kind"] for i in report["issues"]] == ["empty_file"]
    orders = next(r for r in report["resources"] if r["name"] == "orders")
    assert orders["sampled_rows"] == 50 and orders["row_estimate"] == 120
    assert orders["references"] == [
        {"columns": ["customer_id"], "table": "customers", "referenced_columns": ["id"],
         "coverage": 1.0}
    ]  # fmt: skip
    (file,) = orders["files"]
    assert file["format_by_extension"] == file["format_by_content"] == "parquet"
    assert file["rows"] == 120 and file["size_bytes"] > 0
    field = next(f for f in orders["fields"] if f["name"] == "order_id")
    assert field == {
        "name": "order_id",
        "type": "BIGINT",
        "confidence": 1.0,
        "null_ratio": 0.0,
        "distinct": 50,
    }
    assert orders["candidate_keys"][0]["columns"] == ["order_id"]


def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    _export(tmp_path / "shop")
    proc = run_cli("analyze", "shop", "--sample-rows", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--sample-rows" in proc.stderr
    missing = run_cli("analyze", "nowhere/", cwd=tmp_path)
    assert missing.returncode == 2, missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr


def test_format_option_reads_a_file_without_a_known_extension(tmp_path: Path) -> None:
    (tmp_path / "noext.dat").write_text("a,b\n1,x\n2,y\n")
    told = run_cli("analyze", "noext.dat", cwd=tmp_path)
    assert told.returncode == 2 and "--format" in told.stderr
    proc = run_cli("analyze", "noext.dat", "--format", "csv", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (resource,) = json.loads(proc.stdout)["resources"]
    assert resource["format"] == "csv" and resource["sampled_rows"] == 2
    assert [f["name"] for f in resource["fields"]] == ["a", "b"]


def test_sizes_and_counts_read_as_the_plan_says_them(tmp_path: Path) -> None:
    rows = ["id,note"] + [f"{i},{'n' * 20 if i % 2 else ''}" for i in range(1200)]
    (tmp_path / "notes.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "one.csv").write_text("id,v\n1,x\n")
    size = (tmp_path / "notes.csv").stat().st_size
    shown = f"{size / 1000:.1f} kB"  # decimal units, as the plan gives them
    analyzed = run_cli("analyze", ".", cwd=tmp_path)
    assert analyzed.returncode == 0, analyzed.stderr
    planned = run_cli("plan", ".", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert shown in analyzed.stderr and shown in planned.stdout + planned.stderr
    assert "KB" not in analyzed.stderr
    assert "one: 1 row sampled" in analyzed.stderr
    assert "non-null in the only row" in analyzed.stderr and "all 1 rows" not in analyzed.stderr
    report = json.loads(run_cli("analyze", "notes.csv", "--json", cwd=tmp_path).stdout)
    fields = {f["name"]: f for f in report["resources"][0]["fields"]}
    # nullable is in the JSON only when true, as docs/analysis.md says.
    assert fields["note"]["nullable"] is True and "nullable" not in fields["id"]
