"""The work an agent is handed, one type per action, and the need each piece of work has.

The pipeline builds a work item and its :class:`~.base.Need` for every step of a task and
asks the Coordinator to dispatch it: extract → (transform) → (quarantine) → load for a load
task, check for a check task, commit for the commit. The needs are derived here from the
spec, so every face (a whole run, one task in its own process, an Airflow worker) asks the
same questions and gets the same agents.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..connectors import (
    BadRow,
    Destination,
    LoadResult,
    Relation,
    Resource,
    RowFilter,
    Source,
    StagedTable,
)
from ..spec import PipelineSpec, target_kind
from ..spec.models import STEP_KINDS
from .base import Need, Work


@dataclass
class AnalyzeWork(Work):
    """Discover what ``source`` holds: its resources (tables) with their columns."""

    returns = list
    returns_what = "a list of Resources"

    source: Source


@dataclass
class ExtractWork(Work):
    """Give ``resource`` of ``source`` as a Relation, past ``where`` when incremental."""

    returns = Relation
    returns_what = "a Relation"

    source: Source
    resource: Resource
    where: RowFilter | None = None


@dataclass
class TransformWork(Work):
    """Apply the spec's transform ``steps`` to ``relation``."""

    returns = Relation
    returns_what = "a Relation"

    relation: Relation
    steps: tuple[Any, ...]
    base_dir: Path
    home: Path | None = None


@dataclass
class QuarantineWork(Work):
    """Split ``relation`` by the table's quarantine checks, and stage what passes.

    ``split`` is the pipeline's check machinery: a context manager giving the passing rows
    (failing ones go to the dead-letter queue); ``stage`` loads what it is given.
    """

    returns = LoadResult
    returns_what = "the LoadResult of staging what passes"

    table: str
    relation: Relation
    split: Callable[[Relation], AbstractContextManager[Relation]]
    stage: Callable[[Relation], Any]


@dataclass
class LoadWork(Work):
    """Stage ``relation`` as ``table`` in ``destination`` (see ``Destination.write``)."""

    returns = LoadResult
    returns_what = "a LoadResult"

    destination: Destination
    table: str
    relation: Relation
    mode: str
    key: tuple[str, ...]
    fingerprint: str
    record_bad: Callable[[list[BadRow]], None]
    on_cancel: Callable[[Callable[[], None]], None] | None = None
    cursor_column: str | None = None
    # Watches the write while it runs (progress events); a context manager.
    watch: Callable[[], AbstractContextManager[Any]] | None = None


@dataclass
class CheckWork(Work):
    """Judge what ``table`` staged: run its checks (and profile it when the spec asks).

    ``run`` is the pipeline's check task body, which records results in the state DB.
    """

    table: str
    run: Callable[[], Any]


@dataclass
class CommitWork(Work):
    """Make every staged table visible at once, after ``admit`` (the bad-row limits) passes."""

    destination: Destination
    tables: list[StagedTable]
    admit: Callable[[], None] = field(default=lambda: None)


# Every action a run asks an agent for, in the order a run asks.
ACTIONS = (
    "orchestrate",
    "analyze",
    "extract",
    "transform",
    "quarantine",
    "load",
    "check",
    "commit",
    "monitor",
)


# -- needs ----------------------------------------------------------------------------------------
def source_family(spec: PipelineSpec) -> str:
    return str(spec.source.kind)


def source_subject(spec: PipelineSpec, resource: Resource | None = None) -> str:
    """``files/csv``, ``s3/parquet``, ``sql/postgresql``, ``rest/json``…"""
    family = source_family(spec)
    if family in ("files", "s3"):
        member = resource.format if resource is not None else "any"
    elif family == "sql":
        scheme = spec.source.uri.split(":", 1)[0].split("+", 1)[0].lower()
        member = "postgresql" if scheme in ("postgres", "postgresql") else scheme
    else:
        member = resource.format if resource is not None else "json"
    return f"{family}/{member}"


def target_subject(spec: PipelineSpec) -> str:
    """``duckdb/duckdb``, ``files/parquet``, ``files/csv``, ``s3/parquet``, ``sql/postgresql``."""
    scheme = target_kind(spec.target.uri, spec.target.format).scheme
    if scheme == "duckdb":
        return "duckdb/duckdb"
    if scheme in ("parquet", "csv"):
        return f"files/{scheme}"
    if scheme == "s3":
        return f"s3/{spec.target.format or 'parquet'}"
    if scheme in ("postgres", "postgresql"):
        return "sql/postgresql"
    return f"sql/{scheme}"


def analyze_need(spec: PipelineSpec) -> Need:
    return Need.of("analyze", source_subject(spec))


def extract_need(spec: PipelineSpec, resource: Resource, *, incremental: bool) -> Need:
    return Need.of(
        "extract", source_subject(spec, resource), *(("incremental",) if incremental else ())
    )


def transform_need(steps: tuple[Any, ...]) -> Need:
    """``transform:steps/sql`` for SQL and declarative steps; ``steps/python`` with a
    python step (the features name every kind of step used)."""
    kinds = {_step_kind(step) for step in steps}
    member = "python" if "python" in kinds else "sql"
    return Need("transform", f"steps/{member}", frozenset(kinds))


def _step_kind(step: Any) -> str:
    for name in STEP_KINDS:
        if getattr(step, name, None) is not None:
            return name
    return type(step).__name__.lower()


def quarantine_need(spec: PipelineSpec, resource: Resource) -> Need:
    return Need.of("quarantine", source_subject(spec, resource))


def load_need(spec: PipelineSpec, mode: str) -> Need:
    return Need.of("load", target_subject(spec), mode)


def check_need(spec: PipelineSpec) -> Need:
    return Need.of("check", target_subject(spec))


def commit_need(spec: PipelineSpec) -> Need:
    return Need.of("commit", target_subject(spec))
