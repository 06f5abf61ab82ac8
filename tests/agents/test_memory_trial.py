"""Memory after a new user's trial: a routed source is one source, runs made task by task are
advised and remembered, the plan shows memory's advice, partial ids find their records, and
workers are proven only where they can matter and beyond noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.agents.memory import advise, source_record
from agent_orchestrated_etl.pipeline import RunOptions, run_pipeline, run_task
from agent_orchestrated_etl.spec import PipelineSpec, validate_spec
from agent_orchestrated_etl.state import MemoryRecord, StateStore
from tests.helpers import run_cli

ORDERS = "id,country,amount\n1,DE,10\n2,FR,20\n3,BE,30\n4,DE,40\n5,US,50\n"


def _spec(work: Path, **extra: object) -> PipelineSpec:
    folder = work / "data"
    folder.mkdir(exist_ok=True)
    (folder / "orders.csv").write_text(ORDERS)
    body = {"name": "shop", "source": str(folder), "target": f"duckdb:///{work / 'w.duckdb'}"}
    return validate_spec({**body, **extra})


def _run(work: Path, spec: PipelineSpec) -> Any:
    return run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=1, workers_given=True))


def _memory_notes(notes: list[str] | tuple[str, ...]) -> list[str]:
    return [n for n in notes if n.startswith("memory #")]


def _seed(store: StateStore, source: MemoryRecord, **run: Any) -> int:
    """A remembered run of ``source``, as a run would have written it."""
    base = {k: getattr(source, k) for k in ("fingerprint", "schema_hash", "uri")}
    return store.memory.add(MemoryRecord(**base, kind="run", text="run", **run))


# -- T4 ----------------------------------------------------------------------------------------
def test_a_routed_source_is_one_source_fingerprinted_as_discovered(work: Path) -> None:
    routes = {"orders": [{"when": "country = 'DE'", "to": "o_de"}, {"else": "o_rest"}]}
    plain = _run(work, _spec(work))
    routed = _run(work, _spec(work, routes=routes))
    again = _run(work, _spec(work, routes=routes))
    assert {plain.status, routed.status, again.status} == {"success"}
    store = StateStore(work / ".aoetl")
    (source,) = store.memory.entries(kind="source")  # one file, one fingerprint
    assert [t["table"] for t in source.data["schema"]] == ["orders"]
    runs = store.memory.by_fingerprint(source.fingerprint, kind="run")
    assert [r.run_id for r in runs] == [again.run_id, routed.run_id, plain.run_id]
    (note,) = _memory_notes(again.notes)
    assert "this source has 2 remembered runs" in note, note


# -- T5 and T6 ---------------------------------------------------------------------------------
def _timed_out_before(work: Path) -> tuple[StateStore, MemoryRecord, int]:
    """A source whose newest run timed out at timeout_s=10 after one that succeeded."""
    assert _run(work, _spec(work, timeout_s=10)).status == "success"
    store = StateStore(work / ".aoetl")
    (source,) = store.memory.entries(kind="source")
    failed = _seed(
        store, source, run_id="SLOW-1", status="failed", failure="timeout",
        settings={"workers": 1, "timeout_s": 10.0},
    )  # fmt: skip
    return store, source, failed


def test_a_run_made_task_by_task_is_advised_once_and_remembered(work: Path) -> None:
    store, source, failed = _timed_out_before(work)
    spec, home = _spec(work, timeout_s=10), work / ".aoetl"
    load = run_task(spec, "load:orders", "NIGHTLY-1", home=home)
    assert load.status == "success", load.error
    (note,) = _memory_notes(load.notes)
    assert note.startswith(f"memory #{failed}:") and "timeout_s raised to 30" in note
    # A success at 10 s since: a fresh look would change nothing, but the run keeps its advice.
    _seed(store, source, run_id="FAST-1", status="success", settings={"timeout_s": 10.0})
    commit = run_task(spec, "commit", "NIGHTLY-1", home=home)
    assert commit.status == "success", commit.error
    assert _memory_notes(commit.notes) == [note]
    (entry,) = store.audit.entries("NIGHTLY-1", kind="memory")  # decided once, by the first
    assert entry.choice == "timeout_s=30.0" and entry.detail["memory_ids"] == [failed]
    (run,) = store.memory.entries(run_id="NIGHTLY-1")
    assert (run.kind, run.status, run.rows, run.fingerprint) == (
        "run", "success", 5, source.fingerprint,
    )  # fmt: skip
    assert run.settings["timeout_s"] == 30.0 and "workers" not in run.settings
    assert run.data["memory_used"] == [failed]


def test_the_plan_shows_the_advice_a_run_would_apply_and_changes_nothing(
    orch: DataOrchestrator, work: Path
) -> None:
    store, _, failed = _timed_out_before(work)
    before = store.memory.count()
    spec = _spec(work, timeout_s=10)
    (note,) = _memory_notes(orch.plan(spec).notes)
    assert note.startswith(f"memory #{failed}:") and "timeout_s raised to 30" in note
    (work / "p.yaml").write_text(
        "name: shop\nsource: data\ntarget: duckdb:///w.duckdb\ntimeout_s: 10\n"
    )
    listed = run_cli("run", "p.yaml", "--list-tasks", "--json", cwd=work)
    assert listed.returncode == 0, listed.stderr
    assert _memory_notes(json.loads(listed.stdout)["notes"]) == [note]
    assert store.memory.count() == before  # a preview remembers nothing
    assert [r.run_id for r in store.runs()] == [store.runs()[0].run_id]


# -- T10 ---------------------------------------------------------------------------------------
def test_partial_run_ids_and_exact_fingerprints_find_every_record(work: Path) -> None:
    done = _run(work, _spec(work))
    store = StateStore(work / ".aoetl")
    (source,) = store.memory.entries(kind="source")
    for i in range(6):
        _seed(store, source, run_id=f"OLD-{i}", status="success", settings={})
    listed = run_cli("memory", "list", "--run", done.run_id[:15], "--json", cwd=work)
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [done.run_id]
    found = run_cli("memory", "search", source.fingerprint, "--exact", "--json", cwd=work)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["kind"] == "source" and [h["kind"] for h in hits[1:]] == ["run"] * 5
    assert "5 of this source's 7 runs" in found.stderr and "-k 7" in found.stderr


# -- T11 ---------------------------------------------------------------------------------------
def _source(store: StateStore) -> MemoryRecord:
    return source_record(
        "files", "/data/shop", [{"table": "o", "format": "csv", "columns": [["a", "BIGINT"]]}]
    )


def _rates(store: StateStore, source: MemoryRecord, workers: int, rates: list[float]) -> None:
    for i, rate in enumerate(rates):
        _seed(
            store, source, run_id=f"W{workers}-{i}", status="success", rows_per_s=rate,
            duration_s=1.0, settings={"workers": workers},
        )  # fmt: skip


def test_workers_are_proven_only_by_several_runs_each_beyond_noise(work: Path) -> None:
    store = StateStore(work / ".aoetl")
    source = _source(store)
    now = {"workers": 2, "timeout_s": None}
    _rates(store, source, 2, [1000.0])
    _rates(store, source, 3, [1400.0])  # one fast run: noise
    assert advise(store.memory, source, dict(now), set(), parallel=4).changes == []
    _rates(store, source, 2, [1050.0, 980.0])
    _rates(store, source, 3, [1020.0, 1500.0])  # 1.4x the median, but the runs overlap
    assert advise(store.memory, source, dict(now), set(), parallel=4).changes == []
    store2 = StateStore(work / "clear")
    clean = _source(store2)
    _rates(store2, clean, 2, [1000.0, 1050.0, 980.0])
    _rates(store2, clean, 3, [1400.0, 1450.0, 1600.0])
    proven = advise(store2.memory, clean, dict(now), set(), parallel=4)
    assert [(c.setting, c.old, c.new) for c in proven.changes] == [("workers", 2, 3)]
    assert "median" in proven.notes[0] and "3 runs" in proven.notes[0], proven.notes
    # One task at a time: workers cannot matter, whatever the timings say.
    alone = advise(store2.memory, clean, dict(now), set(), parallel=1)
    assert alone.changes == [] and "nothing to change" in alone.notes[0]


def test_a_single_table_run_is_never_advised_workers(work: Path) -> None:
    spec = _spec(work)
    home = work / ".aoetl"
    run_pipeline(spec, RunOptions(home=home, workers=1, workers_given=True))
    store = StateStore(home)
    (source,) = store.memory.entries(kind="source")
    for rate, workers in ((10.0, 1), (1e9, 3)):  # make workers=3 look far faster
        _rates(store, source, workers, [rate] * 3)
    nxt = run_pipeline(spec, RunOptions(home=home, workers=1))
    assert nxt.status == "success"
    (note,) = _memory_notes(nxt.notes)
    assert "nothing to change" in note, note


def test_a_similar_source_says_how_near_it_is(work: Path) -> None:
    store = StateStore(work / ".aoetl")
    known = source_record(
        "files", "/data/a.csv", [{"table": "a", "format": "csv", "columns": [["x", "BIGINT"]]}]
    )
    store.memory.remember_source(known)
    (stored,) = store.memory.entries(kind="source")
    ran = _seed(
        store, known, run_id="A-1", status="failed", failure="timeout",
        settings={"timeout_s": 5.0},
    )  # fmt: skip
    other = source_record(
        "files", "/data/b.csv", [{"table": "b", "format": "csv", "columns": [["y", "BIGINT"]]}]
    )
    advice = advise(
        store.memory, other, {"timeout_s": 5.0}, set(), similar=lambda _: [(stored, 0.125)]
    )
    assert advice.how == "similar" and advice.distance == 0.125
    assert [c.memory_id for c in advice.changes] == [ran]
    assert "a similar source, /data/a.csv (distance 0.125)" in advice.notes[0], advice.notes
