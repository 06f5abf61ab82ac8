"""``aoetl plan``: a pipeline file proposed from what discovery found, with the reasons.

Files, folders and S3 prefixes are planned from their analysis (:mod:`.propose_files`), a
REST API from its document or a probe, a database from what discovery finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..analysis import ResourceReport, SourceReport, analyze, is_document_file, plan_rest
from ..connectors import Resource, source_for
from ..spec import PipelineSpec, validate_spec


@dataclass
class Proposal:
    """What ``aoetl plan`` writes and says: the pipeline file, why, and what was found.

    ``comments`` are the file's YAML comments: under '' the header, under a top-level key
    the lines above it, under 'tasks.<table>' the lines above that table's settings.
    ``checks`` are checks drawn from the analysis, each with the table it is for; they are
    written commented out while pipelines refuse ``checks:``. ``report`` is the analysis the
    plan was drawn from, when there was one.
    """

    document: dict[str, object]
    reasons: list[str]
    discovered: list[dict[str, object]]
    comments: dict[str, list[str]] = field(default_factory=dict)
    checks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    report: SourceReport | None = None

    def to_yaml(self, document: dict[str, Any] | None = None) -> str:
        """The pipeline file: ``document`` (default: this proposal's) with the comments."""
        from ._plan_yaml import commented_yaml

        return commented_yaml(
            self.document if document is None else document, self.comments, self.checks
        )


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


def is_rest(source: str) -> bool:
    """Whether ``source`` is planned as a REST API: an http(s) URL, or an OpenAPI document."""
    return source.lower().startswith(("http://", "https://")) or is_document_file(source)


def propose_rest(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    tables: list[str] | None = None,
    base_url: str | None = None,
) -> Proposal:
    """A REST pipeline from the API's OpenAPI document, or from probing its one collection
    endpoint: every resource with its path, records, key, paginator and parent, auth from
    ``${env:…}``, mode merge when every resource has a key. ``tables`` (names or globs)
    picks the endpoints to load."""
    report = analyze(spec.source, home=home, base_url=base_url)
    plan = plan_rest(report, tables=tables)
    data = spec.model_dump(mode="json", exclude_defaults=True)
    title = report.document.get("title", "")
    if title and spec.name == Path(urlsplit(spec.source.uri).path).stem:
        # The document's file name ('openapi') says less than its title.
        data["name"] = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or spec.name
    data["source"], data["mode"] = plan.source, plan.mode
    validate_spec(data)  # what is written runs: a plan that would not validate is a bug here
    reasons = plan.reasons + [f"warning: {w}" for w in report.warnings]
    return Proposal(data, reasons, [rest_discovered(r) for r in report.resources])


def rest_discovered(resource: ResourceReport) -> dict[str, object]:
    """A REST resource as the analysis found it (the keys :func:`discovered` gives, and the
    endpoint's records, paginator, parent and auth)."""
    endpoint = resource.endpoint.to_dict() if resource.endpoint else {}
    return {
        "table": resource.name,
        "from": [resource.location],
        "kind": resource.format,
        "row_estimate": resource.row_estimate,
        "size_bytes": None,
        "columns": [f.to_dict() for f in resource.fields],
        "primary_key": ", ".join(resource.primary_key) or None,
        "foreign_keys": list(resource.foreign_keys),
        "decisions": [str(d) for d in resource.decisions],
        **{k: endpoint.get(k) for k in ("records", "paginator", "parent", "auth")},
    }


def propose(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    sample_rows: int | None = None,
    report: SourceReport | None = None,
) -> Proposal:
    """A pipeline file for ``spec``'s source, with what discovery suggests filled in.

    Files, folders and S3 prefixes are analysed once (profiled on ``sample_rows`` rows per
    table; ``report``: an analysis of the source already made) and planned by
    :func:`~.propose_files.propose_files`: per table its key and mode, the load order its
    foreign keys give, a cursor, and comments saying why. For database tables: an
    incremental cursor (an update timestamp, or an integer primary key) and, with a
    single-column primary key, mode merge on it. A REST API is planned by
    :func:`propose_rest`. Returns the document, one line per decision saying why, and every
    resource discovery found.
    """
    from .incremental import cursor_candidates

    if is_rest(spec.source.uri):
        return propose_rest(spec, home=home)
    if spec.source.kind in ("files", "s3"):
        from .propose_files import propose_files

        return propose_files(spec, home=home, sample_rows=sample_rows, report=report)

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
