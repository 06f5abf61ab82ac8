"""Reading an OpenAPI 3.0/3.1 or Swagger 2.0 document into a :class:`SourceReport`.

The document is checked with ``openapi-spec-validator`` (what it finds is a warning: real
documents often break a rule that does not matter here), its ``$ref`` are resolved with
``jsonref`` (local references only: a document never makes aoetl fetch other URLs), and each
GET endpoint whose 2xx response is a list of objects, bare or in an envelope, becomes a
resource with its record schema, paginator, key, auth and parent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import jsonref  # type: ignore[import-untyped]

from ..connectors import Decision
from ..errors import UserError
from ..spec.rest import ParentSpec
from . import _auth, _guess, _schemas
from .report import EndpointReport, ResourceReport, SourceReport

# A cursor paginator has no page size setting: a size parameter goes with every request. Not
# for next URLs or Link headers: a next link may drop it, and pages of two sizes overlap.
_SIZELESS = ("cursor",)


def is_document(body: Any) -> bool:
    """Whether a parsed JSON or YAML body is an OpenAPI or Swagger document."""
    return isinstance(body, Mapping) and ("openapi" in body or "swagger" in body)


def load_file(path: Path) -> dict[str, Any]:
    """A local JSON or YAML document, parsed.

    Raises:
        UserError: it cannot be read or parsed.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the OpenAPI document {path}: {exc}") from None
    try:
        body = yaml.safe_load(text)  # YAML 1.2 reads JSON too
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(
            f"{path} is neither JSON nor YAML{where}: {getattr(exc, 'problem', exc)}; give an "
            "OpenAPI document"
        ) from None
    if not isinstance(body, dict):
        raise UserError(f"{path} is not an OpenAPI document (it holds no object at the top)")
    return body


def _version(document: Mapping[str, Any], display: str) -> tuple[str, str]:
    if "openapi" in document and str(document["openapi"]).startswith("3."):
        return "openapi", str(document["openapi"])
    if str(document.get("swagger", "")) == "2.0":
        return "swagger", "2.0"
    given = document.get("openapi", document.get("swagger"))
    raise UserError(
        f"{display} declares version {given!r}; aoetl reads OpenAPI 3.0, 3.1 and Swagger 2.0"
    )


def _validate(document: Mapping[str, Any], fmt: str, version: str) -> list[str]:
    import openapi_spec_validator as osv

    validator = {
        "2": osv.OpenAPIV2SpecValidator,
        "3.0": osv.OpenAPIV30SpecValidator,
        "3.1": osv.OpenAPIV31SpecValidator,
    }.get("2" if fmt == "swagger" else version[:3], osv.OpenAPIV31SpecValidator)
    try:
        errors = list(validator(document).iter_errors())
    except Exception as exc:  # a validator crash on odd input is not the document's fault
        return [f"the document could not be validated ({type(exc).__name__}): read as it is"]
    if not errors:
        return []
    first = str(getattr(errors[0], "message", errors[0])).splitlines()[0][:200]
    where = "/".join(str(p) for p in getattr(errors[0], "absolute_path", ()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return [
        f"the document is not valid {fmt} {version}: {first}"
        + (f" at {where}" if where else "")
        + more
    ]


def _no_remote(uri: str) -> Any:
    raise UserError(f"the document refers to {uri}; aoetl resolves only references inside it")


def base_url_of(document: Mapping[str, Any], fmt: str, url: str | None) -> tuple[str | None, str]:
    """The API's base URL and where it came from: OpenAPI 3's first server (its variables at
    their defaults; relative to the document's URL), or Swagger's scheme, host and basePath."""
    if fmt == "swagger":
        origin = urlsplit(url) if url else None
        host = document.get("host") or (origin.netloc if origin else None)
        if not host:
            return None, "the document has no 'host' and was not read from a URL"
        schemes = document.get("schemes") or [origin.scheme if origin else "https"]
        base = f"{schemes[0]}://{host}{document.get('basePath') or ''}"
        return base.rstrip("/"), "schemes, host and basePath"
    servers = document.get("servers") or [{"url": "/"}]
    first: Mapping[str, Any] = servers[0] if isinstance(servers[0], Mapping) else {"url": "/"}
    server = str(first.get("url", "/"))
    for name, var in (first.get("variables") or {}).items():
        server = server.replace("{" + str(name) + "}", str(var.get("default", "")))
    if urlsplit(server).scheme:
        return server.rstrip("/"), "servers[0].url"
    if url is None:
        return None, f"servers[0].url {server!r} is relative and the document is a local file"
    return urljoin(url, server).rstrip("/"), f"servers[0].url {server!r} joined to the document URL"


def read_document(
    document: Mapping[str, Any],
    *,
    display: str,
    url: str | None = None,
    base_url: str | None = None,
) -> SourceReport:
    """The report of an OpenAPI or Swagger document read from ``url`` (None for a file).

    ``base_url`` overrides the API's base URL the document gives.

    Raises:
        UserError: it is not a document aoetl can read at all.
    """
    fmt, version = _version(document, display)
    info: Mapping[str, Any] = document.get("info") or {}
    if not isinstance(info, Mapping):
        info = {}
    report = SourceReport(kind="rest", source=display, method="openapi")
    report.document = {"format": fmt, "version": version, "title": str(info.get("title", ""))}
    report.warnings.extend(_validate(document, fmt, version))
    resolved = jsonref.replace_refs(dict(document), loader=_no_remote, proxies=True, lazy_load=True)
    if base_url:
        report.base_url = base_url.rstrip("/")
        report.decisions.append(Decision("base URL", report.base_url, "given"))
    else:
        report.base_url, why = base_url_of(document, fmt, url)
        if report.base_url:
            report.decisions.append(Decision("base URL", report.base_url, why))
        else:
            report.warnings.append(f"no base URL: {why}; give one with --base-url")
    report.auth = _auth.schemes(resolved, report.base_url)
    paths = resolved.get("paths") or {}
    found: list[tuple[str, EndpointReport, ResourceReport]] = []
    for path, item in paths.items():
        operation = item.get("get") if isinstance(item, Mapping) else None
        if not isinstance(operation, Mapping):
            continue
        try:
            endpoint = _endpoint(str(path), item, operation, resolved, fmt)
        except (jsonref.JsonRefError, UserError) as exc:
            report.warnings.append(f"GET {path} skipped: {_short(exc)}")
            continue
        if endpoint is not None:
            found.append((str(path), *endpoint))
    report.resources = _named_and_linked([f[1:] for f in found], report)
    for resource in report.resources:
        for decision in resource.decisions:
            if decision.what == "rate limit":
                for header in decision.value.split(", "):
                    report.rate_limit[header] = f"declared by GET {resource.location}"
    if not report.resources:
        report.warnings.append("no GET endpoint returns a list of objects")
    return report


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def _parameters(item: Mapping[str, Any], operation: Mapping[str, Any]) -> dict[str, _guess.Param]:
    """Query parameters of the operation (its own win over the path's)."""
    params: dict[str, _guess.Param] = {}
    for raw in [*(item.get("parameters") or ()), *(operation.get("parameters") or ())]:
        if not isinstance(raw, Mapping) or raw.get("in") != "query" or "name" not in raw:
            continue
        schema = _schemas.merged(raw.get("schema") or raw)  # Swagger 2.0 puts it inline
        params[str(raw["name"])] = _guess.Param(
            str(raw["name"]), schema.get("default"), schema.get("minimum"), schema.get("maximum")
        )
    return params


def _response(operation: Mapping[str, Any], fmt: str) -> tuple[Any, Mapping[str, Any]] | None:
    """The first 2xx JSON response's schema and its declared headers."""
    responses = operation.get("responses") or {}
    for code in sorted(str(c) for c in responses):
        if not re.fullmatch(r"2(\d\d|XX)", code):
            continue
        response = responses.get(code) if code in responses else responses.get(int(code))
        if not isinstance(response, Mapping):
            continue
        headers = response.get("headers") or {}
        if fmt == "swagger":
            if response.get("schema") is not None:
                return response["schema"], headers
            continue
        for media, content in (response.get("content") or {}).items():
            json_like = "json" in media or media == "*/*"
            if json_like and isinstance(content, Mapping) and content.get("schema") is not None:
                return content["schema"], headers
    return None


def _endpoint(
    path: str,
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    document: Mapping[str, Any],
    fmt: str,
) -> tuple[EndpointReport, ResourceReport] | None:
    response = _response(operation, fmt)
    if response is None:
        return None
    schema, headers = response
    found = _schemas.records_of(schema)
    if found is None:
        return None
    selector, item_schema, why_records = found
    decisions = [Decision("records", selector or "the body", why_records)]
    fields = _schemas.fields_of(item_schema)
    params = _parameters(item, operation)
    paginator, said = _guess.guess_paginator(params, _schemas.envelope(schema, selector), headers)
    decisions += said
    limits = [h for h in headers if _guess.norm(h).startswith(("xratelimit", "ratelimit"))]
    if limits:
        decisions.append(Decision("rate limit", ", ".join(limits), "declared response headers"))
    auth = _auth.requirement(operation, document.get("security"))
    if auth:
        decisions.append(Decision("auth", " or ".join(a or "none" for a in auth), "security"))
    since = _guess.guess_since(params, fields)
    endpoint = EndpointReport(
        path=path,
        records=selector,
        paginator=paginator,
        params=tuple(params),
        auth=auth,
        since_param=since[0] if since else None,
        send=_guess.page_size_param(params) if paginator.type in _SIZELESS else {},
    )
    if since:
        decisions.append(
            Decision(
                "incremental", since[1], f"query parameter '{since[0]}' and field '{since[1]}'"
            )
        )
    noun = [s for s in path.split("/") if s and not s.startswith("{")]
    key, key_decision = _guess.guess_key(noun[-1] if noun else "record", fields)
    resource = ResourceReport(
        name="",
        location=path,
        format="rest",
        fields=fields,
        primary_key=key,
        decisions=(*decisions, key_decision),
        endpoint=endpoint,
    )
    return endpoint, resource


def _named_and_linked(
    found: list[tuple[EndpointReport, ResourceReport]], report: SourceReport
) -> list[ResourceReport]:
    """Resources with table names, and each child linked to the collection its path is under
    (``/users/{user_id}/posts`` under ``/users``, ``user_id`` filled from the user's key)."""
    from dataclasses import replace

    names = _guess.table_names([e.path for e, _ in found])
    by_path = {e.path: (name, r) for (e, r), name in zip(found, names, strict=True)}
    resources: list[ResourceReport] = []
    for (endpoint, resource), name in zip(found, names, strict=True):
        holes = re.findall(r"\{([^}]+)\}", endpoint.path)
        if not holes:
            resources.append(replace(resource, name=name))
            continue
        prefix = endpoint.path[: endpoint.path.index("{")].rstrip("/")
        parent = by_path.get(prefix)
        if parent is None or len(holes) > 1 or re.search(r"\{", prefix):
            report.warnings.append(
                f"GET {endpoint.path} skipped: no collection at {prefix or '/'} fills "
                + ", ".join("{" + h + "}" for h in holes)
            )
            continue
        parent_name, parent_resource = parent
        field = _parent_field(holes[0], parent_resource)
        if field is None:
            report.warnings.append(
                f"GET {endpoint.path} skipped: {parent_name} has no key or field to fill "
                f"{{{holes[0]}}}"
            )
            continue
        link = ParentSpec(resource=parent_name, params={holes[0]: field})
        why = f"path under {prefix}: {{{holes[0]}}} from each {parent_name} record's '{field}'"
        resources.append(
            replace(
                resource,
                name=name,
                endpoint=replace(endpoint, parent=link),
                foreign_keys=(f"_{parent_name}_{field} -> {parent_name}({field})",),
                decisions=(*resource.decisions, Decision("parent", parent_name, why)),
            )
        )
    return resources


def _parent_field(hole: str, parent: ResourceReport) -> str | None:
    """The parent's field that fills ``{hole}``: its one-column key, else a field named so."""
    if len(parent.primary_key) == 1:
        return parent.primary_key[0]
    return hole if hole in {f.name for f in parent.fields} else None
