"""Probing a collection endpoint that has no document: one GET through the REST transport,
then where the records are, their fields, the paginator, the key and any rate-limit headers,
each a guess with its evidence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..connectors import Decision
from ..errors import UserError
from . import _guess
from .report import AuthScheme, EndpointReport, FieldReport, ResourceReport, SourceReport

_STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_RATE_HEADERS = ("x-ratelimit-", "ratelimit-", "x-rate-limit-", "retry-after")
_NESTING = 6
# Query parameters that carry a credential: the plan sends them as api_key auth from ${env:…}.
_SECRET_PARAMS = ("apikey", "key", "token", "accesstoken", "auth", "secret", "clientsecret",
                  "password", "signature", "sig", "code")  # fmt: skip


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        if _STAMP.fullmatch(value):
            return "date-time"
        return "date" if _DATE.fullmatch(value) else "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        inner = {_value_type(v) for v in value if v is not None}
        return f"array<{_widest(inner)}>" if inner else "array<any>"
    return "any"


def _widest(types: set[str]) -> str:
    """One type for the values a field had across records (the widening a load does)."""
    if len(types) == 1:
        return next(iter(types))
    if types <= {"integer", "number"}:
        return "number"
    if types <= {"date", "date-time"}:
        return "date-time"
    if all(t in ("string", "date", "date-time") for t in types):
        return "string"
    return "any"


def infer_fields(records: list[Any], depth: int = 0) -> tuple[FieldReport, ...]:
    """Fields of sample records: each key's type over every record that has it, required
    when every record has it, nullable when one holds null; nested objects and arrays of
    objects get their own fields."""
    objects = [r for r in records if isinstance(r, Mapping)]
    order: dict[str, None] = {}
    for record in objects:
        order.update(dict.fromkeys(str(k) for k in record))
    found: list[FieldReport] = []
    for name in order:
        values = [r[name] for r in objects if name in r]
        present = [v for v in values if v is not None]
        kind = _widest({_value_type(v) for v in present}) if present else "any"
        nested: tuple[FieldReport, ...] = ()
        if depth < _NESTING and kind == "object":
            nested = infer_fields(present, depth + 1)
        elif depth < _NESTING and kind == "array<object>":
            nested = infer_fields([x for v in present for x in v], depth + 1)
        found.append(
            FieldReport(
                name=name,
                type=kind,
                required=len(values) == len(objects),
                nullable=len(present) < len(values),
                fields=nested,
            )
        )
    return tuple(found)


def _key(noun: str, records: list[Any]) -> tuple[tuple[str, ...], Decision]:
    """The key the REST source would detect, with its decision."""
    from ..connectors.rest import detect_key

    decisions: list[Decision] = []
    key = detect_key(noun, [r for r in records if isinstance(r, dict)], decisions)
    return key, decisions[-1]


def rate_limits(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers of a response, by their lower-case names."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(_RATE_HEADERS)}


def probe_response(
    url: str, display: str, status: int, headers: Mapping[str, str], body: Any
) -> SourceReport:
    """The report of a collection endpoint from its first answer (``body`` parsed JSON).

    ``url`` is the resolved URL asked (it may hold secrets: only its path and query names
    are used), ``display`` the same, masked.

    Raises:
        UserError: the answer holds no list of records.
    """
    from ..connectors.rest import detect_paginator, detect_selector, select_records

    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    selector = detect_selector(body)
    records = select_records(body, selector, strict=False)
    if not isinstance(body, list) and selector is None:
        raise UserError(
            f"{display} answered a JSON object with no list of records (keys: "
            f"{', '.join(list(body)[:8]) if isinstance(body, Mapping) else type(body).__name__}); "
            "give a collection endpoint, or an OpenAPI document"
        )
    report = SourceReport(kind="rest", source=display, method="probe")
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    report.base_url = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    if parts.username:  # never the password itself: the plan reads it from the environment
        auth = {
            "type": "basic",
            "username": "${env:API_USERNAME}",
            "password": "${env:API_PASSWORD}",
        }
        why = "the URL holds a user name: set API_USERNAME and API_PASSWORD"
        report.auth.append(AuthScheme("url user", "basic", auth, why))
    why = f"HTTP {status}: the body is a list" if selector is None else f"the body's '{selector}'"
    decisions = [Decision("records", selector or "the body", f"{why}, {len(records)} records")]
    paginator, said = detect_paginator(body, headers, selector, params)
    decisions += said
    limits = rate_limits(headers)
    report.rate_limit = limits
    if limits:
        shown_limits = ", ".join(f"{k}: {v}" for k, v in limits.items())
        decisions.append(
            Decision("rate limit", shown_limits, "response headers: requests are paced by them")
        )
    if not records:
        report.warnings.append(f"{display} returned no records: their fields are unknown")
    nouns = [s for s in parts.path.split("/") if s]
    noun = nouns[-1] if nouns else "records"
    key, key_decision = _key(noun, records)
    own = {paginator.page_param, paginator.offset_param, paginator.cursor_param}
    own |= {paginator.limit_param, paginator.page_size_param or ""}
    secret = [k for k in params if _guess.norm(k) in _SECRET_PARAMS]
    for name in secret[:1]:
        auth = {"type": "api_key", "name": name, "value": "${env:API_KEY}", "location": "query"}
        why = f"the URL's '{name}' looks like a credential: set API_KEY, it is sent from there"
        report.auth.append(AuthScheme("url query key", "api_key", auth, why))
    endpoint = EndpointReport(
        path=parts.path or "/",
        records=selector,
        paginator=paginator,
        params=tuple(params),
        auth=tuple(a.name for a in report.auth),
        send={k: v for k, v in params.items() if k not in own and k not in secret},
    )
    report.resources = [
        ResourceReport(
            name=_guess.norm_ident(noun) or "records",
            location=parts.path or "/",
            format="rest",
            fields=infer_fields(records),
            primary_key=key,
            decisions=(*decisions, key_decision),
            endpoint=endpoint,
        )
    ]
    return report
