"""`make demo`: load the bundled shop data into ./warehouse.duckdb with the real aoetl CLI.

1. Load the whole sample_data/ folder: aoetl groups the monthly order files into one table,
   sniffs CSV, JSON and gzipped NDJSON, and quarantines the malformed rows it finds.
2. Run a pipeline file that filters, derives and upserts cleaned orders (mode merge), with
   data checks on the staged rows (negative amounts quarantined) and a profile of the load.
   The audit shows which agent did each step of that run, and why.
3. Query the warehouse to show what landed, list what was quarantined and why, and profile
   the customers table with an HTML report (quality_report.html).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
AOETL = str(Path(sys.executable).with_name("aoetl"))
WAREHOUSE = ROOT / "warehouse.duckdb"


def aoetl(*args: str) -> str:
    print(f"\n$ aoetl {' '.join(args)}", flush=True)
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.run([AOETL, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    print(proc.stdout.rstrip())
    if proc.stderr.strip():
        print(proc.stderr.rstrip())
    if proc.returncode != 0:
        raise SystemExit(f"aoetl exited with {proc.returncode}")
    return proc.stdout


def main() -> None:
    if WAREHOUSE.exists():  # the demo owns this file: start from an empty warehouse each time
        WAREHOUSE.unlink()
    aoetl("run", "examples/sample_data", "--to", "duckdb:///warehouse.duckdb", "--mode", "replace")
    result = json.loads(aoetl("run", "examples/orders_pipeline.yaml", "--json"))
    print(f"\nthe pipeline merged {result['tables']['orders_clean']['rows_loaded']} rows")
    for check in result["checks"]:
        print(f"  check {check['name']}: {check['status']}, {check['message']}")
    for table, score in result["quality"].items():
        print(f"  quality score of {table}: {score['total']:.1f}/100")
    # Every step of the run went to an agent chosen by capability: the audit says which, and why.
    aoetl("audit", "--run", result["run_id"])

    con = duckdb.connect(str(WAREHOUSE), read_only=True)
    print("\nWhat is in warehouse.duckdb:")
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1"
    ).fetchall()
    for (table,) in tables:
        (n,) = con.execute(f'SELECT count(*) FROM "{table}"').fetchone() or (0,)
        cols = con.execute(f"SELECT count(*) FROM duckdb_columns() WHERE table_name = '{table}'")
        print(f"  {table:<14} {n:>5} rows  {cols.fetchone()[0]:>2} columns")  # type: ignore[index]
    print("\nRevenue by city (customers x orders, paid and shipped):")
    rows = con.execute(
        """
        SELECT c.city, count(*) AS orders, round(sum(o.amount_eur), 2) AS revenue
        FROM orders_clean o JOIN customers c USING (customer_id)
        GROUP BY c.city ORDER BY revenue DESC LIMIT 5
        """
    ).fetchall()
    for city, orders, revenue in rows:
        print(f"  {city:<12} {orders:>4} orders  {revenue:>10,.2f} EUR")
    print("\nQuality problems that loaded (no check was declared for these tables):")
    dup = con.execute(
        "SELECT count(*) FROM (SELECT customer_id FROM customers GROUP BY 1 HAVING count(*) > 1)"
    ).fetchone()
    no_email = con.execute("SELECT count(*) FROM customers WHERE email IS NULL").fetchone()
    negative = con.execute("SELECT count(*) FROM order_items WHERE quantity < 0").fetchone()
    print(
        f"  duplicate customer ids: {dup[0]}, customers without email: {no_email[0]}, "  # type: ignore[index]
        f"order lines with negative quantity: {negative[0]}"
    )  # type: ignore[index]
    con.close()
    aoetl(
        "profile", "duckdb:///warehouse.duckdb", "--table", "customers",
        "--html", "quality_report.html",
    )  # fmt: skip
    aoetl("runs", "--limit", "5")


if __name__ == "__main__":
    main()
