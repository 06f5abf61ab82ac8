"""``aoetl plan``: a pipeline file proposed from what discovery found, with the reasons."""

from __future__ import annotations

from dataclasses import dataclass
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
    decisions = list(resource.decisions)
    prefixed = {
        prefix: [d.removeprefix(prefix) for d in decisions if d.startswith(prefix)]
        for prefix in ("primary key: ", "foreign key: ")
    }
    return {
        "table": resource.name,
        "from": list(resource.locations),
        "kind": resource.format,
        "row_estimate": resource.row_estimate,
        "size_bytes": resource.size_bytes or None,
        "columns": [{"name": n, "type": t} for n, t in resource.columns],
        "primary_key": next(iter(prefixed["primary key: "]), None),
        "foreign_keys": prefixed["foreign key: "],
        "decisions": decisions,
    }


def propose(spec: PipelineSpec) -> Proposal:
    """A pipeline file for ``spec``'s source, with what discovery suggests filled in.

    For database tables: an incremental cursor (an update timestamp, or an integer primary
    key) and, with a single-column primary key, mode merge on it. Returns the document, one
    line per decision saying why, and every resource discovery found.
    """
    from .incremental import cursor_candidates

    source = source_for(spec.source)
    resources = source.discover()
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
        pks = [d for d in resource.decisions if d.startswith("primary key: ")]
        pk = pks[0].removeprefix("primary key: ") if pks else None
        keys.append(tuple(k.strip() for k in pk.split(",")) if pk else None)
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
