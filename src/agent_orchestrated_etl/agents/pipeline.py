"""Plan and run one pipeline: discover the source, build the Plan, execute it, record the run.

``dispatch`` is the one place that turns a Task into connector calls; the Coordinator of the
agents feature takes it over later without changing the Executor.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..connectors import Destination, LoadResult, Resource, Source, destination_for, source_for
from ..engine import Event, EventBus, Executor, Plan, RunResult, TableResult, Task
from ..errors import AoetlError, NotSupportedError, TooManyBadRowsError
from ..spec import PipelineSpec
from ..state import DlqEntry, StateStore
from ..transform import apply_steps, describe_step


@dataclass
class RunOptions:
    """How to run, beyond the spec itself."""

    home: Path
    base_dir: Path = field(default_factory=Path.cwd)
    run_id: str | None = None


@dataclass
class PipelinePlan:
    """What the planner decided: the resources, the tasks, and why."""

    spec: PipelineSpec
    source: Source
    resources: list[Resource]
    plan: Plan
    notes: list[str]


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def plan_pipeline(spec: PipelineSpec) -> PipelinePlan:
    """Discover the source and build the Plan: one load task per resource, then one commit."""
    if spec.checks:
        raise NotSupportedError(
            "checks are declared but this version of aoetl cannot run them yet; "
            "remove 'checks' from the pipeline to load without them"
        )
    source = source_for(spec.source)
    resources = source.discover()
    steps = [describe_step(s) for s in spec.transforms]
    fused = not any("python" in type(s).model_fields for s in spec.transforms)
    tasks = [
        Task(
            f"load:{r.name}",
            "load",
            params={"resource": r},
            description=f"{r.format} {len(r.locations)} file(s) -> {r.name} ({spec.mode})"
            + (f" via {len(steps)} step(s)" if steps else "")
            + (" [one DuckDB statement]" if fused else " [streamed through Python]"),
        )
        for r in resources
    ]
    tasks.append(
        Task("commit", "commit", tuple(t.id for t in tasks), description="commit all tables")
    )
    notes = list(getattr(source, "notes", []))
    return PipelinePlan(spec, source, resources, Plan(tasks), notes)


def run_pipeline(spec: PipelineSpec, options: RunOptions, bus: EventBus | None = None) -> RunResult:
    """Run ``spec`` end to end. Never raises for a failed run: the result says what failed."""
    bus = bus or EventBus()
    run_id = options.run_id or new_run_id()
    store = StateStore(options.home)
    started = time.perf_counter()
    store.start_run(run_id, spec.name, spec.target.uri)
    bus.publish(Event("run_started", run_id, data={"pipeline": spec.name}))
    result = RunResult(run_id, spec.name, "failed", 0.0)
    bad: list[DlqEntry] = []
    try:
        planned = plan_pipeline(spec)
        result.notes = planned.notes
        destination = destination_for(spec.target, home=options.home)
        _execute(planned, destination, options, bus, run_id, result, bad)
    except AoetlError as exc:
        result.error, result.exit_code = str(exc), exc.exit_code
    except Exception as exc:  # an unexpected failure is still a recorded, failed run
        result.error, result.exit_code = f"{type(exc).__name__}: {exc}", 1
    result.duration_s = time.perf_counter() - started
    if result.error is None:
        result.status = "success"
    store.add_dlq(run_id, bad)
    store.finish_run(
        run_id,
        status=result.status,
        duration_s=result.duration_s,
        rows_loaded=result.rows_loaded,
        rows_rejected=len(bad),
        error=result.error,
        result=result.to_dict(),
    )
    bus.publish(Event("run_finished", run_id, data=result.to_dict()))
    return result


def _execute(
    planned: PipelinePlan,
    destination: Destination,
    options: RunOptions,
    bus: EventBus,
    run_id: str,
    result: RunResult,
    bad: list[DlqEntry],
) -> None:
    spec = planned.spec
    loads: dict[str, LoadResult] = {}
    durations: dict[str, float] = {}

    def dispatch(task: Task) -> Any:
        if task.action == "load":
            resource: Resource = task.params["resource"]
            started = time.perf_counter()
            relation = planned.source.relation(resource)
            relation = apply_steps(relation, spec.transforms, base_dir=options.base_dir)
            with _ProgressPoller(destination, bus, run_id, task.id):
                loaded = destination.write(resource.name, relation, mode=spec.mode, key=spec.key)
            loaded.bad_rows = relation.bad_rows()
            loads[resource.name] = loaded
            durations[resource.name] = time.perf_counter() - started
            bus.publish(
                Event("progress", run_id, task.id, {"fraction": 1.0, "rows": loaded.rows_loaded})
            )
            return loaded
        if task.action == "commit":
            rejected = sum(len(r.bad_rows) for r in loads.values())
            if spec.max_bad_rows is not None and rejected > spec.max_bad_rows:
                raise TooManyBadRowsError(rejected, spec.max_bad_rows)
            destination.commit()
            return None
        raise NotSupportedError(f"no handler for task action {task.action!r}")

    committed = False
    destination.begin(run_id)
    try:
        outcomes = Executor(bus, run_id, spec.retries).run(planned.plan, dispatch)
        committed = outcomes["commit"].status == "success"
    finally:
        if not committed:
            destination.abort()
        for loaded in loads.values():
            bad.extend(DlqEntry(b.table, b.file, b.line, b.reason, b.raw) for b in loaded.bad_rows)
            result.tables[loaded.table] = TableResult(
                loaded.rows_loaded if committed else 0,
                len(loaded.bad_rows),
                f"{loaded.target}#{loaded.table}",
                loaded.fused,
                loaded.columns_added,
                loaded.columns_widened,
                durations.get(loaded.table, 0.0),
            )
    failed = [o for o in outcomes.values() if o.status == "failed"]
    if failed:
        first = failed[0].error
        assert first is not None
        raise first


class _ProgressPoller:
    """Polls the destination's engine for progress while a load runs, as events."""

    def __init__(self, destination: Destination, bus: EventBus, run_id: str, task_id: str) -> None:
        self._probe = getattr(destination, "progress", None)
        self._bus, self._run_id, self._task_id = bus, run_id, task_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _ProgressPoller:
        if self._probe is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            assert self._probe is not None
            fraction = self._probe()
            if fraction >= 0:
                self._bus.publish(
                    Event("progress", self._run_id, self._task_id, {"fraction": fraction})
                )
