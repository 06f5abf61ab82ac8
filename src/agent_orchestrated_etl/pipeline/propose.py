"""``aoetl plan``: a pipeline file proposed from what discovery found, with the reasons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..connectors import Resource, source_for
from ..spec import PipelineSpec


@dataclass
class Proposal:
    """What ``aoetl plan`` writes and says: the pipeline file, why, and what was found."""

    document: dict[str, object]
    reasons: list[str]
    discovered: list[dict[str, object]]


def discovered(resource: Resource) -> dict[str, object]:
    """One resource as discovery found it, in plain data (for ``aoetl plan --json``)."""
    return {
        "table": resource.name,
        "from": list(resource.locations),
        "kind": resource.format,
        "row_estimate": resource.row_estimate,
        "size_bytes": resource.size_bytes or None,
        "columns": [{"name": n, "type": t} for n, t in resource.columns],
        "primary_key": ", ".join(resource.primary_key) or None,
        "foreign_keys": [str(fk) for fk in resource.foreign_keys],
        "decisions": [str(d) for d in resource.decisions],
    }


def propose(spec: PipelineSpec, *, home: Path | None = None) -> Proposal:
    """A pipeline file for ``spec``'s source, with what discovery suggests filled in.

    For database tables: an incremental cursor (an update timestamp, or an integer primary
    key) and, with a single-column primary key, mode merge on it. Returns the document, one
    line per decision saying why, and every resource discovery found.
    """
    from .incremental import cursor_candidates

    source = source_for(spec.source, home=home)
    try:
        resources = source.discover()
    finally:
        source.close()
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("name", spec.name)
    reasons: list[str] = []
    incremental: dict[str, dict[str, str]] = {}
    keys: list[tuple[str, ...] | None] = []
    for resource in resources:
        candidates = cursor_candidates(resource)
        if candidates:
            incremental[resource.name] = {"cursor": candidates[0]}
            others = f" (other candidates: {', '.join(candidates[1:])})" if candidates[1:] else ""
            reasons.append(f"{resource.name}: incremental on {candidates[0]}{others}")
        keys.append(resource.primary_key or None)
    source_data: dict[str, object] = dict(data.get("source") or {"uri": spec.source.uri})
    uri = str(source_data.get("uri", ""))
    parts = urlsplit(uri)
    if parts.password and not parts.password.startswith("${"):
        # A pipeline file never holds a password: it holds a reference to one.
        source_data["uri"] = uri.replace(f":{parts.password}@", ":${env:PGPASSWORD}@", 1)
        reasons.append(
            "the password in the URL was replaced by ${env:PGPASSWORD}; set that variable, or "
            "use a ${secret:vault:…} or ${secret:aws:…} reference"
        )
    if incremental:
        source_data["incremental"] = incremental
    if "tables" not in source_data and resources and resources[0].format == "table":
        source_data["tables"] = [r.locations[0] for r in resources]
    data["source"] = source_data
    distinct = set(keys)
    first_key = keys[0] if keys else None
    if len(distinct) == 1 and first_key is not None and "key" not in data:
        data["mode"], data["key"] = "merge", list(first_key)
        reasons.append(f"mode merge on {', '.join(first_key)}: the primary key of every table")
    elif any(keys):
        reasons.append(
            "the tables do not share one primary key, so the mode stays append; give each its "
            "own pipeline to merge on its key"
        )
    return Proposal(data, reasons, [discovered(r) for r in resources])
