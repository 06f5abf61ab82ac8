from __future__ import annotations

import pytest

from agent_orchestrated_etl.engine import CycleError, Event, EventBus, Executor, Plan, Task
from agent_orchestrated_etl.errors import FatalError, TransientError, UserError
from agent_orchestrated_etl.spec import RetrySpec


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


def collect(bus: EventBus) -> list[Event]:
    events: list[Event] = []
    bus.subscribe(events.append)
    return events


def test_failure_skips_downstream_and_spares_unrelated_tasks() -> None:
    bus = EventBus()
    events = collect(bus)

    def dispatch(task: Task) -> str:
        if task.id == "b":
            raise FatalError("b broke")
        return task.id

    outcomes = Executor(bus, "r", RetrySpec(attempts=1)).run(diamond(), dispatch)
    assert {k: o.status for k, o in outcomes.items()} == {
        "a": "success",
        "e": "success",
        "b": "failed",
        "c": "success",
        "d": "skipped",
    }
    skipped = [e for e in events if e.kind == "task_skipped"]
    assert skipped[0].data["cause"] == "b"


def test_transient_errors_are_retried_and_fatal_ones_are_not() -> None:
    calls = {"t": 0, "f": 0}

    def dispatch(task: Task) -> None:
        calls[task.id] += 1
        if task.id == "t" and calls["t"] < 3:
            raise TransientError("flaky", retry_after=0.001)
        if task.id == "f":
            raise FatalError("no")

    bus = EventBus()
    events = collect(bus)
    plan = Plan([Task("t", "x"), Task("f", "x")])
    outcomes = Executor(bus, "r", RetrySpec(attempts=5, base_s=0.001, cap_s=0.01)).run(
        plan, dispatch
    )
    assert outcomes["t"].status == "success" and outcomes["t"].attempts == 3
    assert outcomes["f"].status == "failed" and calls["f"] == 1
    assert len([e for e in events if e.kind == "task_retried"]) == 2


def test_retries_give_up_after_the_attempt_budget() -> None:
    def dispatch(task: Task) -> None:
        raise TransientError("still down")

    outcome = Executor(EventBus(), "r", RetrySpec(attempts=2, base_s=0.001, cap_s=0.001)).run(
        Plan([Task("t", "x")]), dispatch
    )["t"]
    assert outcome.status == "failed" and outcome.attempts == 2
    assert isinstance(outcome.error, TransientError)
