"""Routing applied to a run: the target a workflow goes to, and the rows each routed table
takes. The decisions are :mod:`agents.routing`'s; this module plans and audits them.

* **Workflow** (``route:``): :func:`route_workflow` (in :mod:`._routes_workflow`) gives the
  run's plan the target chosen from discovery's facts, once per run.
* **Rows** (``routes:``): :func:`expand_routes` puts one load per route in place of the
  routed table's load, each reading the same resource; :func:`route_rows` keeps its route's
  rows after the transforms, and the first route also settles the unroutable rows (fail the
  run before anything commits, or the DLQ). The tables are staged and committed with the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from .._text import plural
from ..agents.routing import RowRouteSql, RowRouting, row_routings
from ..connectors import BadRow, Relation, Resource
from ..data.duck import connect, quote_ident
from ..engine import load_task_id
from ..errors import UserError, one_line
from ..settings import DUCKDB_OFFLINE
from ..spec import PipelineSpec
from ..spec.routing import predicate_sql
from ..state import AuditEntry, DlqEntry
from ._routes_workflow import (
    ENV_VAR,
    WORKFLOW,
    environment,
    reading,
    route_workflow,
    routed_spec,
    run_target_spec,
    settle_decision,
    source_resources,
)

if TYPE_CHECKING:
    from .context import TaskContext

ROUTE_FILE = "route:"  # a DLQ entry's file for a row no route took: route:<source table>
_BATCH = 10_000  # unroutable rows fetched and stored at a time: memory stays bounded


@dataclass(frozen=True)
class RoutedTable:
    """A target table of a routed source table: the resource it reads, and its route."""

    table: str
    source: Resource
    route: RowRouteSql
    routing: RowRouting
    first: bool  # the first route keeps the reader's rejects and settles the unroutable rows
    checked: bool = False  # its predicates were tried on the columns at plan time


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
        checked = known(resource)
        if checked:
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
            routed[route.table] = RoutedTable(
                route.table, resource, route, routing, index == 0, checked
            )
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
    if routed is not None and not routed.checked:
        # With transforms the columns are known only now: a predicate that cannot run on
        # them is refused naming its rule, not as the SQL of whichever route failed first.
        columns = relation.columns(context.home)
        if columns is not None:
            validate_predicates(routed.routing, columns)
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
    # The rows were read fine, then transformed: no source line is known for them.
    reason = (
        f"no route matched (routes.{source}); its line numbers the rows no route took, in "
        "order of their content, not a line of the source"
    )
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


__all__ = [
    "ENV_VAR",
    "ROUTE_FILE",
    "WORKFLOW",
    "RoutedTable",
    "environment",
    "reading",
    "route_workflow",
    "routed_spec",
    "run_target_spec",
    "settle_decision",
    "source_resources",
]
