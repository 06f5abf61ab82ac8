"""Soak: kill -9 a real `aoetl run` at random points, rerun it, and check exactly-once content.

Each trial loads four CSV tables through a slow python: step into a fresh DuckDB file, sends
SIGKILL at a random moment (during discovery, staging, commit, or after), then runs the same
pipeline again. The target must then hold exactly the rows of one clean run, checked per table
by row count and a checksum over every column. Writes bench/results/soak_kill.json.

    python bench/soak_kill.py [--trials 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
AOETL = str(Path(sys.executable).with_name("aoetl"))
STEP = "import time\n\ndef slow(batch):\n    time.sleep(0.8)\n    return batch\n"
TABLES = {"alpha": 3000, "beta": 5000, "gamma": 2000, "delta": 8000}


def setup(root: Path) -> None:
    data = root / "data"
    data.mkdir(parents=True)
    for t, n in TABLES.items():
        rows = "".join(f"{i},{t}-{i},{i * 0.25}\n" for i in range(n))
        (data / f"{t}.csv").write_text("id,label,amount\n" + rows)
    (root / "slow.py").write_text(STEP)
    (root / "pipeline.yaml").write_text(
        "name: soak\nsource: data/\ntarget: duckdb:///w.duckdb\nmode: append\n"
        "transforms:\n  - python: slow:slow\n"
    )


def content(db: Path) -> dict[str, list[object]]:
    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND table_name NOT LIKE '_aoetl_stage%' ORDER BY 1"
        ).fetchall()
        return {
            n: list(
                con.execute(f'SELECT count(*), sum(hash(id, label, amount)) FROM "{n}"').fetchone()
                or ()
            )
            for (n,) in names
        }
    finally:
        con.close()


def run(root: Path, *args: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AOETL_HOME": str(root / ".aoetl")}
    return subprocess.Popen(
        [AOETL, "run", "pipeline.yaml", "--json", *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="aoetl-soak-"))
    try:
        clean = work / "clean"
        setup(clean)
        assert run(clean).wait() == 0
        expected = content(clean / "w.duckdb")
        trials, failures = [], 0
        for i in range(args.trials):
            root = work / f"trial{i}"
            setup(root)
            delay = rng.uniform(0.2, 3.0)
            proc = run(root, "--workers", "2")
            time.sleep(delay)
            proc.kill()
            proc.wait()
            after_kill = content(root / "w.duckdb")
            atomic = after_kill in ({}, expected)
            rerun = run(root).wait()
            final = content(root / "w.duckdb")
            # A run that finished before the kill is complete; its rerun appends once more.
            finished = after_kill == expected
            exact = final == expected or (
                finished and all(final[t][0] == 2 * expected[t][0] for t in expected)
            )
            ok = atomic and exact and rerun == 0
            failures += not ok
            trials.append(
                {
                    "kill_after_s": round(delay, 3),
                    "finished_before_kill": finished,
                    "atomic": atomic,
                    "exact_after_rerun": exact,
                    "ok": ok,
                }
            )
            print(
                f"trial {i + 1:>2}: kill after {delay:.2f}s -> "
                f"{'finished first' if finished else 'interrupted'}; "
                f"{'ok' if ok else 'FAILED'}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(trials)} trials, {failures} failures")
    out = HERE / "results" / "soak_kill.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"trials": trials, "failures": failures}, indent=2) + "\n")
    print(f"wrote {out.relative_to(HERE.parent)}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
