"""Plan a pipeline: discover the source, fingerprint what will be read, and build the Plan."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

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
    data = spec.model_dump(mode="json", exclude={"retries", "timeout_s", "breaker", "tasks"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def resource_fingerprint(spec_digest: str, resource: Resource) -> str:
    """Changes when the spec or any input file (name, size, modification time) changes."""
    h = hashlib.sha256(spec_digest.encode())
    for location in resource.locations:
        try:
            stat = os.stat(location)
            h.update(f"{location}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        except OSError:
            h.update(f"{location}\0?\0".encode())
    h.update(json.dumps([resource.columns, resource.read_options]).encode())
    return h.hexdigest()[:16]


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
    fused = not any("python" in type(s).model_fields for s in spec.transforms)
    tasks = [
        Task(
            f"load:{r.name}",
            "load",
            params={"resource": r, "endpoint": getattr(source, "endpoint", None)},
            description=f"{r.format}, {len(r.locations)} file(s) -> table {r.name} ({spec.mode})"
            + (f", {len(steps)} transform step(s)" if steps else "")
            + ("; one DuckDB statement" if fused else "; streamed through Python"),
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
    fingerprints = {r.name: resource_fingerprint(digest, r) for r in resources}
    return PipelinePlan(spec, source, resources, Plan(tasks), notes, fingerprints)
