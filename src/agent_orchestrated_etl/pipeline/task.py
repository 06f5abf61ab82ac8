"""One task of a pipeline, by itself: what each thread of a run, ``aoetl run … --task`` and an
Airflow worker call.

:func:`run_task` is the single place where a Task becomes calls of connectors and steps (the
seam the agents' Coordinator takes over). Given a spec, a task id and a run id, it opens what
it needs (the source and its discovery, the destination, the state store), does the task
(stage one table with its checkpoint, or commit), records it and closes. The first task of a
new run id starts the run in the history; the commit task finishes it with the same record a
whole run makes. A task of a committed run does nothing.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path

from .._text import plural
from ..agents import coordinator_for
from ..agents.monitor import MonitorAgent
from ..agents.work import (
    CheckWork,
    check_need,
)
from ..engine import (
    CancelToken,
    CheckParams,
    CommitParams,
    Event,
    EventBus,
    Executor,
    LoadParams,
    Plan,
    RunInterrupted,
    RunResult,
    load_task_id,
)
from ..errors import (
    CheckFailedError,
    NotSupportedError,
    UserError,
)
from ..secrets import redact
from ..spec import PipelineSpec
from ..state import RunRecord, StateStore
from .actions import commit_tables, load_table
from .checking import (
    checked_tables,
    load_check_results,
    mark_checked,
    refuse_failed,
    require_checked,
    run_check_task,
)
from .context import (
    TaskContext,
    check_run_id,
    executor_config,
    finish_run,
    is_final,
    scrub,
)
from .planner import plan_pipeline, spec_hash
from .recall import Recall
from .routing import route_workflow

_OVER = ("failed", "killed", "interrupted")  # a run that ended without committing


def run_task(
    spec: PipelineSpec,
    task_id: str,
    run_id: str,
    *,
    home: Path,
    base_dir: Path | None = None,
    bus: EventBus | None = None,
    context: TaskContext | None = None,
    token: CancelToken | None = None,
    attempts: int | None = None,
) -> RunResult:
    """Run the task ``task_id`` of ``spec``'s plan as part of run ``run_id``.

    Alone (no ``context``) it plans, opens, retries the task as the spec says, records it and
    closes; it never raises for a failed task: the result says what failed, with the exit
    code and the kind of error. ``attempts`` (alone only) is how many tries the task gets in
    this process, instead of the spec's retries: 1 when a scheduler such as Airflow retries
    the task itself. With the ``context`` of a run in progress (the in-process runner), it
    only does the task, and raises: the caller's Executor retries and records.
    """
    if context is not None:
        return _in_context(context, task_id, token or CancelToken())
    base = base_dir or Path.cwd()
    return _alone(spec, task_id, run_id, home=home, base_dir=base, bus=bus, attempts=attempts)


def _in_context(context: TaskContext, task_id: str, token: CancelToken) -> RunResult:
    task = context.planned.plan.task(task_id)
    started = time.perf_counter()
    result = RunResult(context.run_id, context.spec.name, "success", 0.0, task=task.id)
    if isinstance(task.params, LoadParams):
        table = task.params.table
        try:
            loaded = load_table(context, task, table, token)
        except BaseException:
            context.coordinator.settle(context.run_id, task.id, ok=False)
            raise
        # The extract and transform agents' Relations ran in the load: they share its count.
        context.coordinator.settle(context.run_id, task.id, ok=True, rows=loaded.rows_loaded)
        staged = context.table_result(table, True)  # its rows are staged, not yet visible
        result.tables = {table: staged} if staged is not None else {}
        result.checks = load_check_results(context, table)
    elif isinstance(task.params, CheckParams):
        token.check()
        table = task.params.table
        checked, scored = context.coordinator.dispatch(
            check_need(context.spec),
            CheckWork(
                context.run_id, task.id, table, lambda: run_check_task(context, task.id, table)
            ),
        )
        result.checks = [r.model_dump(mode="json") for r in checked]
        result.quality = {table: scored} if scored is not None else {}
    elif isinstance(task.params, CommitParams):
        commit_tables(context, task.params.tables, token)
        result.tables = context.table_results(True, staged=True)
    else:
        raise NotSupportedError(f"no handler for task action {task.action!r}")
    result.duration_s = time.perf_counter() - started
    return result


def _alone(
    spec: PipelineSpec,
    task_id: str,
    run_id: str,
    *,
    home: Path,
    base_dir: Path,
    bus: EventBus | None,
    attempts: int | None = None,
) -> RunResult:
    bus = bus or EventBus()
    bus.scrub = scrub
    store = StateStore(home)
    MonitorAgent(store).attach(bus)
    started = time.perf_counter()
    result = RunResult(run_id, spec.name, "failed", 0.0, task=task_id)
    coordinator = coordinator_for(store)
    recall = _recall(store, spec, home, base_dir)
    try:
        check_run_id(run_id)
        record = store.find_run(run_id)
        record = record if record is not None and record.run_id == run_id else None
        digest = spec_hash(spec)
        # A run that ended without committing may be taken again under a fixed spec (an
        # Airflow DAG run keeps its run id: its date could never load otherwise).
        retake = record is not None and bool(record.spec_hash) and record.spec_hash != digest
        if retake and record is not None and record.status not in _OVER:
            raise UserError(
                f"run {run_id} is a run of pipeline '{record.pipeline}' with another spec, "
                f"and it is {record.status}; give every task of a run the same pipeline, or "
                "a new run id"
            )
        # One attempt covers connecting as well (discovery retries inside the retry policy);
        # the run keeps the spec as given: its hash and stored spec are the pipeline's.
        planning = spec if attempts is None else _attempts(spec, attempts)
        planned = plan_pipeline(
            planning, home=home, bus=bus, run_id=run_id, coordinator=coordinator
        )
        try:
            planned = route_workflow(planned, store, run_id)
            planned = recall.consult(planned, run_id, pin=True)
            task = planned.plan.task(task_id)
        except BaseException:
            planned.source.close()
            raise
        context = TaskContext.open(
            planned,
            run_id,
            home=home,
            base_dir=base_dir,
            bus=bus,
            store=store,
            coordinator=coordinator,
        )
    except Exception as exc:  # nothing started: the run's record is not touched
        coordinator.flush()
        return _failed(result, exc, started)
    recorded = False  # whether this task started (or restarted) the run in the history
    try:
        result.notes.extend(planned.notes)
        if context.committed:
            result.status = "success"
            result.notes.append(f"run {run_id} was already committed; nothing to do")
            return _done(result, started)
        if retake:  # what the run staged under its old spec is not this spec's to commit
            context.destination.discard()
            context.checkpoints = {}
            result.notes.append(
                f"run {run_id} ended {record.status if record else 'failed'} under another "
                "spec: its staging was dropped, and it starts over under this one"
            )
        if isinstance(task.params, CommitParams):
            judged = checked_tables(planned.plan, task)
            refuse_failed(context, judged)  # a fail check failed: the commit fails too
            _check_staged(context, task.params.tables, record)
            require_checked(context, judged)
        elif isinstance(task.params, CheckParams):
            _check_staged(context, (task.params.table,), record)
        if record is not None and record.status == "staged":
            store.claim_run(run_id)
        elif record is None or record.status != "running":
            store.start_run(
                run_id, spec.name, planned.spec.target.uri, spec_json=spec.model_dump_json(),
                spec_hash=digest,
            )  # fmt: skip
            bus.publish(Event("run_started", run_id, data={"pipeline": spec.name}))
        recorded = True
        if isinstance(task.params, LoadParams):  # rows staged again need checking again
            store.quality.unmark_checked(run_id, task.params.table)
        config = executor_config(planned.spec, workers=1, fail_fast=False)  # memory's limits
        outcome = Executor(bus, run_id, config).run(
            Plan([replace(task, depends_on=())]),
            lambda t, tok: run_task(spec, t.id, run_id, home=home, context=context, token=tok),
        )[task.id]
        if isinstance(task.params, CheckParams):
            passed = outcome.status == "success"
            if passed or isinstance(outcome.error, CheckFailedError):
                mark_checked(context, task.params.table, passed=passed)
        if outcome.status != "success":
            error = outcome.error or RuntimeError("the task failed")
            if isinstance(task.params, LoadParams):
                context.dead_letter_task(task.id, task.params.table, error)
            if is_final(error):
                context.destination.discard()
            raise error
        done: RunResult = outcome.result
        result.status, result.tables = "success", done.tables
        result.checks, result.quality = done.checks, done.quality
        result.notes.extend(context.warnings)
        if isinstance(task.params, LoadParams | CheckParams):
            store.release_run(run_id)
            did = "staged" if isinstance(task.params, LoadParams) else "checked"
            result.notes.append(
                f"table {task.params.table} {did} in run {run_id}; the commit task makes "
                "every table visible"
            )
        else:
            recall.remember(_finish_committed(context, result))
    except Exception as exc:
        _failed(result, exc, started)
        if isinstance(exc, RunInterrupted):
            result.status = "interrupted"
        if recorded:
            coordinator.flush()
            finish_run(store, bus, result)
            recall.remember(result)  # a task's failure ends the run: memory learns from it
    finally:
        context.close()
        coordinator.flush()
    return _done(result, started)


def _attempts(spec: PipelineSpec, attempts: int) -> PipelineSpec:
    """``spec`` with every retry policy (the pipeline's, each task's) making ``attempts``
    tries in all: the caller (Airflow) retries the task itself."""
    tasks = {
        name: opts.model_copy(
            update={"retries": opts.retries.model_copy(update={"attempts": attempts})}
        )
        if opts.retries is not None
        else opts
        for name, opts in spec.tasks.items()
    }
    retries = spec.retries.model_copy(update={"attempts": attempts})
    return spec.model_copy(update={"retries": retries, "tasks": tasks})


def _done(result: RunResult, started: float) -> RunResult:
    result.duration_s = time.perf_counter() - started
    return result


def _failed(result: RunResult, error: BaseException, started: float) -> RunResult:
    result.fail(error, redact("".join(traceback.format_exception(error))))
    if result.error is not None:
        result.error = redact(result.error)
    return _done(result, started)


def _check_staged(context: TaskContext, tables: tuple[str, ...], record: RunRecord | None) -> None:
    """A check or commit in its own process needs its tables staged by the run's loads."""
    missing = [t for t in tables if t not in context.checkpoints]
    if not missing:
        return
    tasks = ", ".join(load_task_id(t) for t in missing)
    if record is not None and record.status in _OVER:
        # Another task failed the run, which dropped every table's staging.
        why = " ".join((record.error or "").split())[:300]
        raise UserError(
            f"run {context.run_id} {record.status} already"
            + (f" ({why})" if why else "")
            + f"; nothing was committed and its staging was dropped: fix the cause, then run "
            f"{tasks} again with --run-id {context.run_id} (in Airflow: clear the DAG run)"
        )
    raise UserError(
        f"run {context.run_id} has not staged {plural(len(missing), 'table')} yet "
        f"({', '.join(missing)}); run {tasks} with --run-id {context.run_id} first. A table "
        "new in the source since the tasks were listed (a DAG exported before it appeared) "
        "has no load task: export the DAG again, or name the tables in the pipeline"
    )


def _finish_committed(context: TaskContext, result: RunResult) -> RunResult:
    """The run's record once its commit task succeeded: as a whole run records it."""
    record = context.store.find_run(context.run_id)
    whole = RunResult(
        context.run_id,
        context.spec.name,
        "success",
        time.time() - record.started_at if record is not None else result.duration_s,
        tables=dict(result.tables),
        notes=list(context.planned.notes),
    )
    finish_run(context.store, context.bus, whole)
    result.checks, result.quality = whole.checks, whole.quality
    return whole


def _recall(store: StateStore, spec: PipelineSpec, home: Path, base_dir: Path) -> Recall:
    """Memory's part in a run made task by task: each task runs alone (no workers)."""
    from .runner import RunOptions  # the runner runs tasks: imported when one runs alone

    return Recall(store, spec, RunOptions(home=home, base_dir=base_dir, workers_given=True))
