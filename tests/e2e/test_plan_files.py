"""``aoetl plan`` for files and S3 prefixes, then ``aoetl run`` of the file unchanged, as a
new user would: a related CSV export, a folder of logs without keys, and a bucket."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml

from tests.helpers import query, run_cli, shop_export
from tests.servers import S3Server


def counts(db: Path) -> dict[str, object]:
    tables = ("customers", "products", "orders", "order_items")
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}


def test_a_related_export_is_planned_run_and_merged_on_a_second_run(tmp_path: Path) -> None:
    export = shop_export(tmp_path / "export")
    proc = run_cli(
        "plan", "export", "--to", "duckdb:///w.duckdb", "-o", "plans/shop.yaml", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote plans/shop.yaml; run it with: aoetl run plans/shop.yaml" in proc.stderr
    text = (tmp_path / "plans" / "shop.yaml").read_text()
    assert text.startswith("# Planned by 'aoetl plan' from export: 4 tables in 4 files")
    assert "  # merge on order_id: a rerun updates rows in place" in text
    assert (
        'checks:\n  - {"table": "customers", "check": "not_null", "columns": ["id"], '
        '"severity": "warn"}' in text
    )
    pipeline = yaml.safe_load(text)
    assert pipeline["source"]["uri"] == "../export"  # relative to the file, as run reads it

    # The foreign keys order the loads.
    listed = run_cli("run", "plans/shop.yaml", "--list-tasks", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    deps = {t["id"]: t["depends_on"] for t in json.loads(listed.stdout)["tasks"]}
    assert deps["load:orders"] == ["load:customers"]
    assert deps["load:order_items"] == ["load:orders", "load:products"]
    assert deps["load:customers"] == deps["load:products"] == []

    first = run_cli("run", "plans/shop.yaml", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    db = tmp_path / "w.duckdb"
    assert counts(db) == {"customers": 50, "products": 20, "orders": 200, "order_items": 600}

    # The export again, a customer renamed and an order updated since: merged, not doubled.
    customers = (export / "customers.csv").read_text().replace("cust 7,", "renamed 7,")
    (export / "customers.csv").write_text(customers)
    with (export / "orders.csv").open("a") as out:
        out.write("5,9,2024-03-01 09:00:00,changed\n")
    second = run_cli("run", "plans/shop.yaml", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert counts(db) == {"customers": 50, "products": 20, "orders": 200, "order_items": 600}
    assert query(db, "SELECT name FROM customers WHERE id = 7") == [("renamed 7",)]
    assert query(db, "SELECT customer_id, note FROM orders WHERE order_id = 5") == [(9, "changed")]
    loaded = json.loads(second.stdout)["tables"]
    assert loaded["orders"]["rows_loaded"] == 1  # only the row past the updated_at mark


def test_plan_json_carries_the_pipeline_and_the_report(tmp_path: Path) -> None:
    shop_export(tmp_path / "export", orders=20)
    proc = run_cli("plan", "export", "--json", "--sample-rows", "50", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["pipeline"]["tasks"]["orders"]["after"] == ["customers"]
    assert out["report"]["sample_rows"] == 50
    assert {r["name"] for r in out["report"]["resources"]} == {
        "customers",
        "order_items",
        "orders",
        "products",
    }
    assert out["written_to"] is None


def test_a_folder_without_keys_plans_append_and_reads_each_file_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    settled = time.time() - 10  # a run leaves files modified in its last 2 s to the next
    for month in ("01", "02", "03"):
        (logs / f"events-2024-{month}.csv").write_text("level,message\ninfo,up\ninfo,up\n")
        os.utime(logs / f"events-2024-{month}.csv", (settled, settled))
    proc = run_cli("plan", "logs", "--to", "duckdb:///w.duckdb", "-o", "logs.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pipeline = yaml.safe_load((tmp_path / "logs.yaml").read_text())
    assert pipeline["tasks"] == {"events": {"mode": "append"}}
    for _ in range(2):
        run = run_cli("run", "logs.yaml", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
    db = tmp_path / "w.duckdb"
    assert query(db, "SELECT count(*) FROM events") == [(6,)]  # the rerun read nothing again
    (logs / "events-2024-04.csv").write_text("level,message\nerror,down\n")
    os.utime(logs / "events-2024-04.csv", (settled + 5, settled + 5))
    assert run_cli("run", "logs.yaml", cwd=tmp_path).returncode == 0
    assert query(db, "SELECT level, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        ("error", 1),
        ("info", 6),
    ]


def test_an_s3_prefix_is_planned_and_run(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    export = shop_export(tmp_path / "export", orders=30)
    client = s3_server.client()
    for file in export.iterdir():
        client.upload_file(str(file), bucket, f"shop/{file.name}")
    env = s3_server.env()
    proc = run_cli(
        "plan", f"s3://{bucket}/shop/", "--to", "duckdb:///w.duckdb", "-o", "s3.yaml",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "s3.yaml").read_text()
    assert s3_server.secret not in text and s3_server.key not in text
    pipeline = yaml.safe_load(text)
    assert pipeline["source"]["uri"] == f"s3://{bucket}/shop/"
    assert pipeline["tasks"]["orders"]["after"] == ["customers"]
    assert pipeline["tasks"]["order_items"]["key"] == ["order_id", "line"]
    for _ in range(2):
        run = run_cli("run", "s3.yaml", cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
    db = tmp_path / "w.duckdb"
    assert counts(db) == {"customers": 50, "products": 20, "orders": 30, "order_items": 90}
