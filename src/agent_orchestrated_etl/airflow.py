"""Airflow's entry point: what each task of a DAG written by ``aoetl dag`` calls.

:func:`run_task` runs one task of a pipeline's plan, one attempt, as ``aoetl run PIPELINE
--task ID --run-id RUN`` does; Airflow owns the retries (the DAG carries the spec's retries
and backoff). :func:`run_id_for` maps an Airflow task's context to the aoetl run id every
task of one DAG run shares, so a retry resumes from its checkpoint and never loads twice.

Importing this module is cheap: it imports neither Airflow nor the engine. Airflow's
exception is imported only when a task fails, so a DAG file parses without aoetl's weight.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import AoetlError

if TYPE_CHECKING:
    from .engine import RunResult
    from .spec import PipelineSpec

__all__ = ["TaskFailed", "run_id_for", "run_task"]

log = logging.getLogger(__name__)

_NOT_IN_RUN_ID = re.compile(r"[^A-Za-z0-9_.:+-]")
_MAX_RUN_ID = 200
_NOTES = 3  # XCom holds the summary in Airflow's database: a few notes, not a run's log
# A DuckDB file (or a table of a Parquet/CSV folder) has one writer at a time. On a cluster
# another task or DAG may hold it for a while: a task waits this long for it (unless the
# spec's target says otherwise) instead of failing for good at once as the CLI does.
LOCK_WAIT_S = 300.0


class TaskFailed(AoetlError):
    """A task failed for a reason worth another attempt (a transient error, or the task was
    interrupted): Airflow retries it with the DAG's backoff, and the retry resumes it.

    Outside Airflow (no ``airflow`` installed) every failure raises it; ``retry`` then says
    whether another attempt could succeed."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def run_task(
    spec: PipelineSpec | Mapping[str, Any] | str | os.PathLike[str],
    task_id: str,
    run_id: str,
    *,
    base_dir: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run the task ``task_id`` of ``spec``'s plan, one attempt, as part of run ``run_id``.

    ``spec`` is a pipeline document (a mapping, as a DAG embeds it), a pipeline file's path
    (its folder is then the base folder) or a :class:`PipelineSpec`; ``base_dir`` is where a
    document's relative paths are read from. ``home`` is the aoetl home; ``AOETL_HOME`` in
    the environment wins over it, and ``AOETL_STATE_URL`` selects a shared state database.
    A target another process holds (a DuckDB file has one writer) is waited for up to
    :data:`LOCK_WAIT_S` seconds unless the spec's ``target.lock_timeout_s`` says otherwise.

    Returns a small summary for XCom (run id, task, status, rows per table, a few notes),
    secrets masked. Raises ``airflow.sdk.exceptions.AirflowFailException`` (no retry) for
    bad input, a failed check or another error a retry would repeat, and :class:`TaskFailed`
    for a transient or interrupted one; either message is aoetl's one-line error.
    """
    try:
        result = _run(spec, task_id, run_id, base_dir=base_dir, home=home)
    except Exception as exc:  # before the task could run: the spec, the state store, the home
        from .errors import AoetlError, kind_of

        said = str(exc) if isinstance(exc, AoetlError) else f"{type(exc).__name__}: {exc}"
        _fail(f"task {task_id} of run {run_id} failed: {said}", retry=kind_of(exc) == "transient")
    if result.status != "success":
        _raise(result)
    summary = _summary(result)
    log.info("aoetl task %s of run %s: %s%s", task_id, run_id, result.status, _rows(result))
    return summary


def _run(
    spec: PipelineSpec | Mapping[str, Any] | str | os.PathLike[str],
    task_id: str,
    run_id: str,
    *,
    base_dir: str | os.PathLike[str] | None,
    home: str | os.PathLike[str] | None,
) -> RunResult:
    from .api import DataOrchestrator

    given_home = None if os.environ.get("AOETL_HOME") or home is None else Path(home)
    orch = DataOrchestrator(given_home)
    folder = Path(base_dir) if base_dir is not None else Path.cwd()
    if isinstance(spec, Mapping):
        prepared = orch.prepare(spec, base_dir=folder)
        pipeline, folder = prepared.spec, prepared.base_dir
    elif isinstance(spec, str | os.PathLike):
        prepared = orch.prepare(Path(spec))
        pipeline, folder = prepared.spec, prepared.base_dir
    else:
        pipeline = spec
    if pipeline.target.lock_timeout_s is None:  # not in the spec's hash: the run is the same
        target = pipeline.target.model_copy(update={"lock_timeout_s": LOCK_WAIT_S})
        pipeline = pipeline.model_copy(update={"target": target})
    return orch.run_task(pipeline, task_id, run_id, base_dir=folder, attempts=1)


def run_id_for(context: Mapping[str, Any]) -> str:
    """The aoetl run id of an Airflow task's context (``get_current_context()``).

    ``DAG_ID.LOGICAL_DATE`` (ISO 8601) when the DAG run has a logical date: unique per DAG,
    and the same for every ``airflow tasks test DAG TASK DATE`` of one DATE. Otherwise
    ``DAG_ID.RUN_ID``. Characters a run id cannot hold become ``_``; a longer id is cut,
    with a short hash of the whole to keep it unique.
    """
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
    if not dag_id:
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(ti, "dag_id", None) or "dag"
    logical = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    if logical is not None:
        raw = f"{dag_id}.{logical.isoformat()}"
    else:
        airflow_run = context.get("run_id") or getattr(dag_run, "run_id", None)
        if not airflow_run:
            raise ValueError("the Airflow context names neither a logical date nor a run id")
        raw = f"{dag_id}.{airflow_run}"
    return _valid_run_id(raw)


def _valid_run_id(raw: str) -> str:
    """``raw`` as ``pipeline.context.check_run_id`` accepts it: 1-200 characters of letters,
    digits and ``_ . : + -``, starting with a letter or a digit."""
    text = _NOT_IN_RUN_ID.sub("_", raw)
    if not text[:1].isalnum() or not text[:1].isascii():
        text = "r" + text
    if len(text) > _MAX_RUN_ID:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
        text = f"{text[: _MAX_RUN_ID - len(digest) - 1]}-{digest}"
    return text


def _rows(result: RunResult) -> str:
    """How many rows the task moved, as its log line says it: a load stages, a commit loads."""
    if not result.tables:
        return ""
    did = "loaded" if result.task == "commit" else "staged"
    return f", {result.rows_loaded:,} rows {did}, {result.rows_rejected:,} rejected"


def _summary(result: RunResult) -> dict[str, Any]:
    from .secrets import redact_obj

    return dict(
        redact_obj(
            {
                "run_id": result.run_id,
                "task": result.task,
                "status": result.status,
                "tables": {
                    name: {"rows_loaded": t.rows_loaded, "rows_rejected": t.rows_rejected}
                    for name, t in result.tables.items()
                },
                "notes": result.notes[:_NOTES],
            }
        )
    )


def _raise(result: RunResult) -> None:
    """Raise what Airflow makes of the failed ``result``: retry it, or fail it for good."""
    error = result.error or f"the task ended {result.status}"
    retry = result.status == "interrupted" or result.error_kind == "transient"
    _fail(f"task {result.task} of run {result.run_id} failed: {error}", retry=retry)


def _fail(message: str, *, retry: bool) -> NoReturn:
    """Raise ``message`` (one line, masked) as Airflow should take it: :class:`TaskFailed`
    to retry, ``AirflowFailException`` to fail for good."""
    from .secrets import redact

    message = redact(" ".join(message.split()))
    if retry:
        raise TaskFailed(message)
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # run outside Airflow: still no retry
        raise TaskFailed(message, retry=False) from None
    raise AirflowFailException(message)
