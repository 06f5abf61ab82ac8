"""Orchestration: plan a pipeline, run its tasks exactly once (all in one process, or each by
itself with :func:`run_task`), incremental cursors, replay."""

from __future__ import annotations

from .connect import discover_source
from .context import TaskContext, check_run_id
from .planner import PipelinePlan, plan_pipeline, spec_hash
from .runner import RunOptions, new_run_id, run_pipeline, spec_of_run
from .task import run_task

__all__ = [
    "PipelinePlan",
    "RunOptions",
    "TaskContext",
    "check_run_id",
    "discover_source",
    "new_run_id",
    "plan_pipeline",
    "run_pipeline",
    "run_task",
    "spec_hash",
    "spec_of_run",
]
