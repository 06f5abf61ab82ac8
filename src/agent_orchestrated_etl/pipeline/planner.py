"""Plan a pipeline: discover the source, fingerprint what will be read, and build the Plan.

The Plan is pure (see :mod:`engine.plan`): a load task names its table, and whoever runs it
finds the table's resource again, from the :class:`PipelinePlan` in this process or from a
new discovery in another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._text import plural
from ..agents import Coordinator
from ..connectors import Resource, Source
from ..connectors.registry import check_targets
from ..engine import (
    COMMIT,
    CheckParams,
    CommitParams,
    CycleError,
    EventBus,
    LoadParams,
    Plan,
    Task,
    check_task_id,
    checked_table,
    load_task_id,
    table_of,
)
from ..errors import UserError
from ..quality.checks import validate_checks
from ..spec import OBJECT_COLUMNS, Mode, PipelineSpec
from ..transform import describe_step
from .connect import discover_source
from .incremental import incremental_for
from .routing import RoutedTable, expand_routes, route_described


@dataclass
class PipelinePlan:
    """What the planner decided: the resources, the tasks, and why."""

    spec: PipelineSpec
    source: Source
    resources: list[Resource]
    plan: Plan
    notes: list[str]
    fingerprints: dict[str, str]
    routed: dict[str, RoutedTable] = field(default_factory=dict)  # see pipeline.routing

    def resource(self, table: str) -> Resource:
        """The resource that loads into ``table``."""
        for resource in self.resources:
            if resource.name == table:
                return resource
        known = ", ".join(r.name for r in self.resources) or "none"
        raise UserError(f"the source has no table {table!r} now; its tables: {known}")

    def to_dict(self) -> dict[str, Any]:
        """The serialised plan, each load task with what discovery decided, and the notes."""
        data = self.plan.to_dict()
        for task in data["tasks"]:
            params = task["params"] or {}
            table = params.get("table") if task["action"] == "load" else None
            task["decisions"] = (
                [d.to_dict() for d in self.resource(table).decisions] if table is not None else []
            )
        return {"pipeline": self.spec.name, **data, "notes": self.notes}


def spec_hash(spec: PipelineSpec) -> str:
    """A stable hash of everything in the spec that decides what a run loads."""
    how = ("retries", "timeout_s", "breaker", "tasks")  # how to run, not what to load
    data = spec.model_dump(
        mode="json", exclude={**dict.fromkeys(how, True), "target": {"lock_timeout_s"}}
    )
    # A table's own mode and key decide what its load does; only set ones are hashed, so a
    # spec without them keeps the hash its earlier runs recorded.
    tables = {
        name: {"mode": o.mode, "key": list(o.key) if o.key is not None else None}
        for name, o in spec.tasks.items()
        if o.mode is not None or o.key is not None
    }
    if tables:
        data["tables"] = tables
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def resource_fingerprint(spec_digest: str, source: Source, resource: Resource) -> str:
    """Changes when the spec or what the source would read for ``resource`` changes."""
    joined = f"{spec_digest}\0{source.fingerprint(resource)}"
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def plan_pipeline(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    bus: EventBus | None = None,
    run_id: str = "",
    coordinator: Coordinator | None = None,
) -> PipelinePlan:
    """Discover the source and build the Plan: one load task per resource, a check task
    after each load whose table has warn or fail checks (or is profiled), then one commit.

    ``home`` is AOETL_HOME. Connecting and discovery are retried (see :mod:`pipeline.connect`);
    ``bus`` gets an event for each attempt. The ``coordinator`` (default: one over every
    agent, unaudited) picks the agent that discovers the source.
    """
    check_targets(spec)  # a target no connector writes fails now, before discovery
    source, resources = discover_source(
        spec, home=home, bus=bus, run_id=run_id, coordinator=coordinator
    )
    try:
        return _plan(spec, source, resources)
    except BaseException:
        source.close()
        raise


def _option(spec: PipelineSpec, table: str, name: str) -> object:
    """A table's setting in ``tasks:`` (by table name, else by its load task's id), or None."""
    for entry in (table, load_task_id(table)):
        options = spec.tasks.get(entry)
        value = getattr(options, name) if options is not None else None
        if value is not None and value != ():
            return value
    return None


def table_mode(spec: PipelineSpec, table: str) -> Mode:
    """How ``table`` loads: ``tasks.<table>.mode``, else the pipeline's ``mode``."""
    mode = _option(spec, table, "mode")
    return spec.mode if mode is None else mode  # type: ignore[return-value]


def merge_key(
    spec: PipelineSpec, table: str, own: tuple[str, ...] = (), *, follows: bool = False
) -> tuple[str, ...]:
    """The columns ``table`` merges on: ``tasks.<table>.key``, else the pipeline's ``key``,
    else ``own`` (the resource's primary key). A table that follows another (a REST
    resource's nested table) merges on its own key: the pipeline's names the top table's
    columns."""
    key = _option(spec, table, "key")
    if key is not None:
        return key  # type: ignore[return-value]
    return own if follows else (spec.key or own)


def table_key(spec: PipelineSpec, resource: Resource) -> tuple[str, ...]:
    """The columns ``resource``'s table upserts on (see :func:`merge_key`); a table that
    merges without one is bad input."""
    key = merge_key(spec, resource.name, resource.primary_key, follows=bool(resource.follows))
    if table_mode(spec, resource.name) == "merge" and not key:
        raise UserError(
            f"mode 'merge' needs a key for table {resource.name}: set tasks.{resource.name}.key, "
            "the pipeline's 'key', or the resource's primary_key"
        )
    return key


def _after(spec: PipelineSpec, resources: list[Resource]) -> dict[str, tuple[str, ...]]:
    """Each table's load tasks to wait for, from ``tasks.<table>.after``."""
    names = [r.name for r in resources]
    deps: dict[str, tuple[str, ...]] = {}
    for entry, options in spec.tasks.items():
        if not options.after:
            continue
        table = table_of(entry) or entry
        if table not in names:
            raise UserError(
                f"tasks.{entry}.after: this pipeline loads no table {table!r}; its tables: "
                f"{', '.join(names) or 'none'}"
            )
        wanted = [table_of(a) or a for a in options.after]
        unknown = [a for a in wanted if a not in names or a == table]
        if unknown:
            what = "itself" if unknown == [table] else f"no table {unknown[0]!r}"
            raise UserError(
                f"tasks.{entry}.after names {what}: list tables this pipeline loads "
                f"({', '.join(n for n in names if n != table) or 'none'})"
            )
        deps[table] = tuple(dict.fromkeys((*deps.get(table, ()), *map(load_task_id, wanted))))
    return deps


def _described(spec: PipelineSpec, resource: Resource) -> str:
    """A table's mode as a task description says it: 'merge on id', 'append'."""
    mode = table_mode(spec, resource.name)
    key = merge_key(spec, resource.name, resource.primary_key, follows=bool(resource.follows))
    return f"merge on {', '.join(key)}" if mode == "merge" and key else mode


def _plan(spec: PipelineSpec, source: Source, resources: list[Resource]) -> PipelinePlan:
    digest = spec_hash(spec)
    steps = [describe_step(s) for s in spec.transforms]
    python = any("python" in type(s).model_fields for s in spec.transforms)
    via = getattr(source, "stream_via", None)  # a driver that hands the engine Arrow batches
    path = (
        "; streamed through Python"
        if python
        else (f"; Arrow batches from {via}" if via else "; one DuckDB statement")
    )
    discovered = {r.name: r for r in resources}
    resources, routed = expand_routes(spec, resources, lambda r: columns_known(spec, r))
    after = _after(spec, resources)
    _check_tables(spec, resources)
    for resource in resources:
        if columns_known(spec, resource):
            validate_checks(spec.checks, resource.name, resource.columns)
    tasks = [
        Task(
            load_task_id(r.name),
            "load",
            after.get(r.name, ()),
            params=LoadParams(r.name, source.endpoint),
            description=f"{_origin(r)} -> table {r.name} ({_described(spec, r)})"
            + (f", {plural(len(steps), 'transform step')}" if steps else "")
            + route_described(routed, r.name)
            + path,
        )
        for r in resources
    ]
    tasks += [
        Task(
            check_task_id(r.name),
            "check",
            (load_task_id(r.name),),
            params=CheckParams(r.name),
            description=_check_described(spec, r.name),
        )
        for r in resources
        if has_check_task(spec, r.name)
    ]
    tasks.append(
        Task(
            COMMIT,
            "commit",
            tuple(t.id for t in tasks),
            CommitParams(tuple(r.name for r in resources)),
            description="make every staged table visible at once",
        )
    )
    try:
        plan = Plan(sorted(tasks, key=lambda t: _listed(routed, t)))
    except CycleError as exc:
        raise UserError(
            f"the tables' 'after' settings in tasks: wait for each other in a circle "
            f"({str(exc).split(': ', 1)[-1]}); remove one of them"
        ) from None
    notes = list(source.notes)
    fingerprints = {
        r.name: resource_fingerprint(
            digest, source, discovered.get(r.name) or routed[r.name].source
        )
        for r in resources
    }
    return PipelinePlan(spec, source, resources, plan, notes, fingerprints, routed)


def _listed(routed: dict[str, RoutedTable], task: Task) -> tuple[str, int]:
    """Where a task is listed: by its id, a routed table's tasks at their source table's
    name, in the order of its rules."""
    found = routed.get(table_of(task.id) or checked_table(task.id) or "")
    if found is None:
        return task.id, -1
    rules = [r.table for r in found.routing.routes]
    return task.id.removesuffix(found.table) + found.source.name, rules.index(found.table)


def has_check_task(spec: PipelineSpec, table: str) -> bool:
    """Whether ``table`` gets a check task: a warn or fail check applies to it, or the spec
    profiles what each run stages. Quarantine checks run in the load itself."""
    judged = any(c.applies_to(table) and c.severity != "quarantine" for c in spec.checks)
    return judged or spec.quality.profile != "off"


def columns_known(spec: PipelineSpec, resource: Resource) -> bool:
    """Whether discovery knows the columns ``resource`` stages, so its checks are judged
    at plan time: no transform changes them, and they come from one file or a database's
    own schema (more files may add columns; a REST API's sample may lack some)."""
    if spec.transforms or not resource.columns or resource.follows:
        return False
    if resource.format in ("table", "view", "query"):
        return True
    inc = incremental_for(spec, resource.name)
    if inc is not None and inc.cursor in OBJECT_COLUMNS:  # the load adds that column
        return False
    return len(resource.locations) == 1 and resource.format != "rest"


def _check_tables(spec: PipelineSpec, resources: list[Resource]) -> None:
    """A check naming a table the pipeline does not load is bad input."""
    names = [r.name for r in resources]
    for check in spec.checks:
        if check.table is not None and check.table not in names:
            raise UserError(
                f"check {check.label} names table {check.table!r}, which this pipeline does "
                f"not load; its tables: {', '.join(names) or 'none'}"
            )


def _check_described(spec: PipelineSpec, table: str) -> str:
    judged = [c for c in spec.checks if c.applies_to(table) and c.severity != "quarantine"]
    what = [plural(len(judged), "check")] if judged else []
    if spec.quality.profile != "off":
        what.append(f"a {spec.quality.profile} profile")
    return f"{' and '.join(what)} on the rows staged for table {table}, before the commit"


def _origin(resource: Resource) -> str:
    """Where a resource comes from, in a few words: 'csv, 3 files' or 'table public.orders'."""
    if resource.format == "query":
        return "a query"
    if resource.format in ("table", "view"):
        return f"{resource.format} {resource.locations[0]}"
    if resource.format == "rest" and resource.locations:
        return f"GET {resource.locations[0]}"
    return f"{resource.format}, {plural(len(resource.locations), 'file')}"
