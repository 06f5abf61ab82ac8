"""bench/analysis.py's parts 2 and 3: S3 -> DuckDB throughput against DuckDB alone, and the
peak RSS of streaming one ~1 GB object."""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psutil
from _harness import AOETL, BUCKET, DATA, Failed, cli, fresh, reason, said
from _lake import big_csv
from _seaweed import S3Server


def count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def duckdb_ctas(reader: str, server: S3Server | None) -> Callable[[], None]:
    """DuckDB alone: CREATE TABLE AS SELECT * FROM read_parquet(…), locally or via httpfs."""
    from agent_orchestrated_etl.data.duck import connect

    def run() -> None:
        root = fresh("duckdb")
        con = connect(str(root / "w.duckdb"), home=DATA / "scratch" / "duckdb_home")
        if server is not None:  # the secret a user writes for this store
            host = server.endpoint.removeprefix("http://")
            con.execute("LOAD httpfs")
            con.execute(
                f"CREATE SECRET bench (TYPE s3, KEY_ID '{server.key}', SECRET '{server.secret}', "
                f"ENDPOINT '{host}', REGION '{server.region}', URL_STYLE 'path', USE_SSL false)"
            )
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}")
        con.close()
        if count(root / "w.duckdb", "t") <= 0:
            raise Failed("DuckDB loaded no rows")

    return run


def aoetl_run(uri: str, rows: int, env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        root = fresh("aoetl_run")
        target = f"duckdb:///{root / 'w.duckdb'}"
        args = ["run", uri, "--to", target, "--table", "t", "--mode", "replace", "--json"]
        cli(args, {**env, "AOETL_HOME": str(root / ".aoetl")})
        loaded = count(root / "w.duckdb", "t")
        if loaded != rows:
            raise Failed(f"aoetl loaded {loaded:,} rows of {rows:,}")

    return run


def interleaved(sides: dict[str, Callable[[], None]], repeat: int) -> dict[str, Any]:
    """Each side ``repeat`` times, the sides taking turns, so drift in this shared machine's
    speed falls on all of them; a side that fails once is dropped with its reason."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    errors: dict[str, str] = {}
    for _ in range(repeat):
        for name, fn in sides.items():
            if name in errors:
                continue
            start = time.perf_counter()
            try:
                fn()
            except Exception as exc:
                errors[name] = reason(exc)
                continue
            times[name].append(time.perf_counter() - start)
    return {
        name: {"error": errors[name]}
        if name in errors
        else {"median_s": statistics.median(t), "min_s": min(t), "runs": len(t)}
        for name, t in times.items()
    }


def throughput(
    server: S3Server, folder: Path, rows: int, env: dict[str, str], repeat: int
) -> dict[str, Any]:
    sides = {
        "duckdb_local": duckdb_ctas(f"read_parquet('{folder}/*.parquet')", None),
        "duckdb_s3": duckdb_ctas(f"read_parquet('s3://{BUCKET}/parquet/*.parquet')", server),
        "aoetl_cli_s3": aoetl_run(f"s3://{BUCKET}/parquet/", rows, env),
    }
    timings = interleaved(sides, repeat)
    med = {n: t["median_s"] for n, t in timings.items() if "median_s" in t}
    for name, t in timings.items():
        if "median_s" in t:
            secs = t["median_s"]
            print(
                f"  {name:<14} {secs:7.2f} s  ({rows / secs:>12,.0f} rows/s; "
                f"fastest {t['min_s']:.2f} s)"
            )
        else:
            print(f"  {name:<14} could not run: {t['error']}")
    ratios = {}
    for label, a, b in (
        ("aoetl S3 / DuckDB S3 (httpfs)", "aoetl_cli_s3", "duckdb_s3"),
        ("aoetl S3 / DuckDB local disk", "aoetl_cli_s3", "duckdb_local"),
        ("DuckDB S3 / DuckDB local disk", "duckdb_s3", "duckdb_local"),
    ):
        if a in med and b in med:
            ratios[f"{a}_vs_{b}"] = med[a] / med[b]
            print(f"  {label:<31} {med[a] / med[b]:6.2f}x")
    rates = {n: rows / s for n, s in med.items()}
    return {"timings": timings, "rows_per_s": rates, "ratios": ratios}


def peak_rss(cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``cmd``; its peak RSS with every child's, sampled every 20 ms."""
    peak, samples = 0, 0
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = psutil.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            total = 0
            try:
                family = [proc, *proc.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += p.memory_info().rss
            peak, samples = max(peak, total), samples + 1
            time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        text = log.read_text(errors="replace")
        raise Failed(f"{Path(cmd[0]).name} exited {proc.returncode}: {said(text, text)}")
    return {"seconds": elapsed, "peak_rss_bytes": peak, "samples": samples}


PEER_CSV = """
import os, sys
from pathlib import Path
from agent_orchestrated_etl.data.duck import connect  # for the offline extension folder only

con = connect(sys.argv[1], home=Path(sys.argv[3]))
e = os.environ
con.execute("LOAD httpfs")
con.execute(
    f"CREATE SECRET (TYPE s3, KEY_ID '{e['AWS_ACCESS_KEY_ID']}', "
    f"SECRET '{e['AWS_SECRET_ACCESS_KEY']}', ENDPOINT '{e['AWS_ENDPOINT_URL'][7:]}', "
    f"URL_STYLE 'path', USE_SSL false, REGION '{e['AWS_DEFAULT_REGION']}')"
)
con.execute(f"CREATE TABLE big AS SELECT * FROM read_csv('{sys.argv[2]}')")
"""


def big_object(server: S3Server, size_mb: int, env: dict[str, str]) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig

    path, rows = big_csv(DATA, size_mb * 1024 * 1024)
    size = path.stat().st_size
    key = f"big/{path.name}"
    start = time.perf_counter()
    config = TransferConfig(multipart_chunksize=64 * 1024 * 1024, max_concurrency=4)
    server.client().upload_file(str(path), BUCKET, key, Config=config)
    uploaded = time.perf_counter() - start
    root = fresh("big")
    cmd = [AOETL, "run", f"s3://{BUCKET}/{key}", "--to", f"duckdb:///{root / 'w.duckdb'}"]
    cmd += ["--table", "big", "--mode", "replace", "--json"]
    result = peak_rss(cmd, {**env, "AOETL_HOME": str(root / ".aoetl")}, root / "out.txt")
    loaded = count(root / "w.duckdb", "big")
    if loaded != rows:
        raise Failed(f"aoetl loaded {loaded:,} rows of {rows:,}")
    # The peer: DuckDB alone loading the same object through httpfs, as a process of its own:
    # the floor for time, and the share of the peak that is DuckDB's own working set.
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    url = f"s3://{BUCKET}/{key}"
    peer_cmd = [sys.executable, "-c", PEER_CSV, str(root / "w.duckdb"), url, str(root / ".home")]
    peer = peak_rss(peer_cmd, env, root / "peer.txt")
    shutil.rmtree(root, ignore_errors=True)
    return {
        "object_bytes": size,
        "rows": rows,
        "upload_s": uploaded,
        **result,
        "rows_per_s": rows / result["seconds"],
        "peak_rss_vs_object": result["peak_rss_bytes"] / size,
        "duckdb_s3_csv": {**peer, "rows_per_s": rows / peer["seconds"]},
    }
