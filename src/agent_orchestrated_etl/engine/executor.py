"""The Executor runs a Plan's tasks through one dispatch function, in parallel where it can.

It knows nothing about connectors: the caller passes ``dispatch(task, token) -> result``.

* Independent tasks run on ``workers`` threads; a task starts once all it depends on succeeded.
* A failed task marks everything downstream as skipped (with the cause); unrelated tasks go
  on, unless ``fail_fast`` stops everything at the first failure.
* Transient failures are retried by :class:`resilience.RetryPolicy` (exponential backoff with
  full jitter; a ``Retry-After`` from the connector is honoured). Every attempt is an event.
* A task with an endpoint goes through that endpoint's circuit breaker.
* A task over its time limit, and every task on Ctrl-C, SIGTERM or an :func:`interrupts.interrupt`
  from another thread, is cancelled through its CancelToken; the run then raises RunInterrupted
  once every running task has stopped.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..errors import AoetlError, FatalError, kind_of
from ..resilience import BREAKERS, BreakerRegistry, RetryPolicy
from ..spec import BreakerSpec, RetrySpec
from . import interrupts
from .events import Event, EventBus
from .plan import Plan, Task


class TaskCancelled(FatalError):
    """A task was cancelled: by its time limit, by --fail-fast, or by Ctrl-C."""


class TaskTimedOut(TaskCancelled):
    """A task was cancelled by its time limit: a timeout, told apart by its type."""


class RunInterrupted(AoetlError):
    """The run was stopped by SIGINT or SIGTERM; nothing was committed."""

    exit_code = 130


class CancelToken:
    """Lets a running task be stopped: it checks ``cancelled`` and registers interrupt hooks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.reason = ""
        self.timed_out = False

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when cancelled; if already cancelled, call it and raise TaskCancelled.

        Work registers its hook (a DuckDB ``interrupt``) before it starts. An interrupt that
        comes before the query is forgotten by DuckDB, so a cancelled task must not start.
        """
        with self._lock:
            self._hooks.append(hook)
            fire = self._event.is_set()
        if fire:
            with contextlib.suppress(Exception):
                hook()
            raise self.error()

    def cancel(self, reason: str, *, timed_out: bool = False) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason, self.timed_out = reason, timed_out
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            with contextlib.suppress(Exception):  # one failing hook must not stop the others
                hook()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early if cancelled."""
        self._event.wait(seconds)

    def check(self) -> None:
        """Raise TaskCancelled if cancelled; call between units of work."""
        if self.cancelled:
            raise self.error()

    def error(self) -> TaskCancelled:
        """What the cancelled task raises: a TaskTimedOut when its time limit stopped it."""
        kind = TaskTimedOut if self.timed_out else TaskCancelled
        return kind(f"cancelled: {self.reason}")


Dispatch = Callable[[Task, CancelToken], Any]


@dataclass
class TaskOutcome:
    """What happened to one task."""

    task_id: str
    status: str  # success | failed | skipped
    result: Any = None
    error: BaseException | None = None
    attempts: int = 0
    duration_s: float = 0.0


@dataclass
class ExecutorConfig:
    """How the Executor runs: parallelism, failure policy, limits."""

    workers: int = 1
    fail_fast: bool = False
    retry: RetrySpec = field(default_factory=RetrySpec)
    timeout_s: float | None = None
    breaker: BreakerSpec = field(default_factory=BreakerSpec)
    task_retry: dict[str, RetrySpec] = field(default_factory=dict)
    task_timeout: dict[str, float] = field(default_factory=dict)
    breakers: BreakerRegistry = field(default_factory=lambda: BREAKERS)


class Executor:
    """Runs a Plan. One instance per run."""

    def __init__(self, bus: EventBus, run_id: str, config: ExecutorConfig | RetrySpec) -> None:
        self.bus = bus
        self.run_id = run_id
        self.config = config if isinstance(config, ExecutorConfig) else ExecutorConfig(retry=config)

    def run(self, plan: Plan, dispatch: Dispatch) -> dict[str, TaskOutcome]:
        outcomes: dict[str, TaskOutcome] = {}
        waiting = {t.id: set(t.depends_on) for t in plan.order()}
        tokens: dict[str, CancelToken] = {}
        running: dict[Future[TaskOutcome], tuple[Task, float]] = {}
        stop = False

        def on_interrupt() -> None:
            for token in list(tokens.values()):
                token.cancel("interrupted")

        pool = ThreadPoolExecutor(max_workers=max(1, self.config.workers))
        # Registered before the first task starts: an interrupt during planning stops the run.
        forget = interrupts.on_interrupt(on_interrupt)
        try:
            while waiting or running:
                stop = stop or interrupts.interrupted() is not None
                if not stop:
                    for task_id in sorted(t for t, deps in waiting.items() if not deps):
                        if len(running) >= self.config.workers:
                            break
                        del waiting[task_id]
                        task = plan.tasks[task_id]
                        token = tokens[task_id] = CancelToken()
                        if interrupts.interrupted() is not None:  # the hook may have missed it
                            token.cancel("interrupted")
                        future = pool.submit(self._run_task, task, dispatch, token)
                        running[future] = (task, time.monotonic())
                if not running:
                    cause = "interrupted" if interrupts.interrupted() else "fail-fast"
                    for task_id in list(waiting):  # stopped: what never started is skipped
                        self._skip(plan.tasks[task_id], cause, outcomes)
                        del waiting[task_id]
                    break
                done, _ = wait(
                    list(running), timeout=self._next_deadline(running), return_when=FIRST_COMPLETED
                )
                self._enforce_timeouts(running, tokens)
                for future in done:
                    task, _started = running.pop(future)
                    outcome = future.result()
                    outcomes[task.id] = outcome
                    if outcome.status == "success":
                        for deps in waiting.values():
                            deps.discard(task.id)
                        continue
                    for down in plan.downstream(task.id):
                        if down in waiting:
                            self._skip(plan.tasks[down], task.id, outcomes)
                            del waiting[down]
                    if self.config.fail_fast and not stop:
                        stop = True
                        for token in tokens.values():
                            token.cancel(f"--fail-fast after {task.id} failed")
        except KeyboardInterrupt:
            # Ctrl-C in a program that runs the Executor on its main thread.
            on_interrupt()
            wait(list(running), timeout=30)
            raise RunInterrupted("interrupted; nothing was committed") from None
        finally:
            forget()
            pool.shutdown(wait=True, cancel_futures=True)
        # A run whose every task finished (the commit too) before the interrupt took effect
        # is complete, and says so.
        if interrupts.interrupted() and any(o.status != "success" for o in outcomes.values()):
            raise RunInterrupted("interrupted; nothing was committed")
        return outcomes

    def _skip(self, task: Task, cause: str, outcomes: dict[str, TaskOutcome]) -> None:
        outcomes[task.id] = TaskOutcome(task.id, "skipped")
        self._emit("task_skipped", task, cause=cause)

    def _timeout_of(self, task: Task) -> float | None:
        return self.config.task_timeout.get(task.id, self.config.timeout_s)

    def _next_deadline(
        self, running: dict[Future[TaskOutcome], tuple[Task, float]]
    ) -> float | None:
        remaining = [
            started + limit - time.monotonic()
            for task, started in running.values()
            if (limit := self._timeout_of(task)) is not None
        ]
        return max(0.01, min(remaining)) if remaining else None

    def _enforce_timeouts(
        self,
        running: dict[Future[TaskOutcome], tuple[Task, float]],
        tokens: dict[str, CancelToken],
    ) -> None:
        now = time.monotonic()
        for task, started in running.values():
            limit = self._timeout_of(task)
            if limit is not None and now - started > limit:
                tokens[task.id].cancel(
                    f"task {task.id} exceeded its time limit of {limit:g}s", timed_out=True
                )

    def _run_task(self, task: Task, dispatch: Dispatch, token: CancelToken) -> TaskOutcome:
        started = time.perf_counter()
        self._emit("task_started", task, action=task.action)
        retry = self.config.task_retry.get(task.id, self.config.retry)
        endpoint = task.endpoint
        breaker = (
            self.config.breakers.get(
                endpoint,
                failure_threshold=self.config.breaker.failure_threshold,
                cooldown_s=self.config.breaker.cooldown_s,
            )
            if endpoint
            else None
        )
        attempts = 0

        def counted(number: int) -> None:
            nonlocal attempts
            token.check()
            attempts = number
            self._emit("task_attempt", task, attempt=number)

        policy = RetryPolicy(retry.attempts, retry.base_s, retry.cap_s)
        try:
            result = policy.call(
                lambda: dispatch(task, token),
                breaker=breaker,
                on_breaker=lambda ep, old, new: self._emit(
                    "breaker", task, endpoint=ep, old=old, new=new
                ),
                sleep=token.wait,
                on_attempt=counted,
                on_retry=lambda number, wait_s, error: self._emit(
                    "task_retried", task, attempt=number, wait_s=round(wait_s, 3), error=str(error)
                ),
            )
        except BaseException as exc:  # every failure becomes an outcome; the caller decides
            if token.cancelled and not isinstance(exc, TaskCancelled):
                exc = token.error()
            duration = time.perf_counter() - started
            self._emit(
                "task_failed",
                task,
                error=str(exc),
                attempts=attempts,
                error_type=type(exc).__name__,
                error_kind=kind_of(exc),
            )
            return TaskOutcome(task.id, "failed", None, exc, attempts, duration)
        duration = time.perf_counter() - started
        self._emit("task_finished", task, duration_s=round(duration, 4), attempts=attempts)
        return TaskOutcome(task.id, "success", result, None, attempts, duration)

    def _emit(self, kind: str, task: Task, **data: Any) -> None:
        self.bus.publish(Event(kind, self.run_id, task.id, data))
