"""Benchmark: memory's vector search, and what memory costs a run.

Three measurements:

* **retrieval at 100k memories**, on a warm process (the encoder loaded once): each query is
  ``DataOrchestrator.memory_search`` minus nothing: its text embedded by MiniLM (on ONNX
  Runtime, or sentence-transformers where that is unavailable: the output names which),
  ChromaDB's HNSW query, the records read back from the state DB. p50 and p95 over distinct
  queries (goal: p95 <= 15 ms), then the same queries again stage by stage (tokenize, the
  ONNX session's run, pooling, Chroma's query, the records' read) to show where the time
  goes. The 100k records are real embeddings of a few thousand distinct generated texts,
  each reused with a small random perturbation (renormalised), so that the setup takes a
  couple of minutes rather than an hour of embedding; the output says how many were distinct;
* **cold ``aoetl memory search`` processes** on that index (interpreter, imports, encoder load
  and one query), and the first search of a fresh home, which exports MiniLM to ONNX once;
* **a run's overhead**: ``aoetl run`` of a 10-row CSV with ``AOETL_MEMORY=on`` (a known source:
  exact lookup and two SQLite writes, no model) against ``AOETL_MEMORY=off``, whole processes
  in interleaved rounds (goal: median ratio <= 1.1x).

Prints the figures and ratios; writes bench/results/memory.json.

    python bench/memory.py [--memories 100000] [--distinct 3000] [--queries 200] [--rounds 15]
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
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# bench/profile.py would shadow the standard library's profile module, which torch imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
RESULTS = HERE / "results"
AOETL = str(Path(sys.executable).with_name("aoetl"))

_THINGS = ["orders", "customers", "invoices", "payments", "sensor readings", "weather stations",
           "web sessions", "page views", "shipments", "inventory", "employees", "tickets",
           "flights", "trades", "clicks", "subscriptions", "reviews", "products", "refunds",
           "patients", "vehicles", "meters", "logins", "emails"]  # fmt: skip
_PLACES = ["files", "sql", "rest", "s3"]
_FORMATS = ["csv", "parquet", "ndjson", "postgresql", "json"]
_COLUMNS = ["id BIGINT", "name VARCHAR", "amount DECIMAL(10,2)", "created_at TIMESTAMP",
            "email VARCHAR", "country VARCHAR", "status VARCHAR", "price DOUBLE",
            "quantity INTEGER", "updated_at TIMESTAMP", "lat DOUBLE", "lon DOUBLE",
            "temperature_c DOUBLE", "user_id BIGINT", "sku VARCHAR", "score DOUBLE"]  # fmt: skip
_OUTCOMES = ["succeeded: {n:,} rows in {s:.2f}s", "failed (timeout): task exceeded its time "
             "limit of {s:.0f}s", "failed (out_of_memory): free memory on this machine",
             "failed (bad_input): conversion error in column {c}"]  # fmt: skip


def _text(rng: random.Random, i: int) -> str:
    """One distinct memory text, like the records runs write."""
    thing, place, fmt = rng.choice(_THINGS), rng.choice(_PLACES), rng.choice(_FORMATS)
    cols = ", ".join(rng.sample(_COLUMNS, rng.randint(3, 7)))
    if i % 3 == 0:
        where = f"{place}://host/{thing.replace(' ', '_')}_{i}.{fmt}"
        return f"{place} source {where}: table {thing} ({fmt}): {cols}"
    outcome = rng.choice(_OUTCOMES).format(
        n=rng.randint(10, 5_000_000), s=rng.uniform(0.1, 900), c=rng.choice(_COLUMNS).split()[0]
    )
    return (
        f"run {i} of pipeline {thing}_{i % 97} from {place}://host/{thing}.{fmt} into tables "
        f"{thing} {outcome}; settings workers={rng.choice([1, 2, 4, 8])}, retries=3"
    )


def fill(home: Path, total: int, distinct: int) -> dict[str, float]:
    """``total`` records in a fresh state DB and index: ``distinct`` real embeddings, reused."""
    import numpy as np

    from agent_orchestrated_etl.agents.memory.index import MemoryIndex, embed, encoder
    from agent_orchestrated_etl.state import MemoryRecord, StateStore

    rng = random.Random(7)
    started = time.perf_counter()
    encoder(home)  # a fresh home: exports MiniLM to ONNX here (or loads the fallback)
    loaded = time.perf_counter()
    texts = [_text(rng, i) for i in range(distinct)]
    base = np.asarray(embed(texts, home), dtype=np.float32)
    embedded = time.perf_counter()
    store = StateStore(home)
    noise = np.random.default_rng(7)
    step = 10_000
    index = MemoryIndex(home, store.memory)
    for start in range(0, total, step):
        n = min(step, total - start)
        picks = noise.integers(0, distinct, n)
        vectors = base[picks] + noise.normal(0, 0.02, (n, base.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        records = [
            MemoryRecord(
                kind="run",
                fingerprint=f"fp{int(p) % 500}",
                schema_hash=f"sh{int(p) % 300}",
                uri=f"bench://{int(p)}",
                text=f"{texts[int(p)]} (copy {start + j})",
            )
            for j, p in enumerate(picks)
        ]
        first = store.memory.count() + 1
        store.memory.add_many(records)
        ids = list(range(first, first + n))
        for part in range(0, n, 5000):  # Chroma caps one call's batch
            index.add(ids[part : part + 5000], vectors[part : part + 5000].tolist())
    done = time.perf_counter()
    return {
        "encoder_ready_s": round(loaded - started, 2),
        "embed_distinct_s": round(embedded - loaded, 2),
        "insert_s": round(done - embedded, 2),
    }


def retrieval(home: Path, queries: int) -> dict[str, Any]:
    """Warm queries through the Python API: embed, search, read the records back; then the
    same queries stage by stage."""
    from agent_orchestrated_etl import DataOrchestrator
    from agent_orchestrated_etl.agents.memory.index import embed, encoder

    orch = DataOrchestrator(home=home)
    rng = random.Random(11)
    asks = [f"{rng.choice(_THINGS)} from {rng.choice(_FORMATS)} that {w}" for w in
            ("failed with a timeout", "loaded fast", "ran out of memory", "had bad rows")
            for _ in range(queries // 4 + 1)][:queries]  # fmt: skip
    asks = [f"{q} #{i}" for i, q in enumerate(asks)]  # distinct: no cache can help
    orch.memory_search("warm up", k=5)
    total, embeds = [], []
    for q in asks:
        t0 = time.perf_counter()
        hits = orch.memory_search(q, k=5)
        total.append(time.perf_counter() - t0)
        assert len(hits) == 5
        t0 = time.perf_counter()
        embed([q], home)
        embeds.append(time.perf_counter() - t0)
    q95 = statistics.quantiles(total, n=20)[18]
    result: dict[str, Any] = {
        "encoder": type(encoder(home)).__name__,
        "queries": len(asks),
        "p50_ms": round(statistics.median(total) * 1000, 2),
        "p95_ms": round(q95 * 1000, 2),
        "embed_p50_ms": round(statistics.median(embeds) * 1000, 2),
    }
    result["stages_ms"] = stages(home, [f"{q} again" for q in asks])
    return result


def stages(home: Path, asks: list[str]) -> dict[str, dict[str, float]]:
    """Each stage of a query timed apart (p50 and p95): where the time goes."""
    from agent_orchestrated_etl.agents.memory._encoder import pool
    from agent_orchestrated_etl.agents.memory.index import MemoryIndex, encoder
    from agent_orchestrated_etl.state import StateStore

    enc = encoder(home)
    store = StateStore(home)
    index = MemoryIndex.open(home, store.memory)
    times: dict[str, list[float]] = {}

    def clock(name: str, t0: float) -> float:
        now = time.perf_counter()
        times.setdefault(name, []).append(now - t0)
        return now

    for q in asks:
        t = time.perf_counter()
        if hasattr(enc, "tokenize"):  # the ONNX encoder's stages
            feeds = enc.tokenize([q])
            t = clock("tokenize", t)
            hidden = enc.hidden(feeds)
            t = clock("session_run", t)
            vector = pool(hidden, feeds["attention_mask"])[0].tolist()
            t = clock("pool", t)
        else:
            vector = enc.encode([q])[0].tolist()
            t = clock("embed_torch", t)
        hits = index.nearest(vector, 5)
        t = clock("chroma_query", t)
        store.memory.get(i for i, _ in hits)
        clock("record_read", t)
    return {
        name: {
            "p50": round(statistics.median(v) * 1000, 3),
            "p95": round(statistics.quantiles(v, n=20)[18] * 1000, 3),
        }
        for name, v in times.items()
    }


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=3_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aoetl-memory-"))
    env = {**os.environ, "COLUMNS": "100"}
    for name in ("AOETL_TARGET", "AOETL_MODE", "AOETL_WORKERS", "AOETL_MEMORY"):
        env.pop(name, None)
    try:
        big = root / "big"
        print(f"filling {args.memories:,} memories from {args.distinct:,} distinct texts ...")
        setup = fill(big, args.memories, args.distinct)
        warm = retrieval(big, args.queries)
        cold = [
            timed([AOETL, "memory", "search", "orders that timed out", "--json"], root,
                  {**env, "AOETL_HOME": str(big)})
            for _ in range(5)
        ]  # fmt: skip
        first = timed([AOETL, "memory", "search", "orders that timed out", "--json"], root,
                      {**env, "AOETL_HOME": str(root / "fresh")})  # fmt: skip

        (root / "ten.csv").write_text("id,name,amount\n" + "".join(
            f"{i},name {i},{i}.5\n" for i in range(10)))  # fmt: skip
        homes = {"on": root / "home-on", "off": root / "home-off"}
        n = iter(range(10**6))

        def run(mode: str) -> float:
            target = root / f"w{next(n)}.duckdb"
            seconds = timed(
                [AOETL, "run", "ten.csv", "--to", f"duckdb:///{target}", "--json"],
                root,
                {**env, "AOETL_HOME": str(homes[mode]), "AOETL_MEMORY": mode},
            )
            target.unlink()
            return seconds

        for mode in homes:
            run(mode)  # links DuckDB's extensions; memory on: the source becomes known
        runs: dict[str, list[float]] = {"on": [], "off": []}
        for i in range(args.rounds):
            for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
                runs[mode].append(run(mode))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    on, off = statistics.median(runs["on"]), statistics.median(runs["off"])
    ratio = on / off
    cold_s = statistics.median(cold)
    print(f"Memory ({args.memories:,} records: {args.distinct:,} distinct texts embedded by "
          f"MiniLM, each reused with a small perturbation)")  # fmt: skip
    print(f"  setup: encoder ready (ONNX export included) {setup['encoder_ready_s']} s, "
          f"embedding {args.distinct:,} texts {setup['embed_distinct_s']} s, storing "
          f"{args.memories:,} {setup['insert_s']} s")  # fmt: skip
    print(f"  warm retrieval, query embedding included ({warm['queries']} queries, "
          f"{warm['encoder']}): p50 {warm['p50_ms']} ms, p95 {warm['p95_ms']} ms (goal <= 15 "
          f"ms; embedding alone p50 {warm['embed_p50_ms']} ms)")  # fmt: skip
    print("  stages of a query, ms (p50 / p95): " + ", ".join(
        f"{name} {v['p50']} / {v['p95']}" for name, v in warm["stages_ms"].items()))  # fmt: skip
    print(f"  cold 'aoetl memory search' process (encoder load included): median {cold_s:.2f} s "
          f"of {len(cold)}; first search of a fresh home (ONNX export included) "
          f"{first:.2f} s")  # fmt: skip
    print(f"  aoetl run of a 10-row CSV ({args.rounds} interleaved rounds, median): memory on "
          f"{on:.3f} s, off {off:.3f} s: {ratio:.3f}x (goal <= 1.1x)")  # fmt: skip
    results = {
        "memories": args.memories,
        "distinct_texts": args.distinct,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
        },
        "setup_s": setup,
        "warm_retrieval": {**warm, "goal_p95_ms": 15},
        "cold_search_process_s": {"median": round(cold_s, 3), "runs": [round(c, 3) for c in cold]},
        "first_search_fresh_home_s": round(first, 3),
        "run_10_rows": {
            "memory_on_median_s": round(on, 4),
            "memory_off_median_s": round(off, 4),
            "ratio_on_vs_off": round(ratio, 4),
            "goal_ratio": 1.1,
            "on_s": [round(t, 4) for t in runs["on"]],
            "off_s": [round(t, 4) for t in runs["off"]],
        },
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "memory.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
