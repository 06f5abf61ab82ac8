"""Routing applied to a run: the target a workflow goes to, and the rows each routed table
takes. The decisions are :mod:`agents.routing`'s; this module plans and audits them.

* **Workflow** (``route:``): after planning (discovery gives the facts) and before the
  destination opens, :func:`route_workflow` gives the run's plan the chosen target and
  records the decision. The spec's hash and the stored spec stay those of the pipeline as
  written, so a rerun finds and resumes the run; an attempt of a run that already decided
  (a resume, the next ``--task``) keeps that decision, so a run never stages in one target
  and commits in another.
* **Rows** (``routes:``): :func:`expand_routes` puts one load per route in place of the
  routed table's load, each reading the same resource; :func:`route_rows` keeps its route's
  rows after the transforms, and the first route also settles the unroutable rows (fail the
  run before anything commits, or the DLQ). The tables are staged and committed with the rest.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from .._text import plural
from ..agents.routing import (
    RowRouteSql,
    RowRouting,
    SourceFacts,
    WorkflowDecision,
    decide_workflow,
    pinned_workflow,
    row_routings,
)
from ..connectors import BadRow, Relation, Resource
from ..data.duck import connect, quote_ident
from ..engine import load_task_id
from ..errors import UserError, one_line
from ..settings import DUCKDB_OFFLINE
from ..spec import PipelineSpec
from ..spec.routing import predicate_sql
from ..state import AuditEntry, DlqEntry, StateStore

if TYPE_CHECKING:
    from .context import TaskContext
    from .planner import PipelinePlan

WORKFLOW = "workflow"  # the audit subject of a workflow's routing decision
ROUTE_FILE = "route:"  # a DLQ entry's file for a row no route took: route:<source table>
ENV_VAR = "AOETL_ENV"
_BATCH = 10_000  # unroutable rows fetched and stored at a time: memory stays bounded


@dataclass(frozen=True)
class RoutedTable:
    """A target table of a routed source table: the resource it reads, and its route."""

    table: str
    source: Resource
    route: RowRouteSql
    routing: RowRouting
    first: bool  # the first route keeps the reader's rejects and settles the unroutable rows


def environment() -> str | None:
    """The environment a workflow rule's ``environment`` is judged on: AOETL_ENV."""
    return os.environ.get(ENV_VAR) or None


# -- rows: planning ------------------------------------------------------------------------------
def expand_routes(
    spec: PipelineSpec, resources: list[Resource], known: Callable[[Resource], bool]
) -> tuple[list[Resource], dict[str, RoutedTable]]:
    """``resources`` with each routed table replaced by one resource per route (named after
    its target table), and what each of those reads. ``known(resource)`` says whether its
    columns are what the load stages, so the predicates are tried on them now."""
    if not spec.routes:
        return resources, {}
    names = {r.name: r for r in resources}
    routed: dict[str, RoutedTable] = {}
    out: list[Resource] = []
    routings = row_routings(spec)
    for table in routings:
        if table not in names:
            raise UserError(
                f"routes.{table}: the source has no table {table!r}; its tables: "
                f"{', '.join(names) or 'none'}"
            )
    for resource in resources:
        routing = routings.get(resource.name)
        if routing is None:
            out.append(resource)
            continue
        _refuse_unsupported(spec, resource, resources)
        if known(resource):
            validate_predicates(routing, resource.columns)
        for index, route in enumerate(routing.routes):
            taken = names.get(route.table) or (
                routed[route.table].source if route.table in routed else None
            )
            if taken is not None:
                clash = f"a route of table {taken.name!r}"
                raise UserError(
                    f"routes.{resource.name}: target table {route.table!r} is also "
                    f"{'a table the source holds' if route.table in names else clash}; "
                    "route to a table of another name"
                )
            routed[route.table] = RoutedTable(route.table, resource, route, routing, index == 0)
            out.append(dataclasses.replace(resource, name=route.table))
    return out, routed


def _refuse_unsupported(
    spec: PipelineSpec, resource: Resource, resources: Sequence[Resource]
) -> None:
    name = resource.name
    if name in spec.source.incremental or "*" in spec.source.incremental:
        raise UserError(
            f"routes.{name}: an incremental table cannot be routed by rows yet (each target "
            "table would need its own mark); remove its routes or its incremental setting"
        )
    if resource.follows or any(r.follows == name for r in resources):
        raise UserError(
            f"routes.{name}: a REST resource's nested tables follow their top table, so neither "
            "can be routed by rows; route a table of another source"
        )


def validate_predicates(routing: RowRouting, columns: Sequence[tuple[str, str]]) -> None:
    """Try each rule's predicate on an empty table of ``columns``: a column it lacks, a type
    it cannot compare, SQL that does not parse or a value that is not true or false is a
    one-line UserError now."""
    with duckdb.connect(config=DUCKDB_OFFLINE) as con:
        defined = ", ".join(f"{quote_ident(n)} {t}" for n, t in columns)
        try:
            con.execute(f"CREATE TEMP TABLE routed ({defined})")
        except duckdb.Error:
            return  # a type DuckDB cannot create: the load judges the predicates on the data
        for index, when in enumerate(routing.predicates):
            where = f"routes.{routing.source} rule {index + 1}: when {when!r}"
            try:
                # One statement, one column: predicate_sql printed it back as one expression.
                [(_, kind, *_)] = con.execute(
                    f"DESCRIBE SELECT ({predicate_sql(when)}) AS m FROM routed"
                ).fetchall()
            except duckdb.Error as exc:
                raise UserError(
                    f"{where} cannot run: {one_line(str(exc))}; the columns of table "
                    f"{routing.source}: {', '.join(n for n, _ in columns)}"
                ) from None
            if kind != "BOOLEAN":
                raise UserError(
                    f"{where} gives {kind}, not true or false; write a condition, such as "
                    "amount > 100 or country = 'DE'"
                )


def route_described(routed: dict[str, RoutedTable], table: str) -> str:
    """What a routed table's load task takes, for its description: ', rows of orders where
    country = 'DE'' (empty for a table not routed)."""
    found = routed.get(table)
    if found is None:
        return ""
    when = found.route.when
    rows = f"where {when}" if when is not None else "no earlier route took (else)"
    return f", rows of {found.source.name} {rows}"


def reading(planned: PipelinePlan, resource: Resource) -> Resource:
    """The resource a load reads: for a routed table, the source table it takes rows of."""
    routed = planned.routed.get(resource.name)
    return routed.source if routed is not None else resource


def source_resources(planned: PipelinePlan) -> list[Resource]:
    """The resources as discovered (each routed table once), for facts and fingerprints."""
    seen: dict[str, Resource] = {}
    for resource in planned.resources:
        found = reading(planned, resource)
        seen.setdefault(found.name, found)
    return list(seen.values())


# -- rows: a load --------------------------------------------------------------------------------
def route_rows(
    context: TaskContext,
    table: str,
    relation: Relation,
    again: Callable[[], Relation],
    warn: Callable[[str], None],
) -> Relation:
    """``relation`` (the transformed rows of the source table) cut to ``table``'s route.

    The first route of a table without ``else`` counts the rows no route takes: with
    ``unroutable: fail`` any is a UserError, before anything commits; with ``dlq`` they go to
    the dead-letter queue, and ``warn`` gets the run's note. The count runs the same SQL
    again when ``relation`` is SQL alone; an Arrow stream is read once, so the count reads
    ``again()``: the source read again, not an agent's work (no call, no rows credited).
    Only the first route keeps the reader's rejects, so a bad record is counted once.
    """
    routed = context.planned.routed.get(table)
    if routed is not None and routed.first and routed.routing.fate != "else":
        # Its own rejects stay the load's: the count runs in a connection of its own.
        counted = _unrejected(relation) if relation.fused else again()
        _settle_unroutable(context, routed, counted, warn)
    return route_only(context, table, relation)


def _unrejected(relation: Relation) -> Relation:
    return dataclasses.replace(relation, rejects=[], extra_bad_rows=[])


def route_only(context: TaskContext, table: str, relation: Relation) -> Relation:
    """``relation`` cut to ``table``'s route (itself for a table not routed). The other
    routes read the same records: their rejects are the first route's."""
    routed = context.planned.routed.get(table)
    if routed is None:
        return relation
    kept = relation if routed.first else _unrejected(relation)
    return kept.wrap(f"SELECT * FROM ({relation.sql}) WHERE {routed.route.predicate}")


def routed_relations(
    routing: RowRouting | None, table: str, relation: Relation
) -> list[tuple[str, Relation]]:
    """Each target table of ``table``'s routes and its rows of ``relation`` (``table`` and
    all of them when it is not routed); the reader's rejects go with the first only."""
    if routing is None:
        return [(table, relation)]
    return [
        (r.table, (relation if i == 0 else _unrejected(relation)).wrap(
            f"SELECT * FROM ({relation.sql}) WHERE {r.predicate}"
        ))
        for i, r in enumerate(routing.routes)
    ]  # fmt: skip


def unrouted_count(routing: RowRouting, relation: Relation, home: Path | None) -> int:
    """How many rows of ``relation`` no route of ``routing`` takes (read in a connection of
    its own; ``relation``'s rejects stay its own)."""
    counted = _unrejected(relation)
    with connect(home=home) as con:
        counted.attach(con)
        try:
            row = con.execute(
                f"SELECT count(*) FROM ({counted.sql}) WHERE {routing.unroutable}"
            ).fetchone()
        except duckdb.Error as exc:
            raise UserError(
                f"routes.{routing.source}: the routes cannot run on the rows: {one_line(str(exc))}"
            ) from None
    return int(row[0]) if row else 0


def _settle_unroutable(
    context: TaskContext, routed: RoutedTable, relation: Relation, warn: Callable[[str], None]
) -> None:
    routing, source = routed.routing, routed.source.name
    with connect(home=context.home) as con:
        relation.attach(con)
        try:
            # Numbered in order of their content, not of a scan that may run in parallel: a
            # retried load numbers the same rows alike, and the DLQ keeps each once.
            cursor = con.execute(
                "SELECT row_number() OVER (ORDER BY j::VARCHAR) AS n, j FROM (SELECT "
                f"to_json(s) AS j FROM ({relation.sql}) AS s WHERE {routing.unroutable}) "
                "ORDER BY n"
            )
            count = 0
            while batch := cursor.fetchmany(_BATCH):
                count += len(batch)
                if routing.fate == "dlq":
                    _dead_letter(context, routed, batch)
        except duckdb.Error as exc:
            raise UserError(
                f"routes.{source}: the routes cannot run on the transformed rows: "
                f"{one_line(str(exc))}"
            ) from None
    fate = "they went to the dead-letter queue" if routing.fate == "dlq" else "the run fails"
    said = f"{plural(count, 'row')} met no route of table {source}"
    choice, task = f"unroutable: {routing.fate}", load_task_id(routed.table)
    audit(context, source, choice, count, [f"{said}; {fate}" if count else said], task)
    if count and routing.fate == "dlq":  # said in the run's notes, as what reading found
        warn(f"{said}: they are in the dead-letter queue (aoetl dlq list)")
    if count and routing.fate == "fail":
        raise UserError(
            f"table {source}: {plural(count, 'row')} met no route (routes.{source}); add an "
            "'else' rule for them, or 'unroutable: dlq' to send them to the dead-letter queue"
        )


def _dead_letter(context: TaskContext, routed: RoutedTable, batch: list[tuple[int, str]]) -> None:
    source = routed.source.name
    reason = f"no route matched (routes.{source})"
    where = routed.source.context()
    rows = [BadRow(source, f"{ROUTE_FILE}{source}", n, reason, raw) for n, raw in batch]
    context.store.add_dlq(
        context.run_id,
        (DlqEntry(b.table, b.file, b.line, reason, b.redacted_raw(), context=where) for b in rows),
    )


def audit_staged(context: TaskContext, table: str, rows: int) -> None:
    """Record how many rows ``table``'s route took, once its load staged them."""
    routed = context.planned.routed.get(table)
    if routed is None:
        return
    when = routed.route.when
    why = f"rows where {when}" if when is not None else "rows no earlier route took (else)"
    said = [f"{plural(rows, 'row')} staged: {why}"]
    audit(context, routed.source.name, table, rows, said, load_task_id(table))


def audit(
    context: TaskContext, source: str, choice: str, rows: int, reasons: list[str], task: str
) -> None:
    context.store.audit.record(
        AuditEntry(
            context.run_id, "route", source, choice, tuple(reasons), task_id=task,
            detail={"rows": rows},
        )
    )  # fmt: skip


# -- the workflow --------------------------------------------------------------------------------
def route_workflow(planned: PipelinePlan, store: StateStore, run_id: str) -> PipelinePlan:
    """``planned`` with the target ``route:`` chooses (the spec's own without rules); the
    decision is recorded once per run and kept by its later attempts."""
    spec = planned.spec
    if not spec.route:
        return planned
    facts = SourceFacts.of(spec, source_resources(planned), environment())
    # Each attempt records what it used: the first its decision, a later one the pinning.
    pinned = _pinned(spec, store, run_id, facts)
    if pinned is not None:
        _record(store, run_id, pinned)
    decided = pinned or decide_workflow(spec.route, spec.target, facts)
    decision = pinned or settle_decision(spec, store, run_id, decided)
    store.set_run_target(run_id, decision.target.uri)
    said = f"target {decision.choice}, chosen by route: {decision.reasons[-1]}"
    routed = routed_spec(spec, decision)
    return dataclasses.replace(planned, spec=routed, notes=[*planned.notes, said])


def settle_decision(
    spec: PipelineSpec, store: StateStore, run_id: str, decision: WorkflowDecision
) -> WorkflowDecision:
    """Record ``decision``, made by an attempt that found none recorded for ``run_id``, and
    return the run's decision: the first one recorded. Two first attempts of a run at once
    (two ``aoetl run --task`` of the same run id) may both decide; both then keep the same."""
    _record(store, run_id, decision)
    first = _pinned(spec, store, run_id, decision.facts, why="another attempt decided first")
    if first is None or first.rule == decision.rule:
        return decision
    _record(store, run_id, first)
    return first


def _record(store: StateStore, run_id: str, decision: WorkflowDecision) -> None:
    store.audit.record(
        AuditEntry(
            run_id, "route", WORKFLOW, decision.choice, decision.reasons, task_id="plan",
            detail=decision.detail(),
        )
    )  # fmt: skip


def routed_spec(spec: PipelineSpec, decision: WorkflowDecision) -> PipelineSpec:
    """``spec`` with the decision's target, anchored where the pipeline file is."""
    target = decision.target
    if target.base_dir is None and spec.target.base_dir is not None:
        target = target.model_copy(update={"base_dir": spec.target.base_dir})
    return spec.model_copy(update={"target": target})


def _pinned(
    spec: PipelineSpec,
    store: StateStore,
    run_id: str,
    facts: SourceFacts,
    why: str = "resumed run",
) -> WorkflowDecision | None:
    """The decision the first attempt of ``run_id`` recorded, if its rule is still there
    (the first recorded: every later entry of the run repeats or adopts it)."""
    decided = [e for e in store.audit.entries(run_id, kind="route") if e.subject == WORKFLOW]
    for entry in sorted(decided, key=lambda e: e.id or 0)[:1]:
        rule = entry.detail.get("rule")
        if rule is None or (isinstance(rule, int) and 0 <= rule < len(spec.route)):
            return pinned_workflow(spec.route, spec.target, rule, facts, why)
    return None


def run_target_spec(store: StateStore, run_id: str, spec: PipelineSpec) -> PipelineSpec:
    """The spec of ``run_id`` with the target its routing chose (for a run's staging); the
    spec itself when it has no ``route:`` or the run never decided."""
    if not spec.route:
        return spec
    facts = SourceFacts(frozenset(), 0, None)
    decision = _pinned(spec, store, run_id, facts)
    return routed_spec(spec, decision) if decision is not None else spec
