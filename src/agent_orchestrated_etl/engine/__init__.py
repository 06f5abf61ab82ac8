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
)
from .plan import CycleError, Plan, Task
from .results import RunResult, TableResult

__all__ = [
    "BREAKERS",
    "BreakerRegistry",
    "CancelToken",
    "CircuitBreaker",
    "CircuitOpenError",
    "CycleError",
    "Event",
    "EventBus",
    "Executor",
    "ExecutorConfig",
    "Observer",
    "Plan",
    "RunInterrupted",
    "RunResult",
    "TableResult",
    "Task",
    "TaskCancelled",
    "TaskOutcome",
]
