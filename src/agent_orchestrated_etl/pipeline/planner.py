"""Plan a pipeline: discover the source, fingerprint what will be read, and build the Plan.

The Plan is pure (see :mod:`engine.plan`): a load task names its table, and whoever runs it
finds the table's resource again, from the :class:`PipelinePlan` in this process or from a
new discovery in another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._text import plural
from ..connectors import Resource, Source
from ..engine import COMMIT, CommitParams, EventBus, LoadParams, Plan, Task, load_task_id
from ..errors import NotSupportedError, UserError
from ..spec import PipelineSpec
from ..transform import describe_step
from .connect import discover_source


@dataclass
class PipelinePlan:
    """What the planner decided: the resources, the tasks, and why."""

    spec: PipelineSpec
    source: Source
    resources: list[Resource]
    plan: Plan
    notes: list[str]
    fingerprints: dict[str, str]

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
) -> PipelinePlan:
    """Discover the source and build the Plan: one load task per resource, then one commit.

    ``home`` is AOETL_HOME. Connecting and discovery are retried (see :mod:`pipeline.connect`);
    ``bus`` gets an event for each attempt.
    """
    if spec.checks:
        raise NotSupportedError(
            "checks are declared but this version of aoetl cannot run them yet; "
            "remove 'checks' from the pipeline to load without them"
        )
    source, resources = discover_source(spec, home=home, bus=bus, run_id=run_id)
    try:
        return _plan(spec, source, resources)
    except BaseException:
        source.close()
        raise


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
    tasks = [
        Task(
            load_task_id(r.name),
            "load",
            params=LoadParams(r.name, source.endpoint),
            description=f"{_origin(r)} -> table {r.name} ({spec.mode})"
            + (f", {plural(len(steps), 'transform step')}" if steps else "")
            + path,
        )
        for r in resources
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
    notes = list(source.notes)
    fingerprints = {r.name: resource_fingerprint(digest, source, r) for r in resources}
    return PipelinePlan(spec, source, resources, Plan(tasks), notes, fingerprints)


def _origin(resource: Resource) -> str:
    """Where a resource comes from, in a few words: 'csv, 3 files' or 'table public.orders'."""
    if resource.format == "query":
        return "a query"
    if resource.format in ("table", "view"):
        return f"{resource.format} {resource.locations[0]}"
    if resource.format == "rest" and resource.locations:
        return f"GET {resource.locations[0]}"
    return f"{resource.format}, {plural(len(resource.locations), 'file')}"
