"""Orchestration: plan a pipeline, run its tasks exactly once, incremental cursors, replay."""

from __future__ import annotations

from .planner import PipelinePlan, plan_pipeline, spec_hash
from .runner import RunOptions, new_run_id, run_pipeline, spec_of_run

__all__ = [
    "PipelinePlan",
    "RunOptions",
    "new_run_id",
    "plan_pipeline",
    "run_pipeline",
    "spec_hash",
    "spec_of_run",
]
