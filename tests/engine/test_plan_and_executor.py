from __future__ import annotations

import json
import statistics
import threading
import time

import pytest
from tenacity import RetryCallState

from agent_orchestrated_etl.engine import (
    CancelToken,
    CommitParams,
    CycleError,
    Event,
    EventBus,
    Executor,
    ExecutorConfig,
    LoadParams,
    Plan,
    Task,
    TaskCancelled,
    load_task_id,
    table_of,
    task_id_for,
)
from agent_orchestrated_etl.errors import FatalError, TransientError, UserError
from agent_orchestrated_etl.resilience import BreakerRegistry, RetryPolicy
from agent_orchestrated_etl.spec import BreakerSpec, RetrySpec


def diamond() -> Plan:
    return Plan(
        [
            Task("a", "x"),
            Task("b", "x", ("a",)),
            Task("c", "x", ("a",)),
            Task("d", "x", ("b", "c")),
            Task("e", "x"),
        ]
    )


def collect(bus: EventBus) -> list[Event]:
    events: list[Event] = []
    bus.subscribe(events.append)
    return events


def config(**kw: object) -> ExecutorConfig:
    kw.setdefault("retry", RetrySpec(attempts=1))
    kw.setdefault("breakers", BreakerRegistry())
    return ExecutorConfig(**kw)  # type: ignore[arg-type]


def test_layers_respect_dependencies() -> None:
    assert [[t.id for t in layer] for layer in diamond().layers()] == [
        ["a", "e"],
        ["b", "c"],
        ["d"],
    ]


def test_cycle_is_named() -> None:
    with pytest.raises(CycleError, match=r"cycle: .*a.*b"):
        Plan([Task("a", "x", ("b",)), Task("b", "x", ("a",))])


def test_unknown_dependency() -> None:
    with pytest.raises(UserError, match="unknown task 'zz'"):
        Plan([Task("a", "x", ("zz",))])


@pytest.mark.parametrize("workers", [1, 4])
def test_failure_skips_downstream_in_a_diamond_and_spares_unrelated_tasks(workers: int) -> None:
    bus = EventBus()
    events = collect(bus)

    def dispatch(task: Task, token: CancelToken) -> str:
        if task.id == "b":
            raise FatalError("b broke")
        return task.id

    outcomes = Executor(bus, "r", config(workers=workers)).run(diamond(), dispatch)
    assert {k: o.status for k, o in outcomes.items()} == {
        "a": "success",
        "e": "success",
        "b": "failed",
        "c": "success",
        "d": "skipped",
    }
    (skipped,) = [e for e in events if e.kind == "task_skipped"]
    assert skipped.task_id == "d" and skipped.data["cause"] == "b"


def test_independent_tasks_run_in_parallel() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def dispatch(task: Task, token: CancelToken) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1

    plan = Plan([Task(f"t{i}", "x") for i in range(4)])
    Executor(EventBus(), "r", config(workers=4)).run(plan, dispatch)
    assert peak == 4  # all four were running at once


def test_fail_fast_cancels_running_tasks_and_skips_the_rest() -> None:
    def dispatch(task: Task, token: CancelToken) -> None:
        if task.id == "boom":
            time.sleep(0.05)
            raise FatalError("boom")
        for _ in range(200):  # a long task that checks for cancellation
            token.check()
            time.sleep(0.01)

    plan = Plan([Task("boom", "x"), Task("slow", "x"), Task("later", "x", ("slow",))])
    outcomes = Executor(EventBus(), "r", config(workers=2, fail_fast=True)).run(plan, dispatch)
    assert outcomes["boom"].status == "failed"
    assert outcomes["slow"].status == "failed"
    assert isinstance(outcomes["slow"].error, TaskCancelled)
    assert outcomes["later"].status == "skipped"


def test_task_timeout_cancels_through_the_token() -> None:
    interrupted = threading.Event()

    def dispatch(task: Task, token: CancelToken) -> None:
        token.on_cancel(interrupted.set)
        interrupted.wait(5)
        token.check()

    start = time.perf_counter()
    outcome = Executor(EventBus(), "r", config(timeout_s=0.2)).run(
        Plan([Task("t", "x")]), dispatch
    )["t"]
    assert outcome.status == "failed"
    assert "exceeded its time limit of 0.2s" in str(outcome.error)
    assert time.perf_counter() - start < 2


def test_transient_errors_are_retried_and_fatal_ones_are_not() -> None:
    calls = {"t": 0, "f": 0}

    def dispatch(task: Task, token: CancelToken) -> None:
        calls[task.id] += 1
        if task.id == "t" and calls["t"] < 3:
            raise TransientError("flaky", retry_after=0.001)
        if task.id == "f":
            raise FatalError("no")

    bus = EventBus()
    events = collect(bus)
    plan = Plan([Task("t", "x"), Task("f", "x")])
    retry = RetrySpec(attempts=5, base_s=0.001, cap_s=0.01)
    outcomes = Executor(bus, "r", config(retry=retry)).run(plan, dispatch)
    assert outcomes["t"].status == "success" and outcomes["t"].attempts == 3
    assert outcomes["f"].status == "failed" and calls["f"] == 1
    assert len([e for e in events if e.kind == "task_retried" and e.task_id == "t"]) == 2
    assert len([e for e in events if e.kind == "task_attempt" and e.task_id == "t"]) == 3


def test_retry_after_is_honoured() -> None:
    calls: list[float] = []

    def dispatch(task: Task, token: CancelToken) -> None:
        calls.append(time.perf_counter())
        if len(calls) == 1:
            raise TransientError("429", retry_after=0.3)

    retry = RetrySpec(attempts=2, base_s=0.001, cap_s=5)
    Executor(EventBus(), "r", config(retry=retry)).run(Plan([Task("t", "x")]), dispatch)
    assert calls[1] - calls[0] >= 0.29


def test_per_task_retry_overrides_the_pipeline() -> None:
    def dispatch(task: Task, token: CancelToken) -> None:
        raise TransientError("down", retry_after=0.0)

    cfg = config(retry=RetrySpec(attempts=1), task_retry={"t": RetrySpec(attempts=4)})
    outcomes = Executor(EventBus(), "r", cfg).run(Plan([Task("t", "x"), Task("u", "x")]), dispatch)
    assert outcomes["t"].attempts == 4
    assert outcomes["u"].attempts == 1


def test_full_jitter_stays_within_bounds_and_spreads() -> None:
    """Full jitter: wait ~ U(0, min(cap, base * 2**(n-1)))."""
    policy = RetryPolicy(attempts=10, base_s=1.0, cap_s=8.0)
    for attempt, ceiling in ((1, 1.0), (3, 4.0), (6, 8.0)):
        samples = []
        for _ in range(2000):
            state = RetryCallState(None, None, (), {})
            state.attempt_number = attempt
            samples.append(policy.wait_s(state))
        assert min(samples) >= 0
        assert max(samples) <= ceiling
        # uniform on [0, ceiling]: mean ceiling/2, stdev ceiling/sqrt(12); allow 5 % slack
        assert abs(statistics.fmean(samples) - ceiling / 2) < 0.05 * ceiling
        assert abs(statistics.pstdev(samples) - ceiling / 12**0.5) < 0.05 * ceiling


def test_open_circuit_fails_fast_naming_the_endpoint() -> None:
    calls = 0

    def dispatch(task: Task, token: CancelToken) -> None:
        nonlocal calls
        calls += 1
        raise TransientError("connection refused")

    bus = EventBus()
    events = collect(bus)
    tasks = [
        Task(f"t{i}", "load", params=LoadParams(f"t{i}", "db.internal:5432")) for i in range(5)
    ]
    cfg = config(breaker=BreakerSpec(failure_threshold=2, cooldown_s=60))
    outcomes = Executor(bus, "r", cfg).run(Plan(tasks), dispatch)
    assert calls == 2  # the third task onward never reached the endpoint
    message = str(outcomes["t4"].error)
    assert "circuit open for db.internal:5432" in message and "tried again in" in message
    assert [e.data["new"] for e in events if e.kind == "breaker"] == ["open"]


def pipeline_like() -> Plan:
    loads = [
        Task(load_task_id(t), "load", (), LoadParams(t, ep), f"csv -> table {t}")
        for t, ep in (("orders", None), ("load:odd:name", "db:5432"), ("ünï cödé", None))
    ]
    commit = Task(
        "commit",
        "commit",
        tuple(t.id for t in loads),
        CommitParams(tuple(t.params.table for t in loads if isinstance(t.params, LoadParams))),
        "make every staged table visible at once",
    )
    return Plan([commit, *loads])


def test_a_plan_round_trips_through_json_unchanged() -> None:
    plan = pipeline_like()
    again = Plan.from_json(plan.to_json())
    assert again == plan
    for task_id, task in plan.tasks.items():
        other = again.tasks[task_id]
        assert (other.id, other.action, other.depends_on, other.params, other.description) == (
            task.id,
            task.action,
            task.depends_on,
            task.params,
            task.description,
        )
    assert [t.id for t in again.order()] == [t.id for t in plan.order()]
    assert again.tasks["load:load:odd:name"].endpoint == "db:5432"
    # A Task without params (the executor's own tests) round-trips too.
    assert Plan.from_json(diamond().to_json()) == diamond()
    # The JSON holds only plain values, the tasks in a valid order.
    data = json.loads(plan.to_json())
    assert [t["id"] for t in data["tasks"]][-1] == "commit"
    assert data["tasks"][-1]["params"] == {"tables": ["orders", "load:odd:name", "ünï cödé"]}


def test_one_helper_makes_and_reads_task_ids() -> None:
    for table in ("orders", "a:b", "load:x", ""):
        assert table_of(load_task_id(table)) == table
    assert table_of("commit") is None
    assert task_id_for("orders") == "load:orders"
    assert task_id_for("load:orders") == "load:orders"
    assert task_id_for("commit") == "commit"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "not a serialised plan"),
        ('{"tasks": 3}', "a 'tasks' list"),
        ('{"format": 99, "tasks": []}', "plan format 99"),
        ('{"tasks": [{"id": "a"}]}', "not a task"),
        ('{"tasks": [{"id": "a", "action": "x", "params": {"table": "t"}}]}', "takes no params"),
        ('{"tasks": [{"id": "a", "action": "load", "params": {"nope": 1}}]}', "not a task"),
        ('{"tasks": [{"id": "a", "action": "x", "depends_on": ["b"]}]}', "unknown task 'b'"),
    ],
)
def test_a_bad_serialised_plan_is_a_user_error(text: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        Plan.from_json(text)


def test_an_unknown_task_id_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"no task 'load:nope'.*load:orders.*commit"):
        pipeline_like().task("load:nope")
