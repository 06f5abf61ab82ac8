"""One task at a time through run_task, connecting inside the retry policy, and error kinds."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest

from agent_orchestrated_etl.engine import Event, EventBus, Plan
from agent_orchestrated_etl.pipeline import RunOptions, plan_pipeline, run_pipeline, run_task
from agent_orchestrated_etl.pipeline.staging import clean, staging_of
from agent_orchestrated_etl.spec import PipelineSpec, validate_spec
from agent_orchestrated_etl.state import StateStore
from tests import faults
from tests.helpers import query


@pytest.fixture(autouse=True)
def clean_script(monkeypatch: pytest.MonkeyPatch) -> None:
    faults.SCRIPT.__init__()  # type: ignore[misc]
    # breakers are per process and per endpoint: give every test its own endpoint
    monkeypatch.setattr(faults.FaultySource, "endpoint", f"faulty.example:{uuid.uuid4().hex[:8]}")


def files(work: Path) -> Path:
    data = work / "data"
    data.mkdir(exist_ok=True)
    (data / "orders.csv").write_text(
        "id,amount\n" + "".join(f"{i},{i * 1.5}\n" for i in range(1, 201)) + "201,2,extra\n"
    )
    (data / "customers.csv").write_text("id,name\n1,ann\n2,bob\n")
    return data


def file_spec(work: Path, db: str, **extra: object) -> PipelineSpec:
    return validate_spec(
        {
            "name": "shop",
            "source": {"uri": str(work / "data"), "incremental": {"orders": {"cursor": "id"}}},
            "target": f"duckdb:///{work / db}",
            **extra,
        }
    )


def faulty_spec(work: Path, tables: str = "a:10,b:20", **extra: object) -> PipelineSpec:
    return validate_spec(
        {
            "name": "faulty",
            "source": {"uri": f"faulty://{tables}"},
            "target": {"uri": f"flaky:///{work / 'w.duckdb'}"},
            "retries": {"attempts": 3, "base_s": 0.001, "cap_s": 0.01},
            **extra,
        }
    )


def snapshot(db: Path) -> dict[str, object]:
    """What a target holds: each table's rows (order-free), the cursors and checkpoints."""
    tables = query(
        db,
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name NOT LIKE '_aoetl%' ORDER BY 1",
    )
    return {
        "tables": {
            t: query(db, f'SELECT count(*), sum(hash(r)) FROM "{t}" r')[0] for (t,) in tables
        },
        "cursors": query(db, "SELECT table_name, high_water FROM _aoetl.cursors ORDER BY 1"),
        "checkpoints": query(db, "SELECT count(*) FROM _aoetl.checkpoints"),
        "commits": query(db, "SELECT count(*) FROM _aoetl.commits"),
    }


def record(home: Path, run_id: str) -> tuple[object, ...]:
    """A run's record as the history keeps it: status, rows, and rows per table."""
    with StateStore(home)._connect() as con:  # either backend, as AOETL_STATE_URL selects
        row = con.execute(
            "SELECT status, rows_loaded, rows_rejected, result_json FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
    status, loaded, rejected, result = row
    tables = {
        name: (t["rows_loaded"], t["rows_rejected"], t["rows_read"])
        for name, t in json.loads(result)["tables"].items()
    }
    return status, loaded, rejected, tables


def history(home: Path, run_id: str) -> tuple[object, ...]:
    """A run's status, owning process and attempts, as the history keeps them."""
    with StateStore(home)._connect() as con:
        row = con.execute(
            "SELECT status, pid, attempts FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    return tuple(row)


def test_each_task_alone_gives_what_one_run_gives(work: Path) -> None:
    files(work)
    home = work / ".aoetl"
    whole = run_pipeline(file_spec(work, "one.duckdb"), RunOptions(home=home))
    assert whole.status == "success", whole.error
    spec = file_spec(work, "tasks.duckdb")
    # What an orchestrator does: list the plan, then run each task in order, by id only.
    plan = Plan.from_json(plan_pipeline(spec, home=home).plan.to_json())
    for task in plan.order():
        result = run_task(spec, task.id, "orchestrated-1", home=home)
        assert result.status == "success", result.error
        assert result.task == task.id and result.error_kind is None
        if task.id != "commit":
            # Between tasks the run belongs to no process: 'staged', never taken for killed,
            # and the next task continues it rather than counting a new attempt.
            assert StateStore(home).mark_dead_runs() == 0
            assert history(home, "orchestrated-1") == ("staged", None, 1)
    assert history(home, "orchestrated-1")[::2] == ("success", 1)
    assert snapshot(work / "tasks.duckdb") == snapshot(work / "one.duckdb")
    assert record(home, "orchestrated-1") == record(home, whole.run_id)
    assert record(home, whole.run_id) == (
        "success",
        202,
        1,
        {"customers": (2, 0, 2), "orders": (200, 1, 201)},
    )
    # A task of a committed run is a no-op, and says so.
    again = run_task(spec, "load:orders", "orchestrated-1", home=home)
    assert again.status == "success" and again.exit_code == 0
    assert "already committed; nothing to do" in again.notes[-1]
    assert snapshot(work / "tasks.duckdb") == snapshot(work / "one.duckdb")


def test_a_commit_before_its_loads_is_refused_and_keeps_what_was_staged(work: Path) -> None:
    files(work)
    home, spec = work / ".aoetl", file_spec(work, "w.duckdb")
    assert run_task(spec, "load:orders", "r1", home=home).status == "success"
    early = run_task(spec, "commit", "r1", home=home)
    assert (early.status, early.exit_code, early.error_kind) == ("failed", 2, "bad_input")
    assert "has not staged 1 table yet (customers); run load:customers" in (early.error or "")
    assert query(work / "w.duckdb", "SELECT count(*) FROM _aoetl.checkpoints") == [(1,)]
    assert run_task(spec, "load:customers", "r1", home=home).status == "success"
    done = run_task(spec, "commit", "r1", home=home)
    assert done.status == "success", done.error
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(200,)]


@pytest.mark.parametrize(
    ("task_id", "run_id", "needle"),
    [
        ("load:nope", "r1", "no task 'load:nope' in this plan; its tasks: load:customers, "),
        ("load:orders", "../escape", "run id '../escape' cannot be used"),
        ("load:orders", "", "run id '' cannot be used"),
    ],
)
def test_bad_task_or_run_ids_are_bad_input_and_touch_nothing(
    work: Path, task_id: str, run_id: str, needle: str
) -> None:
    files(work)
    result = run_task(file_spec(work, "w.duckdb"), task_id, run_id, home=work / ".aoetl")
    assert (result.status, result.exit_code, result.error_kind) == ("failed", 2, "bad_input")
    assert needle in (result.error or "")
    assert not (work / "w.duckdb").exists()


def test_a_run_id_belongs_to_one_spec(work: Path) -> None:
    files(work)
    home = work / ".aoetl"
    assert run_task(file_spec(work, "w.duckdb"), "load:orders", "r1", home=home).status == "success"
    other = run_task(file_spec(work, "w.duckdb", mode="replace"), "load:orders", "r1", home=home)
    assert other.exit_code == 2
    assert "run r1 is a run of pipeline 'shop' with another spec" in (other.error or "")


def test_a_failed_run_is_taken_again_under_a_fixed_spec_and_loads_once(work: Path) -> None:
    # An Airflow DAG run keeps its run id: after a failure the user fixes the spec and clears
    # the DAG run. The run starts over under the new spec, dropping what the old one staged.
    files(work)
    home = work / ".aoetl"
    strict = file_spec(work, "w.duckdb", max_bad_rows=0)
    for task in ("load:customers", "load:orders"):
        run_task(strict, task, "nightly", home=home)
    failed = run_task(strict, "commit", "nightly", home=home)
    assert (failed.status, failed.error_kind) == ("failed", "bad_input"), failed.error
    # Another task of the failed run says what happened, not "not staged".
    late = run_task(strict, "commit", "nightly", home=home)
    assert "run nightly failed already (" in (late.error or "")
    assert "run load:customers, load:orders again with --run-id nightly" in (late.error or "")
    fixed = file_spec(work, "w.duckdb", max_bad_rows=5)
    for task in ("load:customers", "load:orders", "commit"):
        result = run_task(fixed, task, "nightly", home=home)
        assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT count(*) FROM orders") == [(200,)]
    assert record(home, "nightly")[:3] == ("success", 202, 1)


def test_a_task_retries_as_the_spec_says_and_records_its_failure(work: Path) -> None:
    home = work / ".aoetl"
    faults.SCRIPT.source["a"] = [("transient", "503 from the source")]
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    ok = run_task(faulty_spec(work), "load:a", "r1", home=home, bus=bus)
    assert ok.status == "success", ok.error
    assert [e.data["attempt"] for e in events if e.kind == "task_retried"] == [1]
    assert events[0].kind == "connect_attempt" and events[0].task_id == "discover"
    assert "run_started" in [e.kind for e in events]

    faults.SCRIPT.destination["b"] = [("fatal", "permission denied on b")]
    failed = run_task(faulty_spec(work), "load:b", "r1", home=home)
    assert (failed.status, failed.exit_code, failed.error_kind) == ("failed", 1, "fatal")
    assert failed.to_dict()["error_kind"] == "fatal" and failed.to_dict()["task"] == "load:b"
    assert record(home, "r1")[0] == "failed"
    # The rerun of the failed task goes on with the same run; its staging was kept.
    assert run_task(faulty_spec(work), "load:b", "r1", home=home).status == "success"
    committed = run_task(faulty_spec(work), "commit", "r1", home=home)
    assert committed.status == "success", committed.error
    assert record(home, "r1") == ("success", 30, 0, {"a": (10, 0, 10), "b": (20, 0, 20)})


@pytest.mark.parametrize("step", ["@connect", "@discover"])
def test_connecting_and_discovery_are_retried_with_events(work: Path, step: str) -> None:
    faults.SCRIPT.source[step] = [("transient", "connection reset by peer")] * 2
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    result = run_pipeline(faulty_spec(work), RunOptions(home=work / ".aoetl"), bus)
    assert result.status == "success", result.error
    attempts = [e for e in events if e.kind == "connect_attempt" and e.task_id == "discover"]
    assert [e.data["attempt"] for e in attempts] == [1, 2, 3]
    # The target is connected to once, under its own task id.
    target = [e for e in events if e.kind == "connect_attempt" and e.task_id == "connect"]
    assert [e.data["attempt"] for e in target] == [1]
    retried = [e for e in events if e.kind == "connect_retried"]
    assert [e.data["error"] for e in retried] == ["connection reset by peer"] * 2
    assert faults.SCRIPT.calls[step] == 3


def test_a_source_that_stays_unreachable_fails_naming_it_and_the_attempts(work: Path) -> None:
    faults.SCRIPT.source["@connect"] = [("transient", "connection refused")] * 5
    result = run_pipeline(faulty_spec(work), RunOptions(home=work / ".aoetl"))
    assert (result.status, result.exit_code, result.error_kind) == ("failed", 1, "transient")
    assert result.to_dict()["error_kind"] == "transient"
    assert result.error == (
        "cannot connect to faulty://a:10,b:20 after 3 attempts: connection refused; check "
        "that the server is running, or raise retries.attempts"
    )
    assert faults.SCRIPT.calls["@connect"] == 3


def test_a_fatal_discovery_failure_is_not_retried(work: Path) -> None:
    faults.SCRIPT.source["@discover"] = [("fatal", "permission denied for schema x")]
    result = run_pipeline(faulty_spec(work), RunOptions(home=work / ".aoetl"))
    assert (result.exit_code, result.error_kind) == (1, "fatal")
    assert result.error == "permission denied for schema x"
    assert faults.SCRIPT.calls["@discover"] == 1


def test_discovery_goes_through_the_endpoints_breaker(work: Path) -> None:
    faults.SCRIPT.source["@discover"] = [("transient", "timeout")] * 10
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    spec = faulty_spec(
        work,
        retries={"attempts": 4, "base_s": 0.001, "cap_s": 0.001},
        breaker={"failure_threshold": 2, "cooldown_s": 60},
    )
    result = run_pipeline(spec, RunOptions(home=work / ".aoetl"), bus)
    assert result.error_kind == "transient"
    assert faults.SCRIPT.calls["@discover"] == 2  # then the open circuit kept it away
    assert [e.data["new"] for e in events if e.kind == "breaker"] == ["open"]
    assert f"cannot connect to {faults.FaultySource.endpoint} after 4 attempts: circuit open" in (
        result.error or ""
    )


def test_a_successful_run_has_no_error_kind_and_bad_input_is_bad_input(work: Path) -> None:
    files(work)
    ok = run_pipeline(file_spec(work, "w.duckdb"), RunOptions(home=work / ".aoetl"))
    assert ok.to_dict()["error_kind"] is None and "task" not in ok.to_dict()
    strict = run_pipeline(
        file_spec(work, "w.duckdb", max_bad_rows=0), RunOptions(home=work / ".aoetl", fresh=True)
    )
    assert (strict.exit_code, strict.to_dict()["error_kind"]) == (2, "bad_input")


def test_a_waiting_runs_staging_is_shown_and_cleaned_only_by_name(work: Path) -> None:
    files(work)
    home, spec = work / ".aoetl", file_spec(work, "w.duckdb")
    assert run_task(spec, "load:orders", "waiting-1", home=home).status == "success"
    store = StateStore(home)
    record = store.find_run("waiting-1")
    assert record is not None and record.status == "staged"
    assert staging_of(record, home).tables == {"orders": 200}
    assert clean(store, home) == []  # every unfinished run: not one an orchestrator is running
    assert query(work / "w.duckdb", "SELECT count(*) FROM _aoetl.checkpoints") == [(1,)]
    [removed] = clean(store, home, "waiting-1")
    assert removed.tables == {"orders": 200}
    assert query(work / "w.duckdb", "SELECT count(*) FROM _aoetl.checkpoints") == [(0,)]


def test_a_target_that_stays_unreachable_is_retried_then_named(work: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = validate_spec(
        {
            "name": "to-nowhere",
            "source": {"uri": "faulty://a:10"},
            "target": {"uri": f"postgresql://u:hunter2pw@127.0.0.1:{port}/db"},
            "retries": {"attempts": 3, "base_s": 0.001, "cap_s": 0.01},
        }
    )
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    result = run_pipeline(spec, RunOptions(home=work / ".aoetl"), bus)
    assert (result.status, result.exit_code, result.error_kind) == ("failed", 1, "transient")
    assert (result.error or "").startswith(f"cannot connect to 127.0.0.1:{port} after 3 attempts")
    assert "hunter2pw" not in (result.error or "")
    tried = [e.data["attempt"] for e in events if e.kind == "connect_attempt"]
    assert tried == [1, 1, 2, 3]  # the source once, then the target three times
