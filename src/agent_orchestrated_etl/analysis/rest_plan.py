"""A :class:`SourceReport` of a REST API → the ``source:`` of a pipeline that runs as it is.

One source has one ``auth``, so the plan takes the resources that one way of signing in (or
none) reaches, the most of them unless ``tables`` names which; the others are listed with
the reason they were left out. Every choice is a line of ``reasons``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from .report import AuthScheme, ResourceReport, SourceReport


@dataclass
class RestPlan:
    """A REST pipeline's parts: its ``source`` block, mode, the resources in it, and why."""

    source: dict[str, Any]
    mode: str
    resources: list[ResourceReport]
    reasons: list[str] = field(default_factory=list)


def plan_rest(report: SourceReport, *, tables: list[str] | None = None) -> RestPlan:
    """The pipeline ``source`` for ``report``'s resources (those matching ``tables``, names or
    globs, when given), mode merge when every one has a primary key.

    Raises:
        UserError: no base URL, nothing to load, a name in ``tables`` that matches nothing,
            or chosen resources that need two different ways of signing in.
    """
    if report.base_url is None:
        raise UserError(
            f"{report.source} gives no base URL for the API; pass it with --base-url URL"
        )
    reasons: list[str] = []
    chosen = _selected(report, tables, reasons)
    scheme, chosen = _one_auth(report, chosen, explicit=bool(tables), reasons=reasons)
    if not chosen:
        raise UserError(f"{report.source} has no collection endpoint to load")
    source: dict[str, Any] = {"kind": "rest", "uri": report.base_url}
    if scheme is not None and scheme.auth is not None:
        source["auth"] = dict(scheme.auth)
        reasons.append(f"auth {scheme.kind} from security scheme {scheme.name}: {scheme.detail}")
    resources: list[dict[str, Any]] = []
    incremental: dict[str, dict[str, str]] = {}
    for resource in chosen:
        resources.append(_resource(resource))
        cursor = next((d.value for d in resource.decisions if d.what == "incremental"), None)
        endpoint = resource.endpoint
        if cursor and endpoint is not None and endpoint.since_param:
            incremental[resource.name] = {"cursor": cursor}
            reasons.append(
                f"{resource.name}: incremental on {cursor}, sent as '{endpoint.since_param}'"
            )
    source["resources"] = resources
    if incremental:
        source["incremental"] = incremental
    keyless = [r.name for r in chosen if not r.primary_key]
    if keyless:
        mode = "append"
        reasons.append(f"mode append: {', '.join(keyless)} has no primary key to merge on")
    else:
        mode = "merge"
        reasons.append("mode merge: each table on its resource's primary key")
    for resource in chosen:
        reasons.extend(
            f"{resource.name}: {d}" for d in resource.decisions if d.what != "incremental"
        )
    return RestPlan(source, mode, chosen, reasons)


def _resource(resource: ResourceReport) -> dict[str, Any]:
    endpoint = resource.endpoint
    if endpoint is None:  # a report of files or tables has no endpoints
        raise UserError(f"{resource.name} is not a REST endpoint")
    data: dict[str, Any] = {"name": resource.name, "path": endpoint.path}
    if endpoint.send:
        data["params"] = dict(endpoint.send)
    if endpoint.records:
        data["records"] = endpoint.records
    if resource.primary_key:
        data["primary_key"] = list(resource.primary_key)
    if endpoint.paginator is not None:
        paginator = endpoint.paginator.model_dump(mode="json", exclude_defaults=True)
        data["paginator"] = {"type": endpoint.paginator.type, **paginator}
    if endpoint.parent is not None:
        data["parent"] = endpoint.parent.model_dump(mode="json")
    if endpoint.since_param and any(d.what == "incremental" for d in resource.decisions):
        data["since_param"] = endpoint.since_param
    return data


def _selected(
    report: SourceReport, tables: list[str] | None, reasons: list[str]
) -> list[ResourceReport]:
    """The resources ``tables`` names (all without it), each child's parent added."""
    names = [r.name for r in report.resources]
    if tables:
        wanted: set[str] = set()
        for pattern in tables:
            hits = fnmatch.filter(names, pattern)
            if not hits:
                raise UserError(
                    f"no endpoint of {report.source} is called {pattern!r}; it has: "
                    + ", ".join(names)
                )
            wanted.update(hits)
    else:
        wanted = set(names)
    added = True
    while added:  # a child is read once per parent record: its parent comes with it
        added = False
        for resource in report.resources:
            parent = resource.endpoint.parent if resource.endpoint else None
            if resource.name in wanted and parent and parent.resource not in wanted:
                wanted.add(parent.resource)
                reasons.append(f"{parent.resource}: added as the parent of {resource.name}")
                added = True
    return [r for r in report.resources if r.name in wanted]


def _one_auth(
    report: SourceReport, chosen: list[ResourceReport], *, explicit: bool, reasons: list[str]
) -> tuple[AuthScheme | None, list[ResourceReport]]:
    """The way of signing in that reaches the most chosen resources ('' = none needed), and
    those resources."""
    usable = {s.name: s for s in report.auth if s.auth is not None}
    reach: dict[str, list[ResourceReport]] = {}
    for resource in chosen:
        accepted = resource.endpoint.auth if resource.endpoint else ()
        for option in accepted or ("",):
            if option == "" or option in usable:
                reach.setdefault(option, []).append(resource)
    if not reach:
        unusable = {s.name: s.detail for s in report.auth if s.auth is None}
        schemes = sorted({a for r in chosen if r.endpoint for a in r.endpoint.auth})
        raise UserError(
            f"{', '.join(r.name for r in chosen)} can be read only with "
            + ", ".join(f"{n} ({unusable.get(n, 'not declared')})" for n in schemes)
        )
    # Most resources first; on a tie, none over any scheme, then the document's order.
    order = {"": -1, **{s.name: i for i, s in enumerate(report.auth)}}
    best = min(reach, key=lambda o: (-len(reach[o]), order.get(o, len(order))))
    kept = reach[best]
    left = [r for r in chosen if r not in kept]
    if left and explicit:
        need = {r.name: " or ".join(r.endpoint.auth) if r.endpoint else "" for r in left}
        raise UserError(
            "the endpoints chosen need different ways of signing in ("
            + "; ".join(f"{n}: {a or 'unsupported'}" for n, a in need.items())
            + "); plan each group as its own pipeline with --tables"
        )
    for resource in left:
        accepted = resource.endpoint.auth if resource.endpoint else ()
        how = " or ".join(a for a in accepted if a) or "no auth"
        reasons.append(
            f"{resource.name}: left out, it needs {how}; plan it with --tables {resource.name}"
        )
    names = {r.name for r in kept}
    for resource in list(kept):
        parent = resource.endpoint.parent if resource.endpoint else None
        if parent is not None and parent.resource not in names:
            kept.remove(resource)
            names.discard(resource.name)
            reasons.append(f"{resource.name}: left out with its parent {parent.resource}")
    return usable.get(best), kept
