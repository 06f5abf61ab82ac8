"""Benchmark: executor overhead per task, and recovery time after kill -9.

1. Overhead: a Plan of 1,000 no-op tasks (a chain of layers, 10 wide) run by the Executor with
   1 and with 2 workers; the time per task is the whole run divided by 1,000.
   Goal: <= 2 ms per task. Peer: the same tasks called in a plain Python loop.
2. Recovery: a CLI run of 4 tables through a slow python step is killed with SIGKILL after
   the first tables are staged; the rerun's time from process start until it starts loading
   the first table that was not staged is read from its --monitor events.
   Goal: <= 1 s (the reference project aimed for < 30 s).

Writes bench/results/engine.json.

    python bench/engine.py [--tasks 1000] [--trials 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent_orchestrated_etl.engine import (
    CancelToken,
    EventBus,
    Executor,
    ExecutorConfig,
    Plan,
    Task,
)
from agent_orchestrated_etl.spec import RetrySpec

HERE = Path(__file__).resolve().parent
AOETL = str(Path(sys.executable).with_name("aoetl"))


def overhead(n: int, workers: int) -> dict[str, float]:
    width = 10
    tasks = [
        Task(
            f"t{i}",
            "noop",
            tuple(f"t{j}" for j in range((i // width - 1) * width, (i // width) * width))
            if i >= width
            else (),
        )
        for i in range(n)
    ]
    plan = Plan(tasks)
    events = 0

    def count(_event: object) -> None:
        nonlocal events
        events += 1

    bus = EventBus()
    bus.subscribe(count)

    def noop(task: Task, token: CancelToken) -> None:
        return None

    start = time.perf_counter()
    outcomes = Executor(bus, "bench", ExecutorConfig(workers=workers, retry=RetrySpec())).run(
        plan, noop
    )
    elapsed = time.perf_counter() - start
    assert all(o.status == "success" for o in outcomes.values())
    return {"seconds": elapsed, "ms_per_task": elapsed / n * 1000, "events": events}


def plain_loop(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        (lambda task: None)(i)
    return (time.perf_counter() - start) / n * 1000


STEP = "import time\n\ndef slow(batch):\n    time.sleep(1.5)\n    return batch\n"


def recovery_trial(root: Path) -> dict[str, float]:
    data = root / "data"
    data.mkdir(parents=True)
    for t in ("a", "b", "c", "d"):
        (data / f"{t}.csv").write_text("id,v\n" + "".join(f"{i},{t}{i}\n" for i in range(5000)))
    (root / "slow.py").write_text(STEP)
    (root / "pipeline.yaml").write_text(
        "name: recover\nsource: data/\ntarget: duckdb:///w.duckdb\nmode: append\n"
        "transforms:\n  - python: slow:slow\n"
    )
    env = {**os.environ, "AOETL_HOME": str(root / ".aoetl")}
    cmd = [AOETL, "run", "pipeline.yaml", "--workers", "1", "--json"]
    first = subprocess.Popen(
        [*cmd, "--monitor", "first.jsonl"], cwd=root, env=env, stdout=subprocess.DEVNULL
    )
    # Kill once two tables are staged (their task_finished events are in the monitor file).
    deadline = time.time() + 60
    while time.time() < deadline:
        log = root / "first.jsonl"
        done = log.exists() and log.read_text().count('"task_finished"') >= 2
        if done:
            break
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    start = time.time()
    subprocess.run(
        [*cmd, "--monitor", "second.jsonl"],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    total = time.time() - start
    events = [json.loads(line) for line in (root / "second.jsonl").read_text().splitlines()]
    resumed = {e["task_id"] for e in events if e["kind"] == "task_resumed"}
    first_new = next(
        e["at"]
        for e in events
        if e["kind"] == "task_started"
        and e["task_id"].startswith("load:")
        and e["task_id"] not in resumed
    )
    return {
        "recovery_s": first_new - start,
        "tables_resumed": len(resumed),
        "rerun_total_s": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, object] = {"tasks": args.tasks, "cpus": os.cpu_count()}
    print(f"Executor overhead, {args.tasks:,} no-op tasks in layers of 10")
    loop_ms = plain_loop(args.tasks)
    for workers in (1, 2):
        r = overhead(args.tasks, workers)
        results[f"overhead_workers_{workers}"] = r
        print(
            f"  workers={workers}: {r['seconds']:.3f} s, {r['ms_per_task']:.3f} ms/task "
            f"({r['events']:,} events)  goal <= 2 ms/task"
        )
    results["plain_python_loop_ms_per_task"] = loop_ms
    print(f"  plain Python loop (peer floor): {loop_ms:.5f} ms/task")

    print(f"\nRecovery after kill -9 ({args.trials} trials)")
    trials = []
    for i in range(args.trials):
        root = Path(tempfile.mkdtemp(prefix="aoetl-recovery-"))
        try:
            trial = recovery_trial(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        trials.append(trial)
        print(
            f"  trial {i + 1}: loading resumed {trial['recovery_s']:.3f} s after restart "
            f"({trial['tables_resumed']} tables from checkpoints)"
        )
    median = statistics.median(t["recovery_s"] for t in trials)
    results["recovery"] = {"trials": trials, "median_s": median}
    print(f"  median {median:.3f} s  goal <= 1 s (reference project: < 30 s)")
    out = HERE / "results" / "engine.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
