"""Exporters of a pipeline's plan: an Airflow 3 DAG file (:func:`render_dag`).

Pure: they read a ``PipelineSpec`` and a serialised ``engine.Plan`` and return text; the
caller (``DataOrchestrator.export_dag``) plans the pipeline and writes the file.
"""

from __future__ import annotations

from ._ids import DagTask, dag_tasks
from ._schedule import PRESETS, check_schedule
from ._secrets import literal_secrets
from .airflow import DEFAULT_START, GENERATED_MARK, DagOptions, dag_id_for, embeddable, render_dag

__all__ = [
    "DEFAULT_START",
    "GENERATED_MARK",
    "PRESETS",
    "DagOptions",
    "DagTask",
    "check_schedule",
    "dag_id_for",
    "dag_tasks",
    "embeddable",
    "is_generated",
    "literal_secrets",
    "render_dag",
]


def is_generated(head: str) -> bool:
    """Whether a file that begins with ``head`` (its first few kB) is a DAG aoetl wrote, which
    an export may overwrite."""
    return GENERATED_MARK in head[:4096]
