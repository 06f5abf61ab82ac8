"""What the tasks of one run share: the planned source, the destination begun for the run,
the state store and the event bus; and how a run is recorded when it ends.

The in-process runner opens one :class:`TaskContext` for all the tasks of a run, so the source
is discovered once; :func:`task.run_task` alone opens its own for its one task.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..agents import Coordinator, coordinator_for
from ..connectors import Checkpoint, Destination, LoadResult
from ..engine import Event, EventBus, ExecutorConfig, RunResult, TableResult, TaskCancelled
from ..engine import task_id_for as _task_id
from ..errors import UserError
from ..secrets import redact, redact_obj
from ..spec import PipelineSpec, RetrySpec
from ..state import DlqEntry, StateStore
from .connect import open_destination
from .planner import PipelinePlan

# A run id names folders and files in targets: one path component, no hidden name.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if a target can hold it (Airflow's run ids can), else a UserError."""
    if not _RUN_ID.fullmatch(run_id):
        raise UserError(
            f"run id {run_id[:80]!r} cannot be used: give 1 to 200 letters, digits or "
            "_ . : + -, starting with a letter or a digit"
        )
    return run_id


@dataclass
class TaskContext:
    """An open run: what its tasks read from and write to, and what they did so far."""

    planned: PipelinePlan
    run_id: str
    home: Path
    base_dir: Path
    bus: EventBus
    store: StateStore
    destination: Destination
    committed: bool = False  # the run was committed before this context opened
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    loads: dict[str, LoadResult] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    # What a source warned of while it read (a column widened across REST pages), in the
    # order it came: each is published as a 'warning' event and ends in the run's notes.
    warnings: list[str] = field(default_factory=list)
    # Picks the agent for every step of every task, and audits each choice.
    coordinator: Coordinator = field(default_factory=coordinator_for)

    @property
    def spec(self) -> PipelineSpec:
        return self.planned.spec

    @classmethod
    def open(
        cls,
        planned: PipelinePlan,
        run_id: str,
        *,
        home: Path,
        base_dir: Path,
        bus: EventBus,
        store: StateStore,
        coordinator: Coordinator | None = None,
    ) -> TaskContext:
        """Begin ``run_id`` on the destination; on failure the planned source is closed too."""
        try:
            destination = open_destination(planned.spec, run_id, home=home, bus=bus)
        except BaseException:
            planned.source.close()
            raise
        context = cls(planned, run_id, home, base_dir, bus, store, destination)
        if coordinator is not None:
            context.coordinator = coordinator
        try:
            validate = getattr(destination, "validate_table", None)
            if validate is not None:
                for resource in planned.resources:
                    validate(resource.name)  # every name at once, before any table is written
            context.committed = destination.committed()
            if not context.committed:
                context.checkpoints = destination.checkpoints()
        except BaseException:
            context.close()
            raise
        return context

    def close(self) -> None:
        try:
            self.destination.close()
        finally:
            self.planned.source.close()  # database sources hold a connection from discovery

    def table_results(self, committed: bool, *, staged: bool = False) -> dict[str, TableResult]:
        """Each table's result: of the tables loaded in this process, or with ``staged`` of
        every table this run staged (its loads ran in other processes)."""
        results = {}
        for resource in self.planned.resources:
            found = self.table_result(resource.name, committed, staged=staged)
            if found is not None:
                results[resource.name] = found
        return results

    def table_result(
        self, name: str, committed: bool, *, staged: bool = False
    ) -> TableResult | None:
        """One table's result; rows count as loaded once ``committed``."""
        loaded = self.loads.get(name)
        check = self.checkpoints.get(name)
        if loaded is None and (not staged or check is None):
            return None
        bad = check.bad_rows if check is not None else len(loaded.bad_rows if loaded else [])
        rows = check.rows if check is not None else (loaded.rows_loaded if loaded else 0)
        return TableResult(
            rows if committed else 0,
            bad,
            f"{self.destination.display}#{name}",
            loaded.fused if loaded else False,
            loaded.columns_added if loaded else (),
            loaded.columns_widened if loaded else (),
            self.durations.get(name, 0.0),
            rows + bad,
        )

    def dead_letter_task(self, task_id: str, table: str, error: BaseException | None) -> None:
        """Record a load task that failed for good, so ``aoetl dlq`` lists it."""
        payload = json.dumps({"run_id": self.run_id, "task": task_id})
        self.store.add_dlq(
            self.run_id,
            [DlqEntry(table, None, None, redact(str(error)), payload, kind="task")],
        )


def executor_config(spec: PipelineSpec, *, workers: int, fail_fast: bool) -> ExecutorConfig:
    """How the Executor runs a spec's tasks: its retries, time limits and breaker, and the
    per-task overrides of ``tasks:`` (keyed by table name or task id)."""
    task_retry: dict[str, RetrySpec] = {}
    task_timeout: dict[str, float] = {}
    for name, opts in spec.tasks.items():
        task_id = _task_id(name)
        if opts.retries is not None:
            task_retry[task_id] = opts.retries
        if opts.timeout_s is not None:
            task_timeout[task_id] = opts.timeout_s
    return ExecutorConfig(
        workers=workers,
        fail_fast=fail_fast,
        retry=spec.retries,
        timeout_s=spec.timeout_s,
        breaker=spec.breaker,
        task_retry=task_retry,
        task_timeout=task_timeout,
    )


def run_quality(store: StateStore, result: RunResult) -> None:
    """Fill ``result``'s check results and quality scores from what the run stored (its tasks
    may have run in other processes)."""
    if not result.checks:
        result.checks = store.quality.check_results(result.run_id)
    if not result.quality:
        for record in store.quality.run_profiles(result.run_id):
            if record.score_detail is not None:
                result.quality[record.table] = record.score_detail


def finish_run(store: StateStore, bus: EventBus, result: RunResult) -> None:
    """Record how the run ended (masked), with its checks and scores, and say so on the bus."""
    run_quality(store, result)
    if result.error is not None:
        result.error = redact(result.error)
    store.finish_run(
        result.run_id,
        status=result.status,
        duration_s=result.duration_s,
        rows_loaded=result.rows_loaded,
        rows_rejected=result.rows_rejected,
        error=result.error,
        result=redact_obj(result.to_dict()),
    )
    bus.publish(Event("run_finished", result.run_id, data=result.to_dict()))


def is_final(error: BaseException) -> bool:
    """Whether a failure would repeat on a rerun of the same spec and input: bad input or
    usage. A timeout, an outage, a refused permission or a cancel keep their staging: once
    the cause is fixed outside aoetl, the rerun resumes from it."""
    return isinstance(error, UserError) and not isinstance(error, TaskCancelled)


def scrub(event: Event) -> Event:
    """Events leave the process through sinks: mask any secret value in them."""
    return Event(event.kind, event.run_id, event.task_id, redact_obj(event.data), event.at)
