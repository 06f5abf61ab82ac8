"""Exporters of a pipeline's plan: an Airflow 3 DAG file (:func:`render_dag`).

Pure: they read a ``PipelineSpec`` and a serialised ``engine.Plan`` and return text; the
caller (``DataOrchestrator.export_dag``) plans the pipeline and writes the file.
"""

from __future__ import annotations

from ._embed import embeddable
from ._ids import DagTask, dag_tasks
from ._schedule import PRESETS, check_schedule
from ._secrets import literal_secrets
from ._source import MAX_SECONDS, check_seconds
from .airflow import (
    DEFAULT_START,
    GENERATED_MARK,
    DagOptions,
    check_export,
    check_labels,
    dag_id_for,
    render_dag,
)

__all__ = [
    "DEFAULT_START",
    "GENERATED_MARK",
    "MAX_SECONDS",
    "PRESETS",
    "DagOptions",
    "DagTask",
    "check_export",
    "check_labels",
    "check_schedule",
    "check_seconds",
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
