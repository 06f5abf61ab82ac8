"""Run one pipeline, exactly once: plan, stage each table with a checkpoint, commit once.

Every task goes through :func:`task.run_task`, the one place that turns a Task into connector
calls, as in a worker running a single task; here the tasks share one open
:class:`context.TaskContext`, so the source is discovered once per run.

A run that fails or is killed keeps what it staged. Running the same pipeline again (same
spec, unchanged files), or ``--resume RUN_ID``, continues that run: tables whose checkpoint
matches are not read again, the rest are loaded, and the commit makes them all visible.
"""

from __future__ import annotations

import json
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents import coordinator_for
from ..agents.bus import MessageBus, dlq_sink
from ..agents.monitor import MonitorAgent
from ..agents.orchestrator import OrchestrateWork, orchestrate_need
from ..engine import COMMIT, Event, EventBus, Executor, RunInterrupted, RunResult, table_of
from ..secrets import redact
from ..spec import PipelineSpec, validate_spec
from ..state import RunRecord, StateStore
from .context import TaskContext, executor_config, finish_run, is_final, scrub
from .planner import PipelinePlan, plan_pipeline, spec_hash
from .recall import Recall
from .routing import route_workflow
from .task import run_task

RUN = "run"  # the task id of a run's own decisions (the orchestrator's)
RUN_FINISHED = "run.finished"  # the agent-bus topic of a run's result, once it is recorded


@dataclass
class RunOptions:
    """How to run, beyond the spec itself."""

    home: Path
    base_dir: Path = field(default_factory=Path.cwd)
    run_id: str | None = None  # resume this run
    fresh: bool = False  # do not resume an unfinished run of the same pipeline
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    fail_fast: bool = False
    workers_given: bool = False  # set by the user: memory never overrides it


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def stored_spec(record: RunRecord | None, run_id: str) -> PipelineSpec:
    """The spec a run was started with, as the history keeps it (passwords masked)."""
    from ..errors import UserError

    if record is None or not record.spec_json:
        raise UserError(f"no run matches {run_id!r}; list runs with 'aoetl runs'")
    return validate_spec(json.loads(record.spec_json))


def spec_of_run(store: StateStore, run_id: str) -> tuple[str, PipelineSpec]:
    """The full id and the spec of an earlier run, for --resume."""
    record = store.find_run(run_id)
    spec = stored_spec(record, run_id)
    assert record is not None
    return record.run_id, spec


def run_pipeline(spec: PipelineSpec, options: RunOptions, bus: EventBus | None = None) -> RunResult:
    """Run ``spec`` end to end. Never raises for a failed run: the result says what failed."""
    bus = bus or EventBus()
    bus.scrub = scrub
    store = StateStore(options.home)
    MonitorAgent(store).attach(bus)
    digest = spec_hash(spec)
    run_id, notes = options.run_id, list[str]()
    resumed: str | None = "" if options.run_id else None
    if run_id is None and not options.fresh:
        previous = store.resumable_run(spec.name, digest)
        if previous is not None:
            run_id, resumed = previous.run_id, previous.status
    run_id = run_id or new_run_id()
    started = time.perf_counter()
    store.start_run(
        run_id, spec.name, spec.target.uri, spec_json=spec.model_dump_json(), spec_hash=digest
    )
    bus.publish(Event("run_started", run_id, data={"pipeline": spec.name}))
    result = RunResult(run_id, spec.name, "failed", 0.0, notes=notes)
    status = "failed"
    coordinator = coordinator_for(store)
    recall = Recall(store, spec, options)
    # Agents tell each other what happened on this bus; a failing listener's message goes to
    # the DLQ and never fails the run.
    messages = MessageBus(sink=dlq_sink(store, run_id))
    messages.subscribe(RUN_FINISHED, lambda m: recall.remember(m.payload), name="memory")

    def plan() -> PipelinePlan:
        return plan_pipeline(
            spec, home=options.home, bus=bus, run_id=run_id, coordinator=coordinator
        )

    def execute(planned: PipelinePlan) -> None:
        result.notes.extend(planned.notes)
        context = TaskContext.open(
            planned,
            run_id,
            home=options.home,
            base_dir=options.base_dir,
            bus=bus,
            store=store,
            coordinator=coordinator,
        )
        try:
            _execute(context, options, result, resumed)
        finally:
            result.notes.extend(context.warnings)
            context.close()

    try:
        coordinator.dispatch(
            orchestrate_need(str(spec.source.kind)),
            OrchestrateWork(
                run_id,
                RUN,
                plan=plan,
                route=_closing(lambda p: route_workflow(p, store, run_id)),
                recall=_closing(lambda p: recall.consult(p, run_id)),
                execute=execute,
            ),
        )
        status = "success"
    except RunInterrupted as exc:
        result.fail(exc)
        status = "interrupted"
    except Exception as exc:  # a failed run is still a recorded one
        result.fail(exc, redact(traceback.format_exc()))
    result.status = status
    result.duration_s = time.perf_counter() - started
    coordinator.flush()  # the audit is complete when the run's record says it ended
    finish_run(store, bus, result)
    with messages:  # closing drains: memory has the run before the result is returned
        messages.publish(RUN_FINISHED, result, sender="orchestrator")
    return result


def _closing(move: Callable[[PipelinePlan], PipelinePlan]) -> Callable[[Any], Any]:
    """``move``, closing the planned source when it fails (nothing else will)."""

    def guarded(planned: PipelinePlan) -> PipelinePlan:
        try:
            return move(planned)
        except BaseException:
            planned.source.close()
            raise

    return guarded


def _execute(
    context: TaskContext, options: RunOptions, result: RunResult, resumed: str | None
) -> None:
    """Run every task of the plan through :func:`run_task`, sharing the open ``context``.

    ``resumed`` is the status of the earlier run this one continues.
    """
    run_id, destination = context.run_id, context.destination
    if context.committed:
        result.notes.append(f"run {run_id} was already committed; nothing to do")
        return
    if resumed is not None and context.checkpoints:
        staged = len(context.checkpoints)
        result.notes.append(
            f"resuming run {run_id}{f' ({resumed})' if resumed else ''}: "
            f"{staged} table{'' if staged == 1 else 's'} staged before "
            f"{'is' if staged == 1 else 'are'} not read again"
        )
    spec = context.spec
    config = executor_config(spec, workers=options.workers, fail_fast=options.fail_fast)
    outcomes = Executor(context.bus, run_id, config).run(
        context.planned.plan,
        lambda task, token: run_task(
            spec, task.id, run_id, home=options.home, context=context, token=token
        ),
    )
    for task_id, outcome in outcomes.items():
        table = table_of(task_id)
        if outcome.status == "failed" and table is not None:
            context.dead_letter_task(task_id, table, outcome.error)
    commit = outcomes.get(COMMIT)
    committed = commit is not None and commit.status == "success"
    result.tables = context.table_results(committed)
    failed = [o for o in outcomes.values() if o.status == "failed"]
    if failed and failed[0].error is not None:
        if not committed and is_final(failed[0].error):
            # A rerun would fail the same way (a step that cannot bind, a bad key or
            # input): nothing of this run is worth resuming, so none of it stays.
            destination.discard()
        raise failed[0].error
