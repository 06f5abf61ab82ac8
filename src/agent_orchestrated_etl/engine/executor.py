"""The Executor runs a Plan's tasks in dependency order through one dispatch function.

It knows nothing about connectors: the caller passes ``dispatch(task) -> result``. Transient
failures are retried with exponential backoff and full jitter (tenacity); a failed task marks
everything downstream of it as skipped; every step is an event on the bus.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ..errors import AoetlError, TransientError
from ..spec import RetrySpec
from .events import Event, EventBus
from .plan import Plan, Task

Dispatch = Callable[[Task], Any]


@dataclass
class TaskOutcome:
    """What happened to one task."""

    task_id: str
    status: str  # success | failed | skipped
    result: Any = None
    error: BaseException | None = None
    attempts: int = 0
    duration_s: float = 0.0


class Executor:
    """Runs tasks one after another in topological order."""

    def __init__(self, bus: EventBus, run_id: str, retry: RetrySpec) -> None:
        self.bus = bus
        self.run_id = run_id
        self.retry = retry

    def run(self, plan: Plan, dispatch: Dispatch) -> dict[str, TaskOutcome]:
        outcomes: dict[str, TaskOutcome] = {}
        skipped_by: dict[str, str] = {}
        for task in plan.order():
            if task.id in skipped_by:
                cause = skipped_by[task.id]
                outcomes[task.id] = TaskOutcome(task.id, "skipped")
                self._emit("task_skipped", task, cause=cause)
                continue
            outcome = self._run_task(task, dispatch)
            outcomes[task.id] = outcome
            if outcome.status == "failed":
                for down in plan.downstream(task.id):
                    skipped_by.setdefault(down, task.id)
        return outcomes

    def _run_task(self, task: Task, dispatch: Dispatch) -> TaskOutcome:
        started = time.perf_counter()
        self._emit("task_started", task, action=task.action)
        attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
            before_sleep=lambda state: self._emit(
                "task_retried",
                task,
                attempt=state.attempt_number,
                error=str(state.outcome.exception()) if state.outcome else "",
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    result = dispatch(task)
        except Exception as exc:  # every failure becomes an outcome; the caller decides
            duration = time.perf_counter() - started
            self._emit(
                "task_failed",
                task,
                error=str(exc),
                attempts=attempts,
                user_error=isinstance(exc, AoetlError),
            )
            return TaskOutcome(task.id, "failed", None, exc, attempts, duration)
        duration = time.perf_counter() - started
        self._emit("task_finished", task, duration_s=duration, attempts=attempts)
        return TaskOutcome(task.id, "success", result, None, attempts, duration)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry.cap_s)
        jitter = wait_random_exponential(multiplier=self.retry.base_s, max=self.retry.cap_s)
        return float(jitter(state))

    def _emit(self, kind: str, task: Task, **data: Any) -> None:
        self.bus.publish(Event(kind, self.run_id, task.id, data))
