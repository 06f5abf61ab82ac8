"""Benchmark: how fast the ``aoetl`` command starts, against a bare DuckDB import.

Times whole processes, interleaved round by round so a busy machine slows every contestant
alike:

* ``python -c "import duckdb"``: the floor every DuckDB tool pays;
* ``aoetl --help``;
* ``aoetl run`` of a 10-row CSV into a fresh DuckDB file (``--json``, its own AOETL_HOME).

Prints medians and the ratios to the DuckDB import (goal: ``aoetl --help`` at most 1.0x);
writes bench/results/cli_start.json.

    python bench/cli_start.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PYTHON = sys.executable
AOETL = str(Path(sys.executable).with_name("aoetl"))


def timed_process(args: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aoetl-start-"))
    try:
        (root / "ten.csv").write_text("id,name,amount\n" + "".join(
            f"{i},name {i},{i}.5\n" for i in range(10)))  # fmt: skip
        env = {**os.environ, "AOETL_HOME": str(root / ".aoetl"), "COLUMNS": "100"}
        for name in ("AOETL_TARGET", "AOETL_MODE", "AOETL_WORKERS"):
            env.pop(name, None)
        n = iter(range(10**6))

        def run_csv() -> float:
            target = root / f"w{next(n)}.duckdb"
            seconds = timed_process(
                [AOETL, "run", "ten.csv", "--to", f"duckdb:///{target}", "--json"],
                cwd=root,
                env=env,
            )
            target.unlink()
            return seconds

        contestants: dict[str, Callable[[], float]] = {
            "duckdb_import": lambda: timed_process(
                [PYTHON, "-c", "import duckdb"], cwd=root, env=env
            ),
            "aoetl_help": lambda: timed_process([AOETL, "--help"], cwd=root, env=env),
            "aoetl_run_10_rows": run_csv,
        }
        run_csv()  # the first run links DuckDB's extensions into AOETL_HOME: not a start cost
        times: dict[str, list[float]] = {name: [] for name in contestants}
        for _ in range(args.rounds):
            for name, contestant in contestants.items():
                times[name].append(contestant())
    finally:
        shutil.rmtree(root, ignore_errors=True)

    medians = {name: statistics.median(t) for name, t in times.items()}
    floor = medians["duckdb_import"]
    ratios = {
        "aoetl_help_vs_duckdb_import": medians["aoetl_help"] / floor,
        "aoetl_run_10_rows_vs_duckdb_import": medians["aoetl_run_10_rows"] / floor,
    }
    print(f"CLI start, whole processes ({args.rounds} interleaved rounds, median)")
    for name, secs in medians.items():
        print(
            f"  {name:<20} {secs:6.3f} s  (min {min(times[name]):.3f}, max {max(times[name]):.3f})"
        )
    print(f"  {'aoetl --help / import duckdb':<34} {ratios['aoetl_help_vs_duckdb_import']:5.2f}x  "
          "(goal <= 1.0x)")  # fmt: skip
    print(f"  {'aoetl run 10 rows / import duckdb':<34} "
          f"{ratios['aoetl_run_10_rows_vs_duckdb_import']:5.2f}x")  # fmt: skip
    results = {
        "rounds": args.rounds,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
        },
        "timings": {
            name: {"median_s": medians[name], "runs_s": [round(t, 4) for t in ts]}
            for name, ts in times.items()
        },
        "ratios": ratios,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "cli_start.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
