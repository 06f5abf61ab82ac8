"""Benchmark: aoetl's work as MCP tool calls on a warm ``aoetl mcp`` server, against the same
work as whole ``aoetl`` processes.

Two ``aoetl mcp --allow-write --allow-target 'duckdb:///*'`` servers, one over stdio and one
over streamable HTTP on 127.0.0.1 (``--http PORT``), each with the SDK's own client (session
initialised, a few warm-up calls of each tool), then, interleaved round by round so a busy
machine slows every contestant alike:

* ``analyze`` of a 10-row CSV, and of ``examples/sample_data/`` (6 files, 4 tables): the MCP
  call on each transport (round trip: request, work, the bounded JSON result) against
  ``aoetl analyze SOURCE --json`` as a process (wall time), and
  ``DataOrchestrator().analyze`` in this process (the floor). Goal: p50 of an MCP analyze
  <= 0.3x the CLI process, judged on the 10-row CSV (the issue's workload) and shown for
  examples/sample_data/ too, whose analysis is more work (~0.3 s in process: 6 files
  sniffed), so the process start weighs less against it.
* ``run`` of the 10-row CSV into DuckDB, a fresh target file each repetition (no run resumes
  another): the MCP call against ``aoetl run ten.csv --to duckdb:///… --json`` as a process,
  and the same ``prepare`` + ``run`` through ``DataOrchestrator`` in this process.

The goal is judged on stdio, the transport desktop and editor clients start; HTTP is shown
beside it. Each result is checked (the tables analyze found, 10 rows loaded) so a fast
failure cannot pass for a fast call. All share one AOETL_HOME (its run history grows alike
for each). Prints p50 (the median) and p95 (nearest rank) and the ratios; writes
bench/results/mcp.json.

    python bench/mcp.py [--rounds 12] [--mcp-calls 3] [--warmup 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _harness import AOETL, HERE, Failed, free_port, load, past_bench, said

RESULTS = HERE / "results"
SAMPLE_DATA = HERE.parent / "examples" / "sample_data"
GOAL_RATIO = 0.3  # p50 of an MCP analyze over the CLI process's
TEN_ROWS = "id,name,amount\n" + "".join(f"{i},name {i},{i}.5\n" for i in range(10))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def figures(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "runs_ms": [round(m, 1) for m in ms],
    }


def process(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Wall time of ``aoetl ARGS`` as a whole process, and its --json output."""
    started = time.perf_counter()
    done = subprocess.run([AOETL, *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise Failed(f"aoetl {args[0]} exited {done.returncode}: {said(done.stdout, done.stderr)}")
    return elapsed, json.loads(done.stdout)


def environment(root: Path) -> dict[str, str]:
    """The environment of every aoetl process the bench starts (the CLI's, both servers'):
    this one's (main() took out the AOETL_* settings that would change the work: another
    state store, target, mode or worker count), with its own AOETL_HOME."""
    return {**os.environ, "AOETL_HOME": str(root / ".aoetl"), "COLUMNS": "100"}


def tables_found(report: dict[str, Any]) -> list[str]:
    return sorted(r["name"] for r in report["resources"])


def loaded(result: dict[str, Any]) -> int:
    if result.get("status") != "success":
        raise Failed(f"the run did not succeed: {result.get('error')}")
    return sum(t["rows_loaded"] for t in result["tables"].values())


class Bench:
    """The contestants, sharing one scratch folder and AOETL_HOME."""

    def __init__(self, root: Path, clients: dict[str, Any]) -> None:
        from agent_orchestrated_etl import DataOrchestrator

        self.root = root
        self.clients = clients  # way ("mcp": stdio, "mcp_http") -> its connected client
        self.env = environment(root)
        self.orch = DataOrchestrator(home=root / ".aoetl")
        self.ten = str(root / "ten.csv")
        self.sources = {"ten_csv": self.ten, "sample_data": str(SAMPLE_DATA)}
        self.expected: dict[str, list[str]] = {}
        self._n = 0

    def target(self) -> str:
        self._n += 1
        return f"duckdb:///{self.root / f'w{self._n}.duckdb'}"

    async def mcp(self, way: str, tool: str, args: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        answer = await self.clients[way].call_tool(tool, args)
        elapsed = time.perf_counter() - started
        if answer.is_error:
            raise Failed(f"MCP {tool} over {way} failed: {answer.content[0].text}")
        return elapsed, dict(answer.structured_content or {})

    async def mcp_analyze(self, way: str, name: str) -> float:
        seconds, report = await self.mcp(way, "analyze", {"source": self.sources[name]})
        self.check_tables(name, report)
        return seconds

    def cli_analyze(self, name: str) -> float:
        seconds, report = process(
            ["analyze", self.sources[name], "--json"], cwd=self.root, env=self.env
        )
        self.check_tables(name, report)
        return seconds

    def api_analyze(self, name: str) -> float:
        started = time.perf_counter()
        report = self.orch.analyze(self.sources[name]).to_dict()
        seconds = time.perf_counter() - started
        self.check_tables(name, report)
        return seconds

    def check_tables(self, name: str, report: dict[str, Any]) -> None:
        found = tables_found(report)
        if self.expected.setdefault(name, found) != found:
            raise Failed(f"analyze {name} found {found}, before {self.expected[name]}")

    async def mcp_run(self, way: str) -> float:
        args = {"source": self.ten, "target": self.target()}
        seconds, result = await self.mcp(way, "run", args)
        return self.check_run(seconds, result)

    def cli_run(self) -> float:
        seconds, result = process(
            ["run", self.ten, "--to", self.target(), "--json"], cwd=self.root, env=self.env
        )
        return self.check_run(seconds, result)

    def api_run(self) -> float:
        started = time.perf_counter()
        prepared = self.orch.prepare(self.ten, base_dir=self.root, target=self.target())
        result = self.orch.run(prepared.spec, base_dir=prepared.base_dir).to_dict()
        return self.check_run(time.perf_counter() - started, result)

    def check_run(self, seconds: float, result: dict[str, Any]) -> float:
        if loaded(result) != 10:
            raise Failed(f"the run loaded {loaded(result)} rows, not 10")
        for table in result["tables"].values():  # each repetition's own file, gone after
            Path(table["target"].removeprefix("duckdb:///").split("#")[0]).unlink()
        return seconds


def leaves(group: BaseExceptionGroup[Failed]) -> list[BaseException]:
    """The exceptions in ``group``, out of the task groups nested around them."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


async def listening(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the HTTP server takes connections on ``port``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise Failed(f"aoetl mcp --http exited {server.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        await asyncio.sleep(0.05)
    raise Failed(f"aoetl mcp --http did not listen within 60 s: {log.read_text()[-2000:]}")


async def measure(root: Path, rounds: int, mcp_calls: int, warmup: int) -> dict[str, Any]:
    mcp = past_bench("mcp")  # this file is bench/mcp.py
    env = environment(root)
    args = ["mcp", "--allow-write", "--allow-target", "duckdb:///*"]
    server = mcp.StdioServerParameters(command=AOETL, args=args, cwd=str(root), env=env)
    port, log = free_port(), root / "http-server.log"
    with log.open("wb") as out:
        http = subprocess.Popen(
            [AOETL, *args, "--http", str(port)],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        async with contextlib.AsyncExitStack() as stack:
            started = time.perf_counter()
            stdio = await stack.enter_async_context(mcp.Client(server, read_timeout_seconds=120))
            start_s = time.perf_counter() - started
            await listening(port, http, log)
            url = f"http://127.0.0.1:{port}/mcp"
            over_http = await stack.enter_async_context(mcp.Client(url, read_timeout_seconds=120))
            return await _rounds(
                Bench(root, {"mcp": stdio, "mcp_http": over_http}),
                start_s,
                rounds,
                mcp_calls,
                warmup,
            )
    finally:
        http.terminate()
        try:
            http.wait(timeout=30)
        except subprocess.TimeoutExpired:
            http.kill()
            http.wait()


async def _rounds(
    bench: Bench, start_s: float, rounds: int, mcp_calls: int, warmup: int
) -> dict[str, Any]:
    def over(way: str) -> dict[str, Callable[[], Awaitable[float]]]:
        return {
            "analyze_ten_csv": lambda: bench.mcp_analyze(way, "ten_csv"),
            "analyze_sample_data": lambda: bench.mcp_analyze(way, "sample_data"),
            "run_ten_csv": lambda: bench.mcp_run(way),
        }

    remote = {way: over(way) for way in bench.clients}
    local: dict[str, dict[str, Callable[[], float]]] = {
        "cli": {
            "analyze_ten_csv": lambda: bench.cli_analyze("ten_csv"),
            "analyze_sample_data": lambda: bench.cli_analyze("sample_data"),
            "run_ten_csv": bench.cli_run,
        },
        "api": {
            "analyze_ten_csv": lambda: bench.api_analyze("ten_csv"),
            "analyze_sample_data": lambda: bench.api_analyze("sample_data"),
            "run_ten_csv": bench.api_run,
        },
    }
    # Warm: the servers' imports and first-call caches, DuckDB's extensions linked into
    # AOETL_HOME by the first run, this process's imports for the in-process floor.
    for _ in range(warmup):
        for calls in remote.values():
            for call in calls.values():
                await call()
    for ways in local.values():
        for warm in ways.values():
            warm()
    works = list(remote["mcp"])
    times: dict[str, dict[str, list[float]]] = {
        way: {work: [] for work in works} for way in (*remote, *local)
    }
    for _ in range(rounds):
        for work in works:
            for _ in range(mcp_calls):
                for way, calls in remote.items():
                    times[way][work].append(await calls[work]())
            for way, ways in local.items():
                times[way][work].append(ways[work]())
    return {"server_start_s": round(start_s, 3), "times": times, "tables": bench.expected}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="CLI processes per work")
    parser.add_argument("--mcp-calls", type=int, default=3, help="MCP calls per round")
    parser.add_argument("--warmup", type=int, default=3, help="MCP calls of each before timing")
    args = parser.parse_args()

    load_before = load()
    # The in-process contestant reads this process's settings: none of them, as the others.
    for name in [k for k in os.environ if k.startswith("AOETL_")]:
        del os.environ[name]
    root = Path(tempfile.mkdtemp(prefix="aoetl-bench-mcp-"))
    try:
        (root / "ten.csv").write_text(TEN_ROWS)
        started = time.perf_counter()
        measured = asyncio.run(measure(root, args.rounds, args.mcp_calls, args.warmup))
        wall_s = time.perf_counter() - started
    except BaseExceptionGroup as group:  # raised inside the client's task group
        failed, _ = group.split(Failed)
        if failed is None:
            raise
        for exc in leaves(failed):
            print(f"error: {exc}", file=sys.stderr)
        return 1
    except Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)

    times = measured["times"]
    work: dict[str, Any] = {}
    for name in times["mcp"]:
        shown = {way: figures(times[way][name]) for way in ("mcp", "mcp_http", "cli", "api")}
        p50 = {way: shown[way]["p50_ms"] for way in shown}
        work[name] = {
            **shown,
            "ratio_mcp_to_cli_p50": round(p50["mcp"] / p50["cli"], 3),
            "ratio_mcp_to_cli_p95": round(shown["mcp"]["p95_ms"] / shown["cli"]["p95_ms"], 3),
            "ratio_mcp_http_to_cli_p50": round(p50["mcp_http"] / p50["cli"], 3),
            "ratio_mcp_http_to_cli_p95": round(
                shown["mcp_http"]["p95_ms"] / shown["cli"]["p95_ms"], 3
            ),
            "mcp_overhead_over_api_p50_ms": round(p50["mcp"] - p50["api"], 1),
            "mcp_http_overhead_over_api_p50_ms": round(p50["mcp_http"] - p50["api"], 1),
        }
    by_source = {
        name.removeprefix("analyze_"): w["ratio_mcp_to_cli_p50"] <= GOAL_RATIO
        for name, w in work.items()
        if name.startswith("analyze_")
    }
    passed = by_source["ten_csv"]

    print(
        f"\n  aoetl as MCP tool calls on warm servers (stdio, HTTP) vs whole CLI processes "
        f"({args.rounds} rounds; {args.mcp_calls} MCP calls on each and 1 process a round; "
        f"stdio server up and initialised in {measured['server_start_s']:.2f} s)"
    )
    print(
        f"  {'':<20}{'stdio p50/p95':>16}{'HTTP p50/p95':>17}{'CLI p50/p95':>17}"
        f"{'in-process':>12}{'stdio/CLI':>11}{'HTTP/CLI':>10}"
    )
    for name, w in work.items():
        print(
            f"  {name:<20}{w['mcp']['p50_ms']:>7.0f} /{w['mcp']['p95_ms']:>5.0f} ms"
            f"{w['mcp_http']['p50_ms']:>8.0f} /{w['mcp_http']['p95_ms']:>5.0f} ms"
            f"{w['cli']['p50_ms']:>8.0f} /{w['cli']['p95_ms']:>5.0f} ms"
            f"{w['api']['p50_ms']:>9.0f} ms"
            f"{w['ratio_mcp_to_cli_p50']:>10.2f}x{w['ratio_mcp_http_to_cli_p50']:>9.2f}x"
        )
    for source, ok in by_source.items():
        ratio = work[f"analyze_{source}"]["ratio_mcp_to_cli_p50"]
        print(
            f"  goal: p50 of an MCP analyze of {source} <= {GOAL_RATIO}x the CLI process: "
            f"{'PASS' if ok else 'FAIL'} ({ratio:.2f}x)"
        )
    print(f"  load average before {load_before}, after {load()} (2 cores, shared)")

    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load(),
        },
        "versions": {
            "aoetl": version("agent-orchestrated-etl"),
            "mcp": version("mcp"),
            "duckdb": version("duckdb"),
        },
        "setup": {
            "server": "aoetl mcp --allow-write --allow-target 'duckdb:///*' (stdio: 'mcp'; "
            "with --http PORT on 127.0.0.1: 'mcp_http')",
            "rounds": args.rounds,
            "mcp_calls_per_round": args.mcp_calls,
            "warmup_calls": args.warmup,
            "server_start_s": measured["server_start_s"],
            "tables_found": measured["tables"],
            "wall_s": round(wall_s, 1),
        },
        "goal": f"p50 of an MCP analyze <= {GOAL_RATIO}x the CLI process",
        "goal_ratio": GOAL_RATIO,
        "work": work,
        "pass": passed,
        "pass_judged_on": "analyze_ten_csv (the issue's workload: a 10-row CSV)",
        "pass_by_source": by_source,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "mcp.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(HERE.parent)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
