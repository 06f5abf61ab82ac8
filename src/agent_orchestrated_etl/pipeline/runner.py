"""Run one pipeline, exactly once: plan, stage each table with a checkpoint, commit once.

``dispatch`` is the one place that turns a Task into connector calls; the Coordinator of the
agents feature takes it over later without changing the Executor.

A run that fails or is killed keeps what it staged. Running the same pipeline again (same
spec, unchanged files), or ``--resume RUN_ID``, continues that run: tables whose checkpoint
matches are not read again, the rest are loaded, and the commit makes them all visible.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents.monitor import MonitorAgent
from ..connectors import (
    BadRow,
    Checkpoint,
    Destination,
    LoadResult,
    Relation,
    Resource,
    StagedTable,
    destination_for,
)
from ..engine import (
    CancelToken,
    Event,
    EventBus,
    Executor,
    ExecutorConfig,
    RunInterrupted,
    RunResult,
    TableResult,
    Task,
    TaskCancelled,
)
from ..errors import (
    AoetlError,
    MostlyRejectedError,
    NotSupportedError,
    TooManyBadRowsError,
    UserError,
)
from ..secrets import redact, redact_obj
from ..spec import PipelineSpec, validate_spec
from ..state import DlqEntry, StateStore
from ..transform import apply_steps
from .incremental import cursor_filter, incremental_for, with_mark
from .planner import PipelinePlan, plan_pipeline, spec_hash


@dataclass
class RunOptions:
    """How to run, beyond the spec itself."""

    home: Path
    base_dir: Path = field(default_factory=Path.cwd)
    run_id: str | None = None  # resume this run
    fresh: bool = False  # do not resume an unfinished run of the same pipeline
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    fail_fast: bool = False


log = logging.getLogger("aoetl.run")


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def spec_of_run(store: StateStore, run_id: str) -> tuple[str, PipelineSpec]:
    """The full id and the spec of an earlier run, for --resume."""
    record = store.find_run(run_id)
    if record is None or not record.spec_json:
        raise UserError(f"no run matches {run_id!r}; list runs with 'aoetl runs'")
    return record.run_id, validate_spec(json.loads(record.spec_json))


def run_pipeline(spec: PipelineSpec, options: RunOptions, bus: EventBus | None = None) -> RunResult:
    """Run ``spec`` end to end. Never raises for a failed run: the result says what failed."""
    bus = bus or EventBus()
    bus.scrub = _scrub
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
    try:
        planned = plan_pipeline(spec)
        result.notes.extend(planned.notes)
        _Run(planned, options, bus, store, run_id, result).execute(resumed)
        status = "success"
    except RunInterrupted as exc:
        result.error, result.exit_code, status = str(exc), exc.exit_code, "interrupted"
    except AoetlError as exc:
        result.error, result.exit_code = str(exc), exc.exit_code
        result.traceback = redact(traceback.format_exc())
    except Exception as exc:  # an unexpected failure is still a recorded, failed run
        result.error, result.exit_code = f"{type(exc).__name__}: {exc}", 1
        result.traceback = redact(traceback.format_exc())
    result.status = status
    result.duration_s = time.perf_counter() - started
    if result.error is not None:
        result.error = redact(result.error)
    store.finish_run(
        run_id,
        status=status,
        duration_s=result.duration_s,
        rows_loaded=result.rows_loaded,
        rows_rejected=result.rows_rejected,
        error=result.error,
        result=redact_obj(result.to_dict()),
    )
    bus.publish(Event("run_finished", run_id, data=result.to_dict()))
    return result


class _Run:
    """One execution of a planned pipeline against its destination."""

    def __init__(
        self,
        planned: PipelinePlan,
        options: RunOptions,
        bus: EventBus,
        store: StateStore,
        run_id: str,
        result: RunResult,
    ) -> None:
        self.planned, self.options, self.bus, self.store = planned, options, bus, store
        self.run_id, self.result = run_id, result
        self.spec = planned.spec
        self.destination: Destination = destination_for(self.spec.target, home=options.home)
        self.loads: dict[str, LoadResult] = {}
        self.durations: dict[str, float] = {}
        self.checkpoints: dict[str, Checkpoint] = {}

    def execute(self, resumed: str | None = None) -> None:
        """Run the plan; ``resumed`` is the status of the earlier run this one continues."""
        spec, destination = self.spec, self.destination
        destination.begin(self.run_id, spec.name)
        try:
            validate = getattr(destination, "validate_table", None)
            if validate is not None:
                for resource in self.planned.resources:
                    validate(resource.name)  # every name at once, before any table is written
            if destination.committed():
                self.result.notes.append(f"run {self.run_id} was already committed; nothing to do")
                return
            self.checkpoints = destination.checkpoints()
            if resumed is not None and self.checkpoints:
                staged = len(self.checkpoints)
                self.result.notes.append(
                    f"resuming run {self.run_id}{f' ({resumed})' if resumed else ''}: "
                    f"{staged} table{'' if staged == 1 else 's'} staged before "
                    f"{'is' if staged == 1 else 'are'} not read again"
                )
            outcomes = Executor(self.bus, self.run_id, self._config()).run(
                self.planned.plan, self.dispatch
            )
            for task_id, outcome in outcomes.items():
                if outcome.status == "failed" and task_id.startswith("load:"):
                    self._dead_letter_task(task_id, outcome.error)
            committed = (
                outcomes.get("commit") is not None and outcomes["commit"].status == "success"
            )
            self._fill_result(committed)
            failed = [o for o in outcomes.values() if o.status == "failed"]
            if failed and failed[0].error is not None:
                if not committed and _final(failed[0].error):
                    # A rerun would fail the same way (a step that cannot bind, a bad key or
                    # input): nothing of this run is worth resuming, so none of it stays.
                    destination.discard()
                raise failed[0].error
        finally:
            destination.close()
            close_source = getattr(self.planned.source, "close", None)
            if close_source is not None:  # database sources hold a connection from discovery
                close_source()

    def _config(self) -> ExecutorConfig:
        spec = self.spec
        task_retry, task_timeout = {}, {}
        for name, opts in spec.tasks.items():
            task_id = name if ":" in name or name == "commit" else f"load:{name}"
            if opts.retries is not None:
                task_retry[task_id] = opts.retries
            if opts.timeout_s is not None:
                task_timeout[task_id] = opts.timeout_s
        return ExecutorConfig(
            workers=self.options.workers,
            fail_fast=self.options.fail_fast,
            retry=spec.retries,
            timeout_s=spec.timeout_s,
            breaker=spec.breaker,
            task_retry=task_retry,
            task_timeout=task_timeout,
        )

    # -- dispatch: the one place a Task becomes connector calls ------------------------------
    def dispatch(self, task: Task, token: CancelToken) -> Any:
        if task.action == "load":
            return self._load(task.params["resource"], task, token)
        if task.action == "commit":
            return self._commit(token)
        raise NotSupportedError(f"no handler for task action {task.action!r}")

    def _load(self, resource: Resource, task: Task, token: CancelToken) -> LoadResult:
        fingerprint = self.planned.fingerprints[resource.name]
        inc = incremental_for(self.spec, resource.name)
        last = self.destination.cursor(resource.name) if inc is not None else None
        if inc is not None:
            fingerprint = with_mark(fingerprint, last)
        done = self.checkpoints.get(resource.name)
        if done is not None and done.fingerprint == fingerprint:
            self.bus.publish(Event("task_resumed", self.run_id, task.id, {"rows": done.rows}))
            loaded = LoadResult(resource.name, self.destination.display, done.rows)
            self.loads[resource.name] = loaded
            return loaded
        started = time.perf_counter()
        log.debug("loading %s from %s", resource.name, ", ".join(resource.locations))
        where = cursor_filter(resource, inc, last) if inc is not None else None
        relation = self.planned.source.relation(resource, where)
        relation = apply_steps(relation, self.spec.transforms, base_dir=self.options.base_dir)
        context = resource.context()

        def record_bad(rows: list[BadRow]) -> None:
            self.store.add_dlq(
                self.run_id,
                (
                    DlqEntry(
                        b.table,
                        b.file,
                        b.line,
                        redact(b.reason),
                        b.redacted_raw(),
                        context=context,
                    )
                    for b in rows
                ),
            )

        def write(relation: Relation) -> LoadResult:
            with _ProgressPoller(
                self.destination, self.bus, self.run_id, task.id, resource.row_estimate, relation
            ):
                return self.destination.write(
                    resource.name,
                    relation,
                    mode=self.spec.mode,
                    key=self.spec.key,
                    fingerprint=fingerprint,
                    record_bad=record_bad,
                    on_cancel=token.on_cancel,
                    cursor_column=inc.cursor if inc is not None else None,
                )

        try:
            loaded = write(relation)
        except AoetlError as exc:
            # A source may repair what stopped the engine (a line over max_line_size), with
            # the lines it had to leave out quarantined; it is tried once.
            recover = getattr(self.planned.source, "recover", None)
            repaired = recover(resource, exc) if recover is not None else None
            if repaired is None:
                raise
            log.debug("retrying %s after the source repaired its input: %s", resource.name, exc)
            loaded = write(
                apply_steps(repaired, self.spec.transforms, base_dir=self.options.base_dir)
            )
        token.check()
        log.debug(
            "staged %s: %d rows, %d rejected",
            resource.name,
            loaded.rows_loaded,
            len(loaded.bad_rows),
        )
        self.loads[resource.name] = loaded
        self.durations[resource.name] = time.perf_counter() - started
        self.bus.publish(
            Event("progress", self.run_id, task.id, {"fraction": 1.0, "rows": loaded.rows_loaded})
        )
        return loaded

    def _commit(self, token: CancelToken) -> dict[str, int]:
        token.check()
        self.checkpoints = self.destination.checkpoints()
        rejected = sum(c.bad_rows for c in self.checkpoints.values())
        if self.spec.max_bad_rows is not None and rejected > self.spec.max_bad_rows:
            self.destination.discard()  # this run is over: nothing of it may load later
            raise TooManyBadRowsError(rejected, self.spec.max_bad_rows, run_id=self.run_id)
        for resource in self.planned.resources:
            check = self.checkpoints.get(resource.name)
            if check is None or not check.bad_rows:
                continue
            share = check.bad_rows / (check.rows + check.bad_rows)
            if share > self.spec.max_bad_ratio:
                self.destination.discard()
                raise MostlyRejectedError(
                    resource.name,
                    check.bad_rows,
                    check.rows + check.bad_rows,
                    self.spec.max_bad_ratio,
                    resource.assumed(),
                    self.run_id,
                )
        staged = [
            StagedTable(r.name, self.spec.mode, self.spec.key) for r in self.planned.resources
        ]
        return self.destination.commit(staged)

    # -- results and dead letters -------------------------------------------------------------
    def _fill_result(self, committed: bool) -> None:
        for resource in self.planned.resources:
            name = resource.name
            loaded = self.loads.get(name)
            check = self.checkpoints.get(name)
            if loaded is None:
                continue
            bad = check.bad_rows if check is not None else len(loaded.bad_rows)
            staged = check.rows if check is not None else loaded.rows_loaded
            self.result.tables[name] = TableResult(
                staged if committed else 0,
                bad,
                f"{self.destination.display}#{name}",
                loaded.fused,
                loaded.columns_added,
                loaded.columns_widened,
                self.durations.get(name, 0.0),
                staged + bad,
            )

    def _dead_letter_task(self, task_id: str, error: BaseException | None) -> None:
        table = task_id.removeprefix("load:")
        payload = json.dumps({"run_id": self.run_id, "task": task_id})
        self.store.add_dlq(
            self.run_id,
            [DlqEntry(table, None, None, redact(str(error)), payload, kind="task")],
        )


def _final(error: BaseException) -> bool:
    """Whether a failure would repeat on a rerun of the same spec and input: bad input or
    usage. A timeout, an outage, a refused permission or a cancel keep their staging: once
    the cause is fixed outside aoetl, the rerun resumes from it."""
    return isinstance(error, UserError) and not isinstance(error, TaskCancelled)


def _scrub(event: Event) -> Event:
    """Events leave the process through sinks: mask any secret value in them."""
    return Event(event.kind, event.run_id, event.task_id, redact_obj(event.data), event.at)


class _ProgressPoller:
    """Publishes a load's progress as events, every 0.2 s while it runs.

    Rows that stream in from a driver (ADBC, SQLAlchemy) are counted as they pass, against
    discovery's row estimate; otherwise the engine's own progress is read from the destination.
    """

    def __init__(
        self,
        destination: Destination,
        bus: EventBus,
        run_id: str,
        task_id: str,
        estimate: int | None = None,
        relation: Relation | None = None,
    ) -> None:
        self._probe = getattr(destination, "progress", None)
        self._estimate = estimate
        self._rows_read = relation.rows_read if relation is not None else None
        self._bus, self._run_id, self._task_id = bus, run_id, task_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _ProgressPoller:
        if self._probe is not None or self._rows_read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            data = self._streamed() if self._rows_read is not None else self._engine()
            if data is not None:
                self._bus.publish(Event("progress", self._run_id, self._task_id, data))

    def _streamed(self) -> dict[str, Any]:
        assert self._rows_read is not None
        rows = self._rows_read[0]
        # An estimate can be low: hold the bar short of full until the load says it is done.
        fraction = min(rows / self._estimate, 0.99) if self._estimate else 0.0
        return {"fraction": fraction, "rows": rows}

    def _engine(self) -> dict[str, Any] | None:
        assert self._probe is not None
        fraction = self._probe()
        if fraction < 0:
            return None
        data: dict[str, Any] = {"fraction": fraction}
        if self._estimate:
            data["rows_estimate"] = int(fraction * self._estimate)
        return data
