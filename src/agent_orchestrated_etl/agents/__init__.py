"""Agents decide; connectors and the engine do the work.

Until the agents feature lands, :mod:`.pipeline` plans and dispatches tasks directly.
"""

from __future__ import annotations

from .pipeline import PipelinePlan, RunOptions, new_run_id, plan_pipeline, run_pipeline

__all__ = ["PipelinePlan", "RunOptions", "new_run_id", "plan_pipeline", "run_pipeline"]
