"""The analysis benchmark's data, generated deterministically with DuckDB into bench/data/.

* ``lake``: 200 small files of five related tables in mixed formats, the way an export of a
  shop's database lands in a bucket:

  - ``customers/customers_001.csv`` … ``_020.csv`` (5,000 rows): the last ten files add a
    ``phone`` column (drift); ``fax`` is 90 % empty; ``email`` is PII;
  - ``products/products_01.csv.gz`` … ``_10.csv.gz`` (1,000 rows), gzip;
  - ``orders/year=2024/month=MM/orders_N.parquet`` (60 files, 30,000 rows), hive partitions,
    ``customer_id`` refers to customers;
  - ``order_items/items_001.ndjson`` … ``_060`` (60,000 rows), every third gzip,
    ``order_id`` refers to orders and ``product_id`` to products;
  - ``events/events_2024-MM-DD.json.gz`` (50 files, 20,000 rows, NDJSON under a .json name):
    ``value`` is an integer in the first 35 days and text after (a type conflict), and
    ``session`` is missing from the last ten.

* ``parquet``: N Parquet files of 10 columns (a few million rows in all), for throughput.
* ``big.csv``: one CSV of about 1 GB, for peak memory while streaming one object.

Every value is a function of the row number, so two runs write the same bytes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

LAKE_VERSION = "v1"

CUSTOMERS = """
SELECT i AS customer_id, 'Customer ' || i AS name, 'user' || i || '@example.com' AS email,
       ['DE', 'FR', 'US', 'GB', 'NL'][1 + i % 5] AS country,
       DATE '2020-01-01' + CAST(i % 1000 AS INTEGER) AS signup_date,
       CASE WHEN i % 10 = 0 THEN '+49 30 ' || (1000000 + i) END AS fax{phone}
FROM range({start}, {stop}) t(i)
"""
PHONE = ",\n       '+33 1 ' || (2000000 + i * 7) AS phone"

PRODUCTS = """
SELECT i AS product_id, 'SKU-' || lpad(CAST(i AS VARCHAR), 6, '0') AS sku,
       'Product ' || i AS title, CAST(1 + (i * 37) % 50000 / 100.0 AS DECIMAL(10, 2)) AS price,
       ['books', 'games', 'tools', 'garden'][1 + i % 4] AS category
FROM range({start}, {stop}) t(i)
"""

ORDERS = """
SELECT i AS order_id, 1 + (i * 31) % 5000 AS customer_id,
       TIMESTAMP '2024-{month:02d}-01' + to_seconds(CAST((i * 97) % 2332800 AS BIGINT))
           AS ordered_at,
       ['new', 'paid', 'shipped', 'returned'][1 + i % 4] AS status,
       CAST((i * 7919) % 100000 / 100.0 AS DECIMAL(12, 2)) AS total
FROM range({start}, {stop}) t(i)
"""

ITEMS = """
SELECT i AS item_id, 1 + (i * 7) % 30000 AS order_id, 1 + (i * 13) % 1000 AS product_id,
       CAST(1 + i % 5 AS INTEGER) AS quantity,
       CAST(1 + (i * 37) % 50000 / 100.0 AS DOUBLE) AS unit_price
FROM range({start}, {stop}) t(i)
"""

EVENTS = """
SELECT i AS event_id, 1 + (i * 17) % 5000 AS customer_id,
       ['view', 'click', 'cart', 'buy'][1 + i % 4] AS kind,
       TIMESTAMP '2024-01-01' + INTERVAL {day} DAY + to_seconds(CAST(i % 86400 AS BIGINT)) AS at,
       {value} AS value{session}
FROM range({start}, {stop}) t(i)
"""

WIDE = """
SELECT
    i AS id,
    'customer "' || (i % 9973) || '", inc' AS customer,
    CASE WHEN i % 17 = 0 THEN NULL ELSE round((i * 7919) % 100000 / 100.0, 2) END AS amount,
    DATE '2020-01-01' + CAST(i % 1500 AS INTEGER) AS order_date,
    TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i % 86400000) AS updated_at,
    i % 3 = 0 AS is_priority,
    CAST(i % 50 AS INTEGER) AS region_id,
    CASE WHEN i % 11 = 0 THEN NULL ELSE 'note, with comma ' || (i % 101) END AS note,
    CAST((i * 31) % 1000000 AS DECIMAL(12, 2)) / 100 AS price,
    CASE WHEN i % 5 = 0 THEN NULL ELSE i % 1000 END AS quantity
FROM range({start}, {stop}) t(i)
"""


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, options: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({sql}) TO '{path}' ({options})")


def lake(data: Path) -> Path:
    """The 200-file lake (generated once per LAKE_VERSION)."""
    root = data / f"lake-{LAKE_VERSION}"
    if root.exists():
        return root
    scratch = data / f"lake-{LAKE_VERSION}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    con = _connect()
    csv, csv_gz = "FORMAT csv, HEADER", "FORMAT csv, HEADER, COMPRESSION gzip"
    for k in range(20):
        sql = CUSTOMERS.format(start=1 + k * 250, stop=1 + (k + 1) * 250, phone=PHONE * (k >= 10))
        _copy(con, sql, scratch / "customers" / f"customers_{k + 1:03d}.csv", csv)
    for k in range(10):
        sql = PRODUCTS.format(start=1 + k * 100, stop=1 + (k + 1) * 100)
        _copy(con, sql, scratch / "products" / f"products_{k + 1:02d}.csv.gz", csv_gz)
    for k in range(60):
        month, part = 1 + k // 5, k % 5
        sql = ORDERS.format(start=1 + k * 500, stop=1 + (k + 1) * 500, month=month)
        folder = scratch / "orders" / "year=2024" / f"month={month:02d}"
        _copy(con, sql, folder / f"orders_{part + 1}.parquet", "FORMAT parquet")
    for k in range(60):
        sql = ITEMS.format(start=1 + k * 1000, stop=1 + (k + 1) * 1000)
        gz = k % 3 == 2
        name = f"items_{k + 1:03d}.ndjson" + (".gz" if gz else "")
        _copy(con, sql, scratch / "order_items" / name, "FORMAT json" + ", COMPRESSION gzip" * gz)
    for day in range(50):
        value = "CAST(i % 1000 AS INTEGER)" if day < 35 else "(i % 1000) || ' EUR'"
        session = ",\n       'sess-' || (i // 7) AS session" if day < 40 else ""
        sql = EVENTS.format(
            start=1 + day * 400, stop=1 + (day + 1) * 400, day=day, value=value, session=session
        )
        name = f"events_2024-{1 + day // 31:02d}-{1 + day % 31:02d}.json.gz"
        _copy(con, sql, scratch / "events" / name, "FORMAT json, COMPRESSION gzip")
    con.close()
    scratch.rename(root)
    return root


def parquet(data: Path, files: int, rows_per_file: int) -> Path:
    """``files`` Parquet files of ``rows_per_file`` rows each under one folder."""
    root = data / f"parquet-{files}x{rows_per_file}"
    if root.exists():
        return root
    scratch = root.with_name(root.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    con = _connect()
    for k in range(files):
        sql = WIDE.format(start=k * rows_per_file, stop=(k + 1) * rows_per_file)
        _copy(con, sql, scratch / f"part-{k:04d}.parquet", "FORMAT parquet")
    con.close()
    scratch.rename(root)
    return root


def big_csv(data: Path, target_bytes: int) -> tuple[Path, int]:
    """One CSV of about ``target_bytes`` (the row count scaled from a 100,000-row sample)."""
    con = _connect()
    sample = data / "big-sample.csv"
    _copy(con, WIDE.format(start=0, stop=100_000), sample, "FORMAT csv, HEADER")
    rows = int(target_bytes / (sample.stat().st_size / 100_000))
    sample.unlink()
    path = data / f"big-{rows}.csv"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        _copy(con, WIDE.format(start=0, stop=rows), partial, "FORMAT csv, HEADER")
        partial.rename(path)
    con.close()
    return path, rows
