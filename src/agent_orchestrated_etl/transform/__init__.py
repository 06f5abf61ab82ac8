"""Transforms: DuckDB SQL, declarative steps, and Python callables over Arrow batches."""

from __future__ import annotations

from .steps import apply_steps, describe_step, step_sql

__all__ = ["apply_steps", "describe_step", "step_sql"]
