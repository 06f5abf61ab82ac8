"""Engine: the pure Plan, the Executor, typed events and results."""

from __future__ import annotations

from .events import Event, EventBus, Observer
from .executor import Executor, TaskOutcome
from .plan import CycleError, Plan, Task
from .results import RunResult, TableResult

__all__ = [
    "CycleError",
    "Event",
    "EventBus",
    "Executor",
    "Observer",
    "Plan",
    "RunResult",
    "TableResult",
    "Task",
    "TaskOutcome",
]
