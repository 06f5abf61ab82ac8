"""Benchmark: files into DuckDB, aoetl against DuckDB's own reader and dlt, side by side.

Generates a 2M-row x 10-column CSV (mixed types, NULLs, quoted text with commas and quotes) and
the same data as Parquet, then times, each into a fresh DuckDB file:

* DuckDB alone: CREATE TABLE ... AS SELECT * FROM read_csv(...) / read_parquet(...)
* aoetl as a library call (DataOrchestrator().run)
* aoetl as a whole CLI process (aoetl run ... --json)
* dlt with the duckdb destination, fed pyarrow batches (its fastest path)

and the streaming path: CSV -> Parquet directory through a ``python:`` transform, as a CLI
process, with its peak RSS. Then the wide case: a 2,000 x 2,000 CSV (integers, decimals, text,
dates, booleans, NA, a few bad values), where aoetl's discovery (sniffing and typing) and
discovery + load are timed against DuckDB's own read_csv of it (goal: within 3x). Prints
ratios; writes bench/results/file_to_duckdb.json.

    python bench/file_to_duckdb.py [--rows 2000000] [--repeat 3] [--skip-dlt] [--wide-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
AOETL = str(Path(sys.executable).with_name("aoetl"))

GENERATE = """
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
FROM range({rows}) t(i)
"""

STREAM_STEP = """
import pyarrow as pa
import pyarrow.compute as pc


def add_total(batch):
    total = pc.multiply(pc.cast(batch.column("quantity"), pa.float64()), batch.column("amount"))
    return batch.append_column("total", total)
"""


def generate(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = DATA / f"orders_{rows}.csv", DATA / f"orders_{rows}.parquet"
    if not csv_path.exists() or not pq_path.exists():
        con = duckdb.connect()
        con.execute(f"CREATE TABLE t AS {GENERATE.format(rows=rows)}")
        con.execute(f"COPY t TO '{csv_path}' (FORMAT csv, HEADER)")
        con.execute(f"COPY t TO '{pq_path}' (FORMAT parquet)")
        con.close()
    return csv_path, pq_path


def fresh(name: str) -> Path:
    path = DATA / "targets" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": repeat}


def count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    con.close()
    return int(row[0]) if row else 0


def duckdb_alone(src: Path, fmt: str) -> Callable[[], object]:
    def run() -> None:
        db = fresh("duckdb") / "w.duckdb"
        con = duckdb.connect(str(db))
        reader = "read_csv" if fmt == "csv" else "read_parquet"
        con.execute(f"CREATE TABLE orders AS SELECT * FROM {reader}('{src}')")
        con.close()

    return run


def duckdb_process(src: Path, fmt: str) -> Callable[[], object]:
    """DuckDB's CTAS as a whole Python process: the fair peer for the aoetl CLI."""

    def run() -> None:
        db = fresh("duckdb_proc") / "w.duckdb"
        reader = "read_csv" if fmt == "csv" else "read_parquet"
        sql = f"CREATE TABLE orders AS SELECT * FROM {reader}('{src}')"
        code = (
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "con.execute('SET enable_progress_bar_print = false'); con.execute(sys.argv[2])"
        )
        subprocess.run([sys.executable, "-c", code, str(db), sql], check=True)

    return run


def aoetl_library(src: Path) -> Callable[[], object]:
    from agent_orchestrated_etl import DataOrchestrator

    def run() -> None:
        root = fresh("aoetl_lib")
        orch = DataOrchestrator(home=root / ".aoetl")
        spec = orch.create_pipeline(
            str(src), f"duckdb:///{root / 'w.duckdb'}", table="orders", mode="replace"
        ).spec
        result = orch.run(spec)
        assert result.status == "success", result.error

    return run


def aoetl_cli(src: Path) -> Callable[[], object]:
    def run() -> None:
        root = fresh("aoetl_cli")
        env = {**os.environ, "AOETL_HOME": str(root / ".aoetl")}
        cmd = [AOETL, "run", str(src), "--to", f"duckdb:///{root / 'w.duckdb'}"]
        cmd += ["--table", "orders", "--mode", "replace", "--json"]
        subprocess.run(cmd, check=True, env=env, capture_output=True)

    return run


def dlt_arrow(src: Path, fmt: str) -> Callable[[], object]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    def batches():  # type: ignore[no-untyped-def]
        if fmt == "csv":
            yield from pacsv.open_csv(src, read_options=pacsv.ReadOptions(block_size=1 << 24))
        else:
            yield from pq.ParquetFile(src).iter_batches(batch_size=200_000)

    def run() -> None:
        root = fresh("dlt")
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{fmt}",
            destination=dlt.destinations.duckdb(str(root / "w.duckdb")),
            dataset_name="bench",
            pipelines_dir=str(root / "pipelines"),
        )
        pipeline.run(batches(), table_name="orders", write_disposition="replace")

    return run


def streaming(src: Path) -> dict[str, float]:
    root = fresh("stream")
    (root / "steps.py").write_text(STREAM_STEP)
    (root / "pipeline.yaml").write_text(
        f"name: stream\nsource: {{uri: '{src}', table: orders}}\n"
        f"target: {{uri: 'parquet:///{root / 'lake'}'}}\nmode: replace\n"
        "transforms:\n  - python: steps:add_total\n"
    )
    env = {**os.environ, "AOETL_HOME": str(root / ".aoetl")}
    out_file, err_file = root / "out.json", root / "err.txt"
    start = time.perf_counter()
    with out_file.open("wb") as out, err_file.open("wb") as err:
        proc = subprocess.Popen(
            [AOETL, "run", str(root / "pipeline.yaml"), "--json"], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of this child alone
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"streaming run failed: {err_file.read_text()[-500:]}")
    peak_kb = usage.ru_maxrss
    result = json.loads(out_file.read_text())
    rows = result["tables"]["orders"]["rows_loaded"]
    return {
        "seconds": elapsed,
        "rows": rows,
        "rows_per_s": rows / elapsed,
        "peak_rss_mb": peak_kb / 1024,
    }


def generate_wide(rows: int, cols: int) -> Path:
    """A wide CSV: every fifth column of each kind, 1 % NA in each; one column in 100 has
    0.5 % bad values (more would quarantine nearly every row of a file this wide)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"wide_{rows}x{cols}.csv"
    if path.exists():
        return path
    rnd = random.Random(11)
    kinds = [("int", "num", "text", "date", "bool")[c % 5] for c in range(cols)]

    def value(c: int, kind: str) -> str:
        roll = rnd.random()
        if roll < 0.01:
            return "NA"
        if c % 100 == 7 and roll > 0.995:
            return "bad"
        if kind == "int":
            return str(rnd.randint(-1000, 100_000))
        if kind == "num":
            return f"{rnd.uniform(-1e3, 1e3):.3f}"
        if kind == "text":
            return f"item {rnd.randint(0, 999)}"
        if kind == "date":
            return f"20{rnd.randint(10, 23)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        return rnd.choice(("true", "false"))

    with path.open("w") as fh:
        fh.write(",".join(f"c{c}_{k}" for c, k in enumerate(kinds)) + "\n")
        for _ in range(rows):
            fh.write(",".join(value(c, k) for c, k in enumerate(kinds)) + "\n")
    return path


def aoetl_discover(src: Path) -> Callable[[], object]:
    from agent_orchestrated_etl.connectors.files.source import FileSource
    from agent_orchestrated_etl.spec import FileSourceSpec

    def run() -> None:
        FileSource(FileSourceSpec(uri=str(src))).discover()

    return run


def wide(rows: int, cols: int, repeat: int) -> dict[str, object]:
    src = generate_wide(rows, cols)
    timings = {
        "duckdb": timed(duckdb_alone(src, "csv"), repeat),
        "aoetl_discover": timed(aoetl_discover(src), repeat),
        "aoetl_library": timed(aoetl_library(src), repeat),
    }
    med = {name: t["median_s"] for name, t in timings.items()}
    ratios = {
        "aoetl_discover_vs_duckdb": med["aoetl_discover"] / med["duckdb"],
        "aoetl_library_vs_duckdb": med["aoetl_library"] / med["duckdb"],
    }
    print(f"\nwide CSV -> DuckDB ({rows:,} rows x {cols:,} columns, median of {repeat})")
    for name, secs in med.items():
        print(f"  {name:<15} {secs:7.2f} s")
    print(f"  {'aoetl discovery / DuckDB read_csv':<34} {ratios['aoetl_discover_vs_duckdb']:5.2f}x")
    print(
        f"  {'aoetl discovery+load / read_csv':<34} {ratios['aoetl_library_vs_duckdb']:5.2f}x"
        f"  (goal <= 3x)"
    )
    return {"rows": rows, "columns": cols, "timings": timings, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--wide-rows", type=int, default=2_000)
    parser.add_argument("--wide-cols", type=int, default=2_000)
    parser.add_argument("--wide-only", action="store_true", help="only the wide CSV case")
    args = parser.parse_args()
    if args.wide_only:
        out = RESULTS / "file_to_duckdb.json"
        results = json.loads(out.read_text()) if out.exists() else {}
        results["wide_csv"] = wide(args.wide_rows, args.wide_cols, args.repeat)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {out.relative_to(HERE.parent)}")
        return

    csv_path, pq_path = generate(args.rows)
    print(
        f"data: {args.rows:,} rows x 10 columns; CSV {csv_path.stat().st_size / 1e6:.0f} MB, "
        f"Parquet {pq_path.stat().st_size / 1e6:.0f} MB"
    )
    results: dict[str, object] = {
        "rows": args.rows,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
        },
        "formats": {},
    }
    stream = streaming(csv_path)
    for fmt, src in (("csv", csv_path), ("parquet", pq_path)):
        timings: dict[str, dict[str, float]] = {
            "duckdb": timed(duckdb_alone(src, fmt), args.repeat),
            "duckdb_process": timed(duckdb_process(src, fmt), args.repeat),
            "aoetl_library": timed(aoetl_library(src), args.repeat),
            "aoetl_cli": timed(aoetl_cli(src), args.repeat),
        }
        assert count(DATA / "targets" / "aoetl_cli" / "w.duckdb", "orders") == args.rows
        if not args.skip_dlt:
            timings["dlt"] = timed(dlt_arrow(src, fmt), 1)
        med = {name: t["median_s"] for name, t in timings.items()}
        ratios = {
            "aoetl_library_vs_duckdb": med["aoetl_library"] / med["duckdb"],
            "aoetl_cli_vs_duckdb_process": med["aoetl_cli"] / med["duckdb_process"],
            "aoetl_cli_vs_duckdb": med["aoetl_cli"] / med["duckdb"],
        }
        if "dlt" in med:
            ratios["dlt_vs_aoetl_library"] = med["dlt"] / med["aoetl_library"]
            ratios["dlt_vs_aoetl_cli"] = med["dlt"] / med["aoetl_cli"]
        results["formats"][fmt] = {"timings": timings, "ratios": ratios}  # type: ignore[index]
        print(f"\n{fmt.upper()} -> DuckDB ({args.rows:,} rows, median of {args.repeat})")
        for name, secs in med.items():
            print(f"  {name:<15} {secs:7.2f} s  ({args.rows / secs:>12,.0f} rows/s)")
        for label, key, goal in (
            ("aoetl library / DuckDB in-process", "aoetl_library_vs_duckdb", "goal <= 1.25x"),
            ("aoetl CLI / DuckDB as a process", "aoetl_cli_vs_duckdb_process", "goal <= 1.25x"),
            ("aoetl CLI / DuckDB in-process", "aoetl_cli_vs_duckdb", "startup included"),
            ("dlt / aoetl library", "dlt_vs_aoetl_library", "goal >= 2x"),
            ("dlt / aoetl CLI", "dlt_vs_aoetl_cli", "goal >= 2x"),
        ):
            if key in ratios:
                print(f"  {label:<34} {ratios[key]:5.2f}x  ({goal})")
    results["streaming_csv_to_parquet_python_step"] = stream
    results["wide_csv"] = wide(args.wide_rows, args.wide_cols, args.repeat)
    print(
        f"\nCSV -> Parquet dir through a python: step (CLI process)\n"
        f"  {stream['seconds']:.2f} s, {stream['rows_per_s']:,.0f} rows/s, "
        f"peak RSS {stream['peak_rss_mb']:.0f} MB (goal <= 1024 MB)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "file_to_duckdb.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
