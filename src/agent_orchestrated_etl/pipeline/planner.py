"""Plan a pipeline: discover the source, fingerprint what will be read, and build the Plan."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .._text import plural
from ..connectors import Resource, Source, source_for
from ..engine import Plan, Task
from ..errors import NotSupportedError
from ..spec import PipelineSpec
from ..transform import describe_step


@dataclass
class PipelinePlan:
    """What the planner decided: the resources, the tasks, and why."""

    spec: PipelineSpec
    source: Source
    resources: list[Resource]
    plan: Plan
    notes: list[str]
    fingerprints: dict[str, str]


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


def plan_pipeline(spec: PipelineSpec) -> PipelinePlan:
    """Discover the source and build the Plan: one load task per resource, then one commit."""
    if spec.checks:
        raise NotSupportedError(
            "checks are declared but this version of aoetl cannot run them yet; "
            "remove 'checks' from the pipeline to load without them"
        )
    source = source_for(spec.source)
    resources = source.discover()
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
            f"load:{r.name}",
            "load",
            params={"resource": r, "endpoint": getattr(source, "endpoint", None)},
            description=f"{_origin(r)} -> table {r.name} ({spec.mode})"
            + (f", {plural(len(steps), 'transform step')}" if steps else "")
            + path,
        )
        for r in resources
    ]
    tasks.append(
        Task(
            "commit",
            "commit",
            tuple(t.id for t in tasks),
            description="make every staged table visible at once",
        )
    )
    notes = list(getattr(source, "notes", []))
    fingerprints = {r.name: resource_fingerprint(digest, source, r) for r in resources}
    return PipelinePlan(spec, source, resources, Plan(tasks), notes, fingerprints)


def _origin(resource: Resource) -> str:
    """Where a resource comes from, in a few words: 'csv, 3 files' or 'table public.orders'."""
    if resource.format == "query":
        return "a query"
    if resource.format in ("table", "view"):
        return f"{resource.format} {resource.locations[0]}"
    return f"{resource.format}, {plural(len(resource.locations), 'file')}"
