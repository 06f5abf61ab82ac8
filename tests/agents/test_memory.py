"""Memory: runs are remembered, a known source's next plan changes, failed configurations are
avoided, lookups need no model, no secret is kept, and vector search finds by meaning."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import chromadb
import duckdb
import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.agents.memory import advise, failure_cause, source_record
from agent_orchestrated_etl.engine import RunResult, TaskCancelled, TaskTimedOut
from agent_orchestrated_etl.errors import (
    CheckFailedError,
    FatalError,
    TransientError,
    UserError,
    classify_duckdb,
)
from agent_orchestrated_etl.state import MemoryRecord, StateStore
from tests.helpers import run_cli
from tests.servers import Postgres


def _csv(folder: Path, name: str = "orders.csv") -> Path:
    path = folder / name
    path.write_text(
        "order_id,customer_email,amount\n"
        + "".join(f"{i},c{i}@shop.test,{i}.5\n" for i in range(10))
    )
    return path


def _memory_rows(home: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "state.db") as con:
        return con.execute("SELECT * FROM memory ORDER BY id").fetchall()


def test_a_run_is_remembered_with_its_source_plan_settings_and_outcome(
    orch: DataOrchestrator, work: Path
) -> None:
    _csv(work)
    result = orch.run(orch.create_pipeline("orders.csv", target="duckdb:///w.duckdb"), workers=1)
    assert result.status == "success"
    store = StateStore(orch.home)
    (source,) = store.memory.entries(kind="source")
    (run,) = store.memory.entries(kind="run")
    assert source.uri == str(work / "orders.csv")  # made absolute: one source however typed
    assert source.data["schema"][0]["columns"][0] == ["order_id", "BIGINT"]
    assert run.fingerprint == source.fingerprint and run.schema_hash == source.schema_hash
    assert (run.run_id, run.status, run.failure, run.rows) == (result.run_id, "success", None, 10)
    assert run.settings["workers"] == 1 and run.settings["retries"] == 3
    assert [t["id"] for t in run.data["plan"]["tasks"]][-1] == "commit"
    assert run.rows_per_s and run.rows_per_s > 0


def test_a_known_source_takes_workers_proven_by_several_runs(
    orch: DataOrchestrator, work: Path
) -> None:
    _csv(work)
    _csv(work, "returns.csv")  # two tables: their loads can run at once, so workers matter
    spec = orch.create_pipeline(".", target="duckdb:///w.duckdb")
    first = orch.run(spec, workers=2)
    assert not [n for n in first.notes if n.startswith("memory #")]
    store = StateStore(orch.home)
    (source,) = store.memory.entries(kind="source")
    base = {k: getattr(source, k) for k in ("fingerprint", "schema_hash", "uri")}
    for workers, rate in ((2, 100.0), (2, 110.0), (2, 120.0), (1, 900.0), (1, 1000.0), (1, 950.0)):
        store.memory.add(
            MemoryRecord(  # type: ignore[arg-type]
                **base, kind="run", status="success", run_id=f"w{workers}-{rate:g}",
                rows_per_s=rate, settings={"workers": workers}, text="run",
            )
        )  # fmt: skip

    second = orch.run(spec, workers=2)  # given: memory keeps it
    (note,) = [n for n in second.notes if n.startswith("memory #")]
    assert "nothing to change" in note
    assert store.memory.entries(run_id=second.run_id)[0].settings["workers"] == 2

    third = orch.run(spec)  # workers not given (2 cores here): memory's proven value applies
    assert third.status == "success"
    (note,) = [n for n in third.notes if n.startswith("memory #")]
    assert note.startswith("memory #") and "workers=1 (was " in note and "median" in note
    (entry,) = store.audit.entries(third.run_id, kind="memory")
    assert entry.choice == "workers=1" and entry.reasons == (note,)
    assert entry.detail["how"] == "fingerprint" and entry.detail["changes"][0]["new"] == 1
    assert store.memory.entries(run_id=third.run_id)[0].settings["workers"] == 1


def test_a_timeout_that_failed_before_is_raised_on_the_next_run(
    orch: DataOrchestrator, work: Path
) -> None:
    _csv(work)
    (work / "slow.py").write_text(
        "import time\n\ndef step(batch):\n    time.sleep(1.6)\n    return batch\n"
    )
    (work / "pipeline.yaml").write_text(
        textwrap.dedent("""\
        name: slow
        source: orders.csv
        target: duckdb:///w.duckdb
        transforms: [{python: "slow:step"}]
        timeout_s: 1.5
        retries: {attempts: 1}
        """)
    )
    first = orch.run(work / "pipeline.yaml")
    assert first.status == "failed" and "time limit" in (first.error or "")
    store = StateStore(orch.home)
    (failed,) = store.memory.entries(run_id=first.run_id)
    assert failed.failure == "timeout" and failed.settings["timeout_s"] == 1.5

    second = orch.run(work / "pipeline.yaml")
    (note,) = [n for n in second.notes if n.startswith("memory #")]
    assert note.startswith(f"memory #{failed.id}:") and "timeout_s raised to 4.5" in note
    assert second.status == "success", second.error
    (entry,) = store.audit.entries(second.run_id, kind="memory")
    assert entry.choice == "timeout_s=4.5" and entry.detail["memory_ids"] == [failed.id]


def test_a_failure_on_bad_input_is_not_a_configuration_to_avoid(work: Path) -> None:
    store = StateStore(work / ".aoetl")
    source = source_record(
        "files", "/data/o.csv", [{"table": "o", "format": "csv", "columns": [["a", "BIGINT"]]}]
    )
    settings = {"workers": 4, "timeout_s": 10.0, "retries": 3}
    failed = {"kind": "run", "status": "failed", "settings": settings, "text": "run"}
    base = {k: getattr(source, k) for k in ("fingerprint", "schema_hash", "uri")}
    store.memory.add(MemoryRecord(**base, **failed, failure="bad_input"))  # type: ignore[arg-type]
    advice = advise(store.memory, source, dict(settings), set())
    assert advice.how == "fingerprint" and advice.changes == []
    oom = store.memory.add(MemoryRecord(**base, **failed, failure="out_of_memory"))  # type: ignore[arg-type]
    advice = advise(store.memory, source, dict(settings), set())
    assert [(c.setting, c.new, c.memory_id) for c in advice.changes] == [("workers", 2, oom)]


def test_memory_off_remembers_nothing_and_a_bad_setting_is_a_user_error(
    orch: DataOrchestrator, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _csv(work)
    spec = orch.create_pipeline("orders.csv", target="duckdb:///w.duckdb")
    monkeypatch.setenv("AOETL_MEMORY", "off")
    assert orch.run(spec).status == "success"
    assert _memory_rows(orch.home) == []
    monkeypatch.setenv("AOETL_MEMORY", "sometimes")
    result = orch.run(spec)
    assert result.exit_code == 2 and "AOETL_MEMORY='sometimes'" in (result.error or "")


def test_runs_and_exact_lookups_load_no_model(work: Path) -> None:
    _csv(work)
    script = textwrap.dedent("""\
        import json, sys
        from agent_orchestrated_etl import DataOrchestrator
        orch = DataOrchestrator()
        spec = orch.create_pipeline("orders.csv", target="duckdb:///w.duckdb")
        orch.run(spec, workers=1)
        second = orch.run(spec)
        fp = orch.memory_entries(kind="source")[0].fingerprint
        exact = orch.memory_search(fp, exact=True)
        sub = orch.memory_search("ORDERS.CSV", exact=True, k=10)
        heavy = [m for m in ("torch", "sentence_transformers", "chromadb") if m in sys.modules]
        print(json.dumps({"notes": second.notes, "exact": [h.how for h in exact],
                          "sub": sorted({h.record.kind for h in sub}), "heavy": heavy}))
    """)
    env = {**os.environ, "AOETL_HOME": str(work / ".aoetl")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["heavy"] == []
    assert any(n.startswith("memory #") for n in found["notes"])
    assert found["exact"] == ["fingerprint"] * 3  # the source and its two runs
    assert found["sub"] == ["run", "source"]


def test_no_secret_is_remembered(postgres: Postgres, orch: DataOrchestrator, work: Path) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS mem_orders")
        con.execute("CREATE TABLE mem_orders AS SELECT g AS id FROM generate_series(1, 5) g")
    spec = orch.create_pipeline(postgres.url(), target="duckdb:///w.duckdb", tables=["mem_orders"])
    assert orch.run(spec).status == "success"
    wrong = orch.create_pipeline(
        postgres.url(password="not-" + postgres.password),
        target="duckdb:///w.duckdb",
        tables=["mem_orders"],
    )
    orch.run(wrong)  # fails at connect: nothing discovered, so nothing remembered of it
    rows = _memory_rows(orch.home)
    assert {r[1] for r in rows} == {"source", "run"}
    with sqlite3.connect(orch.home / "state.db") as con:
        audit = con.execute("SELECT * FROM audit").fetchall()
    text = json.dumps([rows, audit], default=str)
    assert postgres.password not in text
    assert f"{postgres.user}:***@" in text


def test_memory_search_json_finds_a_record_by_meaning(orch: DataOrchestrator, work: Path) -> None:
    _csv(work)
    (work / "weather.csv").write_text(
        "station,temperature_c,humidity,wind_kmh\n"
        + "".join(f"s{i},{i}.1,{50 + i},{i * 3}\n" for i in range(10))
    )
    for source in ("orders.csv", "weather.csv"):
        assert (
            orch.run(orch.create_pipeline(source, target="duckdb:///w.duckdb")).status == "success"
        )
    found = run_cli(
        "memory", "search", "climate readings from stations", "-k", "1", "--json", cwd=work
    )
    assert found.returncode == 0, found.stderr
    (hit,) = json.loads(found.stdout)
    assert hit["how"] == "vector" and hit["uri"].endswith("weather.csv"), hit
    assert 0 <= hit["distance"] < 1
    memory = StateStore(work / ".aoetl").memory
    client = chromadb.PersistentClient(str(work / ".aoetl" / "memory"))
    collection = client.get_collection("aoetl_memory")
    # The index holds every record, and its mark says so: the next search embeds nothing.
    assert collection.count() == memory.count() == 4
    assert collection.metadata == {"aoetl_mark": memory.ids()[-1], "aoetl_held": 4}
    empty = run_cli("memory", "search", " ", cwd=work)
    assert empty.returncode == 2 and "give some text" in empty.stderr


def _bad_input_pipeline(work: Path) -> Path:
    # A value that says "out of memory" in a column cast to INTEGER: bad input, whatever it says.
    (work / "o.csv").write_text("id,amount\n1,10\n2,out of memory\n3,timed out\n")
    (work / "pipeline.yaml").write_text(
        textwrap.dedent("""\
        name: words
        source: o.csv
        target: duckdb:///w.duckdb
        transforms: [{cast: {amount: INTEGER}}]
        """)
    )
    return work / "pipeline.yaml"


def test_bad_input_that_says_out_of_memory_changes_no_setting(
    orch: DataOrchestrator, work: Path
) -> None:
    pipeline = _bad_input_pipeline(work)
    first = orch.run(pipeline, workers=2)
    assert first.status == "failed" and first.error_kind == "bad_input", first.error
    assert "out of memory" in (first.error or "")
    store = StateStore(orch.home)
    (failed,) = store.memory.entries(run_id=first.run_id)
    assert failed.failure == "bad_input"

    second = orch.run(pipeline, fresh=True)  # workers not given: memory may set them
    (note,) = [n for n in second.notes if n.startswith("memory #")]
    assert "nothing to change" in note, note
    (entry,) = store.audit.entries(second.run_id, kind="memory")
    assert entry.choice == "unchanged" and entry.detail["changes"] == []


def _failure(error: BaseException) -> str | None:
    result = RunResult("r", "p", "failed", 0.0)
    result.fail(error)
    return failure_cause(result.status, result.error_kind, result.error_types)


def test_the_cause_of_a_failure_is_its_kind_and_type_never_its_words() -> None:
    con = duckdb.connect()
    con.execute("SET memory_limit = '20MB'; SET threads = 1")
    try:
        con.execute("SELECT list(range) FROM range(20000000)").fetchall()
    except duckdb.Error as exc:
        oom = classify_duckdb(exc, "table 'big'")
        oom.__cause__ = exc  # as the load raises it: `raise classify_duckdb(exc, …) from exc`
    finally:
        con.close()
    assert _failure(oom) == "out_of_memory"
    try:
        try:
            bytearray(1 << 62)  # more than any machine has: Python raises MemoryError itself
        except MemoryError as exc:
            raise FatalError("python step 'hog' raised MemoryError") from exc
    except FatalError as wrapped:
        assert _failure(wrapped) == "out_of_memory"
    assert _failure(TaskTimedOut("cancelled: task load:o exceeded its time limit of 1s")) == (
        "timeout"
    )
    # The same words in a failure of another kind or type are only words.
    assert _failure(CheckFailedError("check failed: status = 'timed out' in 2 rows")) == (
        "bad_input"
    )
    assert _failure(UserError("table 'o': could not convert 'out of memory' to INTEGER")) == (
        "bad_input"
    )
    assert _failure(TransientError("connection timed out; out of memory on the server")) == (
        "transient"
    )
    assert _failure(FatalError("python step 'f' raised ValueError: out of memory")) == "fatal"
    assert _failure(TaskCancelled("cancelled: --fail-fast after load:a failed")) == "fatal"


def test_workers_the_user_gave_are_kept_after_an_out_of_memory_failure(work: Path) -> None:
    store = StateStore(work / ".aoetl")
    source = source_record(
        "files", "/data/big.csv", [{"table": "big", "format": "csv", "columns": [["a", "BIGINT"]]}]
    )
    base = {k: getattr(source, k) for k in ("fingerprint", "schema_hash", "uri")}
    settings = {"workers": 8, "timeout_s": None, "retries": 3}
    oom = store.memory.add(
        MemoryRecord(  # type: ignore[arg-type]
            **base, kind="run", status="failed", failure="out_of_memory", settings=settings,
            text="run", run_id="r1",
        )
    )  # fmt: skip
    given = advise(store.memory, source, {"workers": 8, "timeout_s": None}, {"workers"})
    assert given.changes == [] and given.settings["workers"] == 8
    (note,) = given.notes
    assert note.startswith(f"memory #{oom}: run r1 of this source ran out of memory with workers=8")
    assert "workers=8 was given for this run, so it is kept" in note
    chosen = advise(store.memory, source, {"workers": 8, "timeout_s": None}, set())
    assert [(c.setting, c.new, c.memory_id) for c in chosen.changes] == [("workers", 4, oom)]


def test_a_run_out_of_memory_keeps_given_workers_and_says_so(
    orch: DataOrchestrator, work: Path
) -> None:
    _csv(work)
    (work / "hog.py").write_text("def step(batch):\n    bytearray(1 << 62)\n    return batch\n")
    (work / "pipeline.yaml").write_text(
        textwrap.dedent("""\
        name: hog
        source: orders.csv
        target: duckdb:///w.duckdb
        transforms: [{python: "hog:step"}]
        retries: {attempts: 1}
        """)
    )
    first = orch.run(work / "pipeline.yaml", workers=2)
    assert first.status == "failed" and "MemoryError" in (first.error or ""), first.error
    store = StateStore(orch.home)
    (failed,) = store.memory.entries(run_id=first.run_id)
    assert failed.failure == "out_of_memory" and failed.settings["workers"] == 2

    second = orch.run(work / "pipeline.yaml", workers=2, fresh=True)
    (note,) = [n for n in second.notes if n.startswith("memory #")]
    assert note.startswith(f"memory #{failed.id}:") and "so it is kept" in note, note
    (entry,) = store.audit.entries(second.run_id, kind="memory")
    assert entry.choice == "unchanged" and entry.detail["memory_ids"] == [failed.id]
    assert store.memory.entries(run_id=second.run_id)[0].settings["workers"] == 2
