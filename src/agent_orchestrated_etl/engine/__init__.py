"""Engine: the pure Plan, the Executor, circuit breakers, typed events and results."""

from __future__ import annotations

from ..resilience import BREAKERS, BreakerRegistry, CircuitBreaker, CircuitOpenError
from .events import Event, EventBus, Observer
from .executor import (
    CancelToken,
    Executor,
    ExecutorConfig,
    RunInterrupted,
    TaskCancelled,
    TaskOutcome,
    TaskTimedOut,
)
from .plan import (
    COMMIT,
    CheckParams,
    CommitParams,
    CycleError,
    LoadParams,
    Plan,
    Task,
    check_task_id,
    checked_table,
    load_task_id,
    table_of,
    task_id_for,
)
from .results import RunResult, TableResult

__all__ = [
    "BREAKERS",
    "COMMIT",
    "BreakerRegistry",
    "CancelToken",
    "CheckParams",
    "CircuitBreaker",
    "CircuitOpenError",
    "CommitParams",
    "CycleError",
    "Event",
    "EventBus",
    "Executor",
    "ExecutorConfig",
    "LoadParams",
    "Observer",
    "Plan",
    "RunInterrupted",
    "RunResult",
    "TableResult",
    "Task",
    "TaskCancelled",
    "TaskOutcome",
    "TaskTimedOut",
    "check_task_id",
    "checked_table",
    "load_task_id",
    "table_of",
    "task_id_for",
]
