"""The work of each action of a task, step by step through the agents: a load (extract,
transform, route, quarantine, stage), and the commit. :mod:`.task` calls these with the open
:class:`~.context.TaskContext` of a run.
"""

from __future__ import annotations

import logging
import threading
import time

from ..agents.work import (
    CommitWork,
    ExtractWork,
    LoadWork,
    QuarantineWork,
    TransformWork,
    commit_need,
    extract_need,
    load_need,
    quarantine_need,
    transform_need,
)
from ..connectors import BadRow, LoadResult, Relation, StagedTable
from ..connectors.files import FORMATS as FILE_FORMATS
from ..engine import (
    COMMIT,
    CancelToken,
    Event,
    Task,
)
from ..errors import (
    AoetlError,
    MostlyRejectedError,
    TooManyBadRowsError,
)
from ..secrets import redact
from ..spec import OBJECT_COLUMNS
from ..state import DlqEntry
from ..transform import apply_steps
from ._progress import ProgressPoller
from .checking import (
    dlq_context,
    quarantine_checks,
    quarantined,
    quarantined_by_checks,
    validate_staged_columns,
)
from .context import (
    TaskContext,
)
from .incremental import cursor_filter, incremental_for, with_mark
from .planner import table_key, table_mode
from .routing import audit_staged, reading, route_only, route_rows

log = logging.getLogger("aoetl.run")
_WARNINGS = threading.Lock()


def load_table(context: TaskContext, task: Task, table: str, token: CancelToken) -> LoadResult:
    spec, destination, run_id = context.spec, context.destination, context.run_id
    resource = context.planned.resource(table)
    fingerprint = context.planned.fingerprints[table]
    # A table that follows another's cursor (a REST resource's nested table) is read past
    # that table's committed mark, and keeps no mark of its own.
    marked = resource.follows or table
    inc = incremental_for(spec, marked)
    last = destination.cursor(marked) if inc is not None else None
    if inc is not None:
        fingerprint = with_mark(fingerprint, last)
    done = context.checkpoints.get(table)
    if done is not None and done.fingerprint == fingerprint:
        context.bus.publish(Event("task_resumed", run_id, task.id, {"rows": done.rows}))
        loaded = LoadResult(table, destination.display, done.rows)
        context.loads[table] = loaded
        return loaded
    started = time.perf_counter()
    log.debug("loading %s from %s", table, ", ".join(resource.locations))
    source = context.planned.source
    marker = context.planned.resource(marked)
    where = cursor_filter(marker, inc, last) if inc is not None else None
    noted = len(source.notes)
    agents = context.coordinator

    def extracted() -> Relation:  # a routed table reads its source table's resource
        relation: Relation = agents.dispatch(
            extract_need(spec, resource, incremental=inc is not None),
            ExtractWork(run_id, task.id, source, reading(context.planned, resource), where),
            lazy=True,
        )
        return _transformed(context, task.id, relation)

    def reread() -> Relation:  # for a routed table's unroutable count, not an agent's work
        plain = source.relation(reading(context.planned, resource), where)
        steps, base_dir, home = spec.transforms, context.base_dir, context.home
        return apply_steps(plain, steps, base_dir=base_dir, home=home) if steps else plain

    relation = route_rows(context, table, extracted(), reread, lambda w: _warn(context, w))
    validate_staged_columns(context, table, relation)
    dead_context = resource.context()

    def record_bad(rows: list[BadRow]) -> None:
        context.store.add_dlq(
            run_id,
            (
                DlqEntry(
                    b.table, b.file, b.line, redact(b.reason), b.redacted_raw(),
                    context=dlq_context(b.file, dead_context),
                )
                for b in rows
            ),
        )  # fmt: skip

    def write(relation: Relation) -> LoadResult:
        if quarantine_checks(spec, table):  # only these tables leave the fused path
            loaded: LoadResult = agents.dispatch(
                quarantine_need(spec, resource),
                QuarantineWork(
                    run_id,
                    task.id,
                    table,
                    relation,
                    split=lambda r: quarantined(context, task.id, table, r, token.on_cancel),
                    stage=stage,
                ),
            )
            return loaded
        return stage(relation)

    def stage(relation: Relation) -> LoadResult:
        mode = table_mode(spec, table)
        loaded: LoadResult = agents.dispatch(
            load_need(spec, mode),
            LoadWork(
                run_id,
                task.id,
                destination,
                table,
                relation,
                mode=mode,
                key=table_key(spec, resource),
                fingerprint=fingerprint,
                record_bad=record_bad,
                on_cancel=token.on_cancel,
                cursor_column=inc.cursor if inc is not None and not resource.follows else None,
                watch=lambda: ProgressPoller(
                    destination, context.bus, run_id, task.id, resource.row_estimate, relation
                ),
            ),
        )
        return loaded

    try:
        loaded = write(relation)
    except AoetlError as exc:
        # A source may repair what stopped the engine (a line over max_line_size), with
        # the lines it had to leave out quarantined; it is tried once.
        recover = getattr(source, "recover", None)
        repaired = recover(resource, exc) if recover is not None else None
        if repaired is None:
            raise
        log.debug("retrying %s after the source repaired its input: %s", table, exc)
        loaded = write(route_only(context, table, _transformed(context, task.id, repaired)))
    token.check()
    audit_staged(context, table, loaded.rows_loaded)
    with _WARNINGS:  # tasks beside this one read the same source's notes
        fresh = [w for w in dict.fromkeys(source.notes[noted:]) if w not in context.warnings]
        context.warnings.extend(fresh)
    for warning in fresh:  # what reading it found (a widened column)
        context.bus.publish(Event("warning", run_id, task.id, {"message": warning}))
    log.debug("staged %s: %d rows, %d rejected", table, loaded.rows_loaded, len(loaded.bad_rows))
    context.loads[table] = loaded
    context.durations[table] = time.perf_counter() - started
    context.bus.publish(
        Event("progress", run_id, task.id, {"fraction": 1.0, "rows": loaded.rows_loaded})
    )
    return loaded


def _warn(context: TaskContext, warning: str) -> None:
    with _WARNINGS:
        if warning not in context.warnings:
            context.warnings.append(warning)


def _transformed(context: TaskContext, task_id: str, relation: Relation) -> Relation:
    """``relation`` through the spec's transform steps, by the agent chosen for them."""
    steps = context.spec.transforms
    if not steps:
        return relation
    work = TransformWork(context.run_id, task_id, relation, steps, context.base_dir, context.home)
    transformed: Relation = context.coordinator.dispatch(transform_need(steps), work, lazy=True)
    return transformed


def _filtered_by_mark(context: TaskContext, table: str) -> bool:
    """Whether ``table`` was read past a row cursor's mark: its files were read whole, so a
    bad record rejected in them is as likely behind the mark as past it, and a share of
    rejects against the rows past it says nothing (a run with nothing new would fail on one
    old bad row). Files past an object cursor's mark hold only new records: they count."""
    resource = context.planned.resource(table)
    marked = resource.follows or table
    inc = incremental_for(context.spec, marked)
    if inc is None or inc.cursor in OBJECT_COLUMNS or resource.format not in FILE_FORMATS:
        return False
    return context.destination.cursor(marked) is not None


def commit_tables(
    context: TaskContext, tables: tuple[str, ...], token: CancelToken
) -> dict[str, int]:
    """Commit every staged table at once, by the load agent of the target's family, once the
    bad-row limits admit the run."""
    spec = context.spec
    token.check()
    planned = context.planned
    staged = [
        StagedTable(t, table_mode(spec, t), table_key(spec, planned.resource(t))) for t in tables
    ]
    committed: dict[str, int] = context.coordinator.dispatch(
        commit_need(spec),
        CommitWork(
            context.run_id,
            COMMIT,
            context.destination,
            staged,
            admit=lambda: _admit(context, tables),
        ),
    )
    return committed


def _admit(context: TaskContext, tables: tuple[str, ...]) -> None:
    """Refuse the commit (discarding the run's staging) when the rows the readers rejected
    exceed ``max_bad_rows``, or a table's share of them exceeds ``max_bad_ratio``."""
    spec, destination = context.spec, context.destination
    context.checkpoints = checkpoints = destination.checkpoints()
    # Rows checks quarantined are the user's rules at work: max_bad_rows and max_bad_ratio
    # judge what the reader rejected.
    by_checks = {t: quarantined_by_checks(context, t) for t in tables}
    rejected = sum(c.bad_rows - by_checks.get(t, 0) for t, c in checkpoints.items())
    if spec.max_bad_rows is not None and rejected > spec.max_bad_rows:
        destination.discard()  # this run is over: nothing of it may load later
        raise TooManyBadRowsError(rejected, spec.max_bad_rows, run_id=context.run_id)
    for table in tables:
        check = checkpoints.get(table)
        bad = check.bad_rows - by_checks[table] if check is not None else 0
        if check is None or bad <= 0 or _filtered_by_mark(context, table):
            continue
        share = bad / (check.rows + check.bad_rows)
        if share > spec.max_bad_ratio:
            destination.discard()
            raise MostlyRejectedError(
                table,
                bad,
                check.rows + check.bad_rows,
                spec.max_bad_ratio,
                context.planned.resource(table).assumed(),
                context.run_id,
            )
