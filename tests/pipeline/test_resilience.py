"""Retries, failures, resume and exactly-once, through fault-injecting connectors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from agent_orchestrated_etl.engine import Event, EventBus
from agent_orchestrated_etl.pipeline import RunOptions, run_pipeline
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.state import StateStore
from tests import faults
from tests.helpers import query


@pytest.fixture(autouse=True)
def clean_script(monkeypatch: pytest.MonkeyPatch) -> None:
    faults.SCRIPT.__init__()  # type: ignore[misc]
    # breakers are per process and per endpoint: give every test its own endpoint
    monkeypatch.setattr(faults.FaultySource, "endpoint", f"faulty.example:{uuid.uuid4().hex[:8]}")


def spec(work: Path, tables: str = "a:10,b:20,c:30", **extra: object):  # type: ignore[no-untyped-def]
    return validate_spec(
        {
            "name": "faulty",
            "source": {"uri": f"faulty://{tables}"},
            "target": {"uri": f"flaky:///{work / 'w.duckdb'}"},
            "retries": {"attempts": 3, "base_s": 0.001, "cap_s": 0.01},
            **extra,
        }
    )


def run(work: Path, s, events: list[Event] | None = None, **opts: object):  # type: ignore[no-untyped-def]
    bus = EventBus()
    if events is not None:
        bus.subscribe(events.append)
    return run_pipeline(s, RunOptions(home=work / ".aoetl", workers=2, **opts), bus)  # type: ignore[arg-type]


def counts(work: Path) -> dict[str, int]:
    rows = query(
        work / "w.duckdb",
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name NOT LIKE '_aoetl_stage%' ORDER BY 1",
    )
    return {t: query(work / "w.duckdb", f'SELECT count(*) FROM "{t}"')[0][0] for (t,) in rows}  # type: ignore[misc]


def test_transient_source_failures_are_retried(work: Path) -> None:
    faults.SCRIPT.source["b"] = [("transient", "timeout"), ("transient", "503")]
    events: list[Event] = []
    result = run(work, spec(work), events)
    assert result.status == "success", result.error
    assert counts(work) == {"a": 10, "b": 20, "c": 30}
    retried = [e for e in events if e.kind == "task_retried"]
    assert [e.task_id for e in retried] == ["load:b", "load:b"]


def test_retries_run_out_and_nothing_is_committed(work: Path) -> None:
    faults.SCRIPT.destination["c"] = [("transient", "disk busy")] * 3
    result = run(work, spec(work))
    assert result.status == "failed"
    assert "disk busy" in (result.error or "")
    assert not (work / "w.duckdb").exists() or counts(work) == {}


def test_fatal_failure_keeps_staging_and_a_rerun_resumes_exactly_once(work: Path) -> None:
    faults.SCRIPT.destination["b"] = [("fatal", "permission denied on b")]
    first = run(work, spec(work))
    assert first.status == "failed" and first.exit_code == 1
    assert counts(work) == {}  # nothing visible
    store = StateStore(work / ".aoetl")
    (task_entry,) = store.dlq_entries(first.run_id, status="open")
    assert task_entry.kind == "task" and task_entry.table == "b"

    calls_before = dict(faults.SCRIPT.calls)
    events: list[Event] = []
    second = run(work, spec(work), events)  # the same pipeline again: it resumes
    assert second.status == "success", second.error
    assert second.run_id == first.run_id
    assert sorted(e.task_id for e in events if e.kind == "task_resumed") == ["load:a", "load:c"]
    assert faults.SCRIPT.calls["a"] == calls_before["a"]  # a was not read again
    assert faults.SCRIPT.calls["b"] > calls_before["b"]
    assert counts(work) == {"a": 10, "b": 20, "c": 30}
    assert query(work / "w.duckdb", "SELECT count(*) FROM _aoetl.checkpoints") == [(0,)]


def test_fresh_start_ignores_the_unfinished_run(work: Path) -> None:
    faults.SCRIPT.destination["b"] = [("fatal", "boom")]
    first = run(work, spec(work))
    second = run(work, spec(work), fresh=True)
    assert second.status == "success"
    assert second.run_id != first.run_id
    # the abandoned run's staging is dropped when the new run commits
    stages = query(
        work / "w.duckdb",
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_aoetl_stage%'",
    )
    assert stages == [(0,)]


def test_a_changed_spec_does_not_resume(work: Path) -> None:
    faults.SCRIPT.destination["b"] = [("fatal", "boom")]
    first = run(work, spec(work))
    second = run(work, spec(work, "a:10,b:20,c:31"))
    assert second.run_id != first.run_id
    assert counts(work)["c"] == 31


def test_append_twice_after_resume_is_not_double_loaded(work: Path) -> None:
    faults.SCRIPT.destination["c"] = [("fatal", "boom")]
    run(work, spec(work))
    run(work, spec(work))  # resumes and commits
    run(work, spec(work))  # a new, separate run appends once more
    assert counts(work) == {"a": 20, "b": 40, "c": 60}


def test_open_circuit_stops_calls_to_a_failing_endpoint(work: Path) -> None:
    faults.SCRIPT.source.update(
        {t: [("transient", "connection refused")] * 10 for t in ("a", "b", "c")}
    )
    events: list[Event] = []
    s = spec(
        work,
        retries={"attempts": 2, "base_s": 0.001, "cap_s": 0.001},
        breaker={"failure_threshold": 2, "cooldown_s": 60},
    )
    result = run(work, s, events, fail_fast=False)
    assert result.status == "failed"
    assert sum(n for key, n in faults.SCRIPT.calls.items() if key in ("a", "b", "c")) == 2
    assert any(e.kind == "breaker" and e.data["new"] == "open" for e in events)
    failed = [e for e in events if e.kind == "task_failed"]
    assert any("circuit open for faulty.example" in e.data["error"] for e in failed)


def test_task_timeout_from_the_spec(work: Path, tmp_path: Path) -> None:
    (work / "slow_step.py").write_text("import time\ndef f(b):\n    time.sleep(5)\n    return b\n")
    s = validate_spec(
        {
            "name": "slow",
            "source": {"uri": "faulty://a:10"},
            "target": {"uri": f"duckdb:///{work / 'w.duckdb'}"},
            "transforms": [{"python": "slow_step:f"}],
            "tasks": {"a": {"timeout_s": 0.5}},
        }
    )
    result = run_pipeline(s, RunOptions(home=work / ".aoetl", base_dir=work))
    assert result.status == "failed"
    assert "exceeded its time limit of 0.5s" in (result.error or "")


def test_monitor_agent_flags_an_anomalous_run(work: Path) -> None:
    for _ in range(4):
        r = run(work, spec(work, "a:1000", mode="replace"))
        assert r.status == "success", r.error
    events: list[Event] = []
    result = run(work, spec(work, "a:1000", mode="replace"), events)
    assert not [e for e in events if e.kind == "anomaly"]
    events.clear()
    result = run(work, spec(work, "a:100000", mode="replace"), events)
    assert result.status == "success"
    (anomaly,) = [e for e in events if e.kind == "anomaly" and e.data["metric"] == "rows_loaded"]
    assert "above the mean of the last" in anomaly.data["message"]


def test_a_table_that_fails_before_writing_drops_the_runs_other_staging(work: Path) -> None:
    """A step that cannot bind fails its table outside the destination; the table staged
    before it is not kept for a resume, as a rerun would fail the same way."""
    (work / "in").mkdir()
    (work / "in" / "a.csv").write_text("x,y\n1,2\n")
    (work / "in" / "b.csv").write_text("y\n3\n")
    (work / "w.duckdb").unlink(missing_ok=True)
    s = validate_spec(
        {
            "name": "steps",
            "source": str(work / "in"),
            "target": f"duckdb:///{work / 'w.duckdb'}",
            "transforms": [{"cast": {"x": "BIGINT"}}],
        }
    )
    result = run_pipeline(s, RunOptions(home=work / ".aoetl", workers=1))
    assert result.status == "failed" and result.exit_code == 2
    assert "x" in (result.error or "")
    staged = (
        query(
            work / "w.duckdb",
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_aoetl_stage%'",
        )
        if (work / "w.duckdb").exists()
        else [(0,)]
    )
    assert staged == [(0,)]
