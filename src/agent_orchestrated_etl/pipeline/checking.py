"""The checks of a pipeline (``checks:``) as a run applies them.

* **warn and fail checks** judge what a load staged, in the check task ``check:<table>``
  between the load and the commit: the staged rows (for merge, the last row per key: what
  this run loads, not the whole target table) are read once into a private connection and
  each check is one aggregate there. A failed ``fail`` check raises
  :class:`CheckFailedError`: a UserError, so the run's staging is discarded and the target
  stays as it was.
* **quarantine checks** run in the load itself, before the destination writes: rows failing
  one go to the DLQ tagged with the check's name, and the rest load. They count in the
  table's rejected rows, but not against ``max_bad_ratio`` or ``max_bad_rows``, which judge
  the reader (a check quarantining half the rows is the user's rule working).

Every result is stored with the run in the state DB and published as a ``check`` event.

A commit in its own process (``aoetl run --task commit``, an Airflow worker) goes on only
when each table's check task judged what the table has staged now and its fail checks
passed: the check task records that (:func:`mark_checked`), a load forgets it, and
:func:`require_checked` refuses the commit otherwise.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any, cast

import duckdb

from .._text import plural
from ..connectors import Relation
from ..data.duck import unique_name
from ..engine import COMMIT, CheckParams, Event, Plan, Task, check_task_id, load_task_id
from ..errors import CheckFailedError, UserError
from ..quality import CheckResult
from ..quality.checks import check_line, quarantine, run_checks, validate_checks
from ..quality.frame import materialize, scratch
from ..spec import CheckSpec, Depth, PipelineSpec, duration_s
from .planner import columns_known

if TYPE_CHECKING:
    from .context import TaskContext

CHECK_FILE = "check:"  # how a DLQ entry's file marks a row a check quarantined
_NOTES = threading.Lock()  # check tasks of several tables add to the run's notes at once


def quarantine_checks(spec: PipelineSpec, table: str) -> list[CheckSpec]:
    """The quarantine checks that apply to ``table``."""
    return [c for c in spec.checks if c.applies_to(table) and c.severity == "quarantine"]


def judged_checks(spec: PipelineSpec, table: str) -> list[CheckSpec]:
    """The warn and fail checks that apply to ``table`` (run in its check task)."""
    return [c for c in spec.checks if c.applies_to(table) and c.severity != "quarantine"]


def publish(context: TaskContext, task_id: str, results: list[CheckResult]) -> None:
    """Store ``results`` with the run, publish a ``check`` event each, and a warning (and a
    note of the run) for each warned one."""
    data = [r.model_dump(mode="json") for r in results]
    context.store.quality.add_check_results(context.run_id, data)
    for result in data:
        context.bus.publish(Event("check", context.run_id, task_id, result))
        if result["status"] == "warned":
            line = check_line(result)
            context.bus.publish(Event("warning", context.run_id, task_id, {"message": line}))
            with _NOTES:
                if line not in context.warnings:
                    context.warnings.append(line)


def run_check_task(
    context: TaskContext, task_id: str, table: str
) -> tuple[list[CheckResult], dict[str, Any] | None]:
    """Judge what ``table`` staged with its warn and fail checks; raise CheckFailedError if a
    fail check failed (nothing is committed then). Then profile it if the spec says so.
    Returns the results, and the table's quality score (JSON) when it was profiled."""
    scored = None
    checks = judged_checks(context.spec, table)
    with closing(scratch(context.home)) as con:
        staged = context.destination.staged(table)
        name = materialize(con, staged, f"the rows staged for table '{table}'")
        results = run_checks(con, name, checks, table)
        publish(context, task_id, results)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise CheckFailedError(_failed_message(table, failed), tuple(r.name for r in failed))
        if context.spec.quality.profile != "off":
            scored = _profile(context, task_id, table, con, name)
    return results, scored


def _profile(
    context: TaskContext,
    task_id: str,
    table: str,
    con: duckdb.DuckDBPyConnection,
    name: str,
) -> dict[str, Any]:
    """Profile what ``table`` staged (already in ``con`` as ``name``): store the profile with
    its anomalies (against the newest earlier profile of the same target table) and its
    quality score, publish each anomaly, and return the score's JSON."""
    from ..quality import TableProfile
    from ..quality.anomalies import detect
    from ..quality.profile import history_key, profile_table
    from ..quality.score import score

    spec, history, run_id = context.spec, context.store.quality, context.run_id
    depth = cast(Depth, spec.quality.profile)
    resource = history_key(context.destination.display, table)
    # A retried check task replaces its own run's profile: compare with the one before.
    earlier = [r for r in history.profiles(resource, limit=2) if r.run_id != run_id]
    previous = TableProfile.model_validate(earlier[0].profile) if earlier else None
    profile = profile_table(
        con, name, table=table, resource=resource, source=context.destination.display,
        depth=depth, anomalies=spec.quality.anomalies, previous=previous, run_id=run_id,
    )  # fmt: skip
    found = detect(profile, previous, spec.quality.anomalies)
    checks = [
        CheckResult.model_validate(c) for c in history.check_results(run_id) if c["table"] == table
    ]  # the quarantine checks of the load too
    max_age = duration_s(spec.quality.max_age) if spec.quality.max_age is not None else None
    scored = score(profile, found, checks=checks, max_age_s=max_age)
    detail = scored.model_dump(mode="json")
    history.add_profile(
        profile.model_dump(mode="json"),
        score=detail,
        anomalies=[a.model_dump(mode="json") for a in found],
    )
    for anomaly in found:
        data = anomaly.model_dump(mode="json")
        context.bus.publish(Event("anomaly", run_id, task_id, data))
        message = f"table {table}: {anomaly.message}"
        with _NOTES:
            if message not in context.warnings:
                context.warnings.append(message)
    return detail


def validate_staged_columns(context: TaskContext, table: str, relation: Relation) -> None:
    """Before a load moves data: judge the checks of ``table`` against the columns the
    relation (after the transforms) will stage, found by binding its SQL over empty stand-ins
    for its Arrow streams (nothing is read). The planner already did this when discovery
    knew the columns; SQL that does not bind is left for the load to report."""
    checks = [c for c in context.spec.checks if c.applies_to(table)]
    if not checks or columns_known(context.spec, context.planned.resource(table)):
        return
    columns = relation.columns(context.home)
    if columns is not None:
        validate_checks(checks, table, columns)


def load_check_results(context: TaskContext, table: str) -> list[dict[str, Any]]:
    """What the quarantine checks of ``table``'s load found, as stored with the run (a load
    resumed from its checkpoint ran none itself)."""
    if not quarantine_checks(context.spec, table):
        return []
    stored = context.store.quality.check_results(context.run_id)
    return [c for c in stored if c["table"] == table and c["severity"] == "quarantine"]


def checked_tables(plan: Plan, commit: Task) -> list[str]:
    """The tables whose check task the commit task waits for."""
    tasks = [plan.task(d) for d in commit.depends_on]
    return [t.params.table for t in tasks if isinstance(t.params, CheckParams)]


def mark_checked(context: TaskContext, table: str, *, passed: bool) -> None:
    """Record that the check task judged what ``table`` has staged now (its checkpoint)."""
    staged = context.checkpoints.get(table)
    if staged is not None:
        context.store.quality.mark_checked(context.run_id, table, staged.fingerprint, passed=passed)


def refuse_failed(context: TaskContext, tables: list[str]) -> None:
    """Before a commit in its own process: if a table's check task found a fail check
    failing, discard the run's staging and raise CheckFailedError (the target stays)."""
    marks = context.store.quality.checked(context.run_id)
    failed = [t for t in tables if t in marks and not marks[t][1]]
    if not failed:
        return
    context.destination.discard()
    table = failed[0]
    results = [
        CheckResult.model_validate(r)
        for r in context.store.quality.check_results(context.run_id)
        if r["table"] == table and r["status"] == "failed"
    ]
    if not results:  # the results were not kept: say which task to run again
        raise CheckFailedError(
            f"table '{table}' failed its checks in run {context.run_id}; nothing was "
            f"committed and the target is unchanged. Load and run {check_task_id(table)} again"
        )
    # The run goes on once the table is loaded and checked again: say which tasks.
    again = f"{load_task_id(table)}, {check_task_id(table)} and {COMMIT}"
    message = _failed_message(
        table, results, f"Fix the data, then run {again} again with --run-id "
        f"{context.run_id} (or start a new run id)"
    )  # fmt: skip
    raise CheckFailedError(
        f"{check_task_id(table)} failed in run {context.run_id}: {message}",
        tuple(r.name for r in results),
    )


def require_checked(context: TaskContext, tables: list[str]) -> None:
    """Before a commit in its own process: each table's check task must have judged what
    the table has staged now (not rows an earlier load staged)."""
    marks = context.store.quality.checked(context.run_id)
    unchecked = [
        t
        for t in tables
        if t not in marks or t not in context.checkpoints
        or marks[t][0] != context.checkpoints[t].fingerprint
    ]  # fmt: skip
    if unchecked:
        one = len(unchecked) == 1
        what = f"table {unchecked[0]}" if one else f"{plural(len(unchecked), 'table')} "
        what += "" if one else f"({', '.join(unchecked)})"
        tasks = ", ".join(check_task_id(t) for t in unchecked)
        raise UserError(
            f"run {context.run_id} has not checked {what} since {'it was' if one else 'they were'}"
            f" staged; run {tasks} with --run-id {context.run_id} first"
        )


def _failed_message(
    table: str,
    failed: list[CheckResult],
    fix: str = "Fix the data, or set the check's severity to warn or quarantine",
) -> str:
    found = "; ".join(f"{r.name} ({r.message})" for r in failed)
    what = f"check {found}" if len(failed) == 1 else f"{len(failed)} checks: {found}"
    return (
        f"table '{table}' failed {what}; nothing was committed and the target is unchanged. {fix}"
    )


@contextmanager
def quarantined(
    context: TaskContext,
    task_id: str,
    table: str,
    relation: Relation,
    on_cancel: Callable[[Callable[[], None]], None] | None = None,
) -> Iterator[Relation]:
    """``relation`` with the rows failing a quarantine check taken out (as bad rows, which
    the destination records with its checkpoint), read once into a private connection.

    The connection lives as long as the block: the relation yielded streams from it.
    """
    checks = quarantine_checks(context.spec, table)
    with closing(scratch(context.home)) as con:
        if on_cancel is not None:
            on_cancel(con.interrupt)
        ordinal = f"__aoetl_row_{uuid.uuid4().hex}"  # no data set names it in advance
        numbered = relation.wrap(
            f"SELECT *, row_number() OVER () AS {ordinal} FROM ({relation.sql})"
        )
        name = materialize(con, numbered, f"table '{table}'")
        found = quarantine(con, name, checks, table, ordinal)
        reader_bad = relation.bad_rows()  # the reader's rejects, fetched from this connection
        publish(context, task_id, found.results)
        binding = unique_name("checked")
        reader = con.execute(found.passing).to_arrow_reader(122_880)
        yield Relation(
            f"SELECT * FROM {binding}",
            {binding: reader},
            extra_bad_rows=[*reader_bad, *found.bad_rows],
            stream_errors=relation.stream_errors,
        )


def dlq_context(bad_file: str | None, default: str) -> str:
    """The DLQ context of a bad row: the check that quarantined it, or how it was read."""
    if bad_file is not None and bad_file.startswith(CHECK_FILE):
        return json.dumps({"check": bad_file[len(CHECK_FILE) :], "format": "check"})
    return default


def quarantined_by_checks(context: TaskContext, table: str) -> int:
    """Rows of ``table`` this run quarantined by checks (not counted against the reader's
    max_bad_ratio and max_bad_rows)."""
    if not quarantine_checks(context.spec, table):
        return 0
    entries = context.store.dlq_entries(context.run_id)
    return sum(1 for e in entries if e.table == table and (e.file or "").startswith(CHECK_FILE))


__all__ = [
    "CHECK_FILE",
    "checked_tables",
    "dlq_context",
    "judged_checks",
    "load_check_results",
    "mark_checked",
    "publish",
    "quarantine_checks",
    "quarantined",
    "quarantined_by_checks",
    "refuse_failed",
    "require_checked",
    "run_check_task",
    "validate_staged_columns",
]
