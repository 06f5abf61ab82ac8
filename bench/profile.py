"""Benchmark: a standard profile of 2M rows x 10 columns against DuckDB's SUMMARIZE, and
ydata-profiling (minimal mode) on 200k rows of the same data.

Generates one Parquet file deterministically with DuckDB into bench/data/profile/ (ints,
doubles with outliers, a timestamp, a date, low-cardinality text with nulls, e-mail
addresses, free text with nulls, a double with nulls, a country code), then, in one process:

1. DuckDB's ``SUMMARIZE`` of the file (the floor: min, max, approx distinct, mean, std,
   three approximate quartiles, count, null share per column);
2. ``DataOrchestrator().profile(file, depth="standard", record=False)``: discovery, the
   profile (all of SUMMARIZE's numbers plus seven quantiles, histograms, top values, string
   lengths, semantic types, PII, IQR and MAD outliers, keys confirmed exactly, duplicates),
   the anomalies and the score;

alternating the two ``--repeat`` times (this machine is shared: alternating spreads others'
load over both), and the medians compared. Then ydata-profiling's
``ProfileReport(df, minimal=True)`` on the first ``--ydata-rows`` rows as a pandas frame
(the frame's read not timed), compared per row. Goals: aoetl <= 1.5x SUMMARIZE; >= 10x faster
than ydata-profiling per row. Writes bench/results/profile.json.

    python bench/profile.py [--rows 2000000] [--ydata-rows 200000] [--repeat 3] [--skip-ydata]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import duckdb
from _harness import HERE, load, reason

DATA = HERE / "data" / "profile"
RESULTS = HERE / "results"
VERSION = "v1"
GOAL_RATIO = 1.5
GOAL_SPEEDUP = 10.0

# Every value is a function of the row number, so two runs write the same bytes.
ROWS_SQL = """
SELECT
  i AS id,
  CASE WHEN i % 997 = 0 THEN 1e6 + i ELSE round(CAST(hash(i) % 100000 AS BIGINT) / 100.0 + 10, 2)
  END AS amount,
  CAST(1 + CAST(hash(i * 3) % 20 AS BIGINT) AS INTEGER) AS quantity,
  TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i * 5) % 31536000 AS BIGINT)) AS created_at,
  DATE '2000-01-01' + CAST(CAST(hash(i * 7) % 9000 AS BIGINT) AS INTEGER) AS shipped_on,
  CASE WHEN i % 50 = 0 THEN NULL
       ELSE ['new', 'paid', 'shipped', 'returned', 'lost'][1 + CAST(hash(i * 11) % 5 AS BIGINT)]
  END AS status,
  'user' || CAST(hash(i * 13) % 1500000 AS BIGINT) || '@example.com' AS email,
  CASE WHEN i % 7 = 0 THEN NULL
       ELSE 'note about order ' || i || ' with some words '
            || ['fast', 'slow', 'late', 'ok'][1 + i % 4]
  END AS comment,
  CASE WHEN i % 20 = 0 THEN NULL ELSE CAST(hash(i * 17) % 1000000 AS BIGINT) / 1000.0 END AS score,
  ['DE', 'FR', 'US', 'GB', 'NL', 'IT', 'ES', 'PL', 'SE', 'NO']
      [1 + CAST(hash(i * 19) % 10 AS BIGINT)] AS country
FROM range({rows}) t(i)
"""


def generate(rows: int) -> Path:
    path = DATA / f"orders_{rows}_{VERSION}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        duckdb.execute(f"COPY ({ROWS_SQL.format(rows=rows)}) TO '{part}' (FORMAT parquet)")
        part.rename(path)
    return path


def summarize(path: Path) -> float:
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(f"SUMMARIZE SELECT * FROM read_parquet('{path}')").fetchall()
    took = time.perf_counter() - start
    con.close()
    return took


def aoetl(path: Path, home: Path) -> tuple[float, dict[str, Any]]:
    from agent_orchestrated_etl import DataOrchestrator

    orch = DataOrchestrator(home=home)
    start = time.perf_counter()
    reports = orch.profile(str(path), depth="standard", record=False)
    took = time.perf_counter() - start
    p = reports[0].profile
    found = {
        "rows": p.rows,
        "profile_s": p.duration_s,
        "duplicates": p.duplicate_rows,
        "candidate_keys": p.candidate_keys,
        "anomalies": len(reports[0].anomalies),
        "score": reports[0].score.total,
        "columns": {
            c.name: {
                "semantic": c.semantic,
                "pii": c.pii,
                "distinct": c.distinct,
                "outliers_iqr": c.outliers_iqr,
                "outliers_mad": c.outliers_mad,
                "histogram_bins": len(c.histogram.counts) if c.histogram else None,
                "top": len(c.top),
            }
            for c in p.columns
        },
    }
    return took, found


def ydata(path: Path, rows: int) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")  # its progress bars are not our output
    from ydata_profiling import ProfileReport

    frame = duckdb.execute(f"SELECT * FROM read_parquet('{path}') LIMIT {rows}").df()
    start = time.perf_counter()
    report = ProfileReport(frame, minimal=True, progress_bar=False)
    report.get_description()
    took = time.perf_counter() - start
    return {"rows": rows, "s": took, "rows_per_s": rows / took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--ydata-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ydata", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "load_average_at_start": load(),
        },
        "goals": {"max_ratio_to_summarize": GOAL_RATIO, "min_speedup_per_row": GOAL_SPEEDUP},
    }
    path = generate(args.rows)
    print(f"data: {path.name} ({args.rows:,} rows x 10 columns, {path.stat().st_size >> 20} MB)")
    summaries, profiles, found = [], [], {}
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / ".aoetl"
        aoetl(path, home)  # warm: imports, the extension links, the file in the page cache
        summarize(path)
        for _ in range(args.repeat):
            summaries.append(summarize(path))
            took, found = aoetl(path, home)
            profiles.append(took)
    floor, ours = statistics.median(summaries), statistics.median(profiles)
    ratio = ours / floor
    results["summarize_s"] = {"median": floor, "runs": [round(s, 4) for s in summaries]}
    results["aoetl_standard_s"] = {"median": ours, "runs": [round(s, 4) for s in profiles]}
    results["ratio_to_summarize"] = ratio
    results["ratio_goal_met"] = ratio <= GOAL_RATIO
    results["aoetl_found"] = found
    print(f"  DuckDB SUMMARIZE        {floor:6.2f} s   runs {results['summarize_s']['runs']}")
    print(f"  aoetl profile standard  {ours:6.2f} s   runs {results['aoetl_standard_s']['runs']}")
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"  ratio {ratio:.2f}x SUMMARIZE (goal <= {GOAL_RATIO}x): {verdict}")
    if not args.skip_ydata:
        try:
            peer = ydata(path, args.ydata_rows)
        except Exception as exc:
            results["ydata_profiling"] = {"error": reason(exc)}
            print(f"  ydata-profiling could not run: {reason(exc)}")
        else:
            ours_per_row = args.rows / ours
            speedup = ours_per_row / peer["rows_per_s"]
            results["ydata_profiling"] = peer
            results["speedup_per_row_vs_ydata"] = speedup
            results["speedup_goal_met"] = speedup >= GOAL_SPEEDUP
            verdict = "met" if speedup >= GOAL_SPEEDUP else "NOT met"
            print(
                f"  ydata-profiling minimal {peer['s']:6.2f} s on {peer['rows']:,} rows "
                f"({peer['rows_per_s']:,.0f} rows/s) vs aoetl {ours_per_row:,.0f} rows/s: "
                f"{speedup:.1f}x faster per row (goal >= {GOAL_SPEEDUP:g}x): {verdict}"
            )
    results["machine"]["load_average_at_end"] = load()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "profile.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"load average at start {results['machine']['load_average_at_start']}, at end "
        f"{results['machine']['load_average_at_end']} (2 cores, shared)"
    )
    print(f"wrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
