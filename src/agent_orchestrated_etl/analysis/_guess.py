"""Guesses from names: the paginator an endpoint's parameters and response fields describe,
the primary key, the incremental parameter, table names. Each comes with its evidence."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..connectors import Decision
from ..connectors.rest import singular
from ..spec.rest import PaginatorSpec
from .report import FieldReport

PAGE = ("page", "pagenumber", "pagenum", "pageno")
PAGE_SIZE = ("perpage", "pagesize", "limit", "size", "pagelimit", "count", "maxresults")
OFFSET = ("offset", "skip", "start", "startindex")
LIMIT = ("limit", "count", "take", "size", "maxresults", "pagesize")
CURSOR_PARAM = (
    "cursor",
    "pagetoken",
    "after",
    "startingafter",
    "continuationtoken",
    "nexttoken",
    "nextpagetoken",
    "pagecursor",
)
CURSOR_FIELD = ("nextcursor", "cursor", "nextpagetoken", "nexttoken", "endcursor", "after")
NEXT_FIELD = ("next", "nexturl", "nextpage", "nextpageurl", "nextlink", "odatanextlink")
TOTAL = ("total", "totalcount", "totalresults", "totalitems", "totalrecords", "count")
TOTAL_PAGES = ("totalpages", "pages", "pagecount", "lastpage", "numpages")
HAS_MORE = ("hasmore", "hasnext", "hasnextpage", "more")
SINCE = (
    "since",
    "updatedsince",
    "updatedafter",
    "modifiedsince",
    "modifiedafter",
    "changedsince",
)
UPDATED = ("updatedat", "modifiedat", "updated", "lastmodified", "modified", "changedat")
_LARGEST_PAGE = 1000  # a bigger page is fewer requests; past this servers tend to refuse


@dataclass(frozen=True)
class Param:
    """A query parameter as a document declares it."""

    name: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


def norm(name: str) -> str:
    """A name compared loosely: 'per_page', 'perPage' and 'Per-Page' are the same."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _find(names: Iterable[str], wanted: tuple[str, ...]) -> str | None:
    """The first of ``names`` whose loose form (of its last dotted part) is in ``wanted``,
    in ``wanted``'s order of preference."""
    by_norm: dict[str, str] = {}
    for name in names:
        by_norm.setdefault(norm(name.rsplit(".", 1)[-1]), name)
    return next((by_norm[w] for w in wanted if w in by_norm), None)


def _size(param: Param | None, fallback: int | None) -> int | None:
    """The page size to ask for: the largest the parameter allows (up to 1000), else its
    default, else ``fallback``."""
    if param is None:
        return fallback
    if param.maximum is not None and param.maximum >= 1:
        return int(min(param.maximum, _LARGEST_PAGE))
    if isinstance(param.default, int) and param.default >= 1:
        return param.default
    return fallback


def page_size_param(params: Mapping[str, Param]) -> dict[str, str | int]:
    """For a paginator that has no page size of its own (cursor, next URL, Link header): the
    size parameter at its largest, as a resource parameter (fewer, larger pages)."""
    name = _find(params, PAGE_SIZE)
    size = _size(params[name], None) if name else None
    return {name: size} if name and size else {}


def guess_paginator(
    params: Mapping[str, Param], fields: Mapping[str, str], headers: Iterable[str]
) -> tuple[PaginatorSpec, list[Decision]]:
    """The paginator a documented endpoint implies, from its query ``params``, the response's
    scalar ``fields`` (dotted path -> type) and the response ``headers`` it declares."""
    header_names = {norm(h) for h in headers}
    flags = {p: t for p, t in fields.items() if t == "boolean"}
    texts = {p: t for p, t in fields.items() if t == "string"}
    numbers = {p: t for p, t in fields.items() if t in ("integer", "number")}
    has_more = _find(flags, HAS_MORE)
    total = _find(numbers, TOTAL)
    total_pages = _find(numbers, TOTAL_PAGES)
    extra: dict[str, Any] = {"has_more_path": has_more} if has_more else {}
    why_more = f"; has_more from '{has_more}'" if has_more else ""
    cursor_param = _find(params, CURSOR_PARAM)
    cursor_field = _find(texts, CURSOR_FIELD)
    if cursor_param and cursor_field:
        spec = PaginatorSpec(
            type="cursor", cursor_param=cursor_param, cursor_path=cursor_field, **extra
        )
        why = f"query parameter '{cursor_param}' and response field '{cursor_field}'{why_more}"
        return spec, [Decision("paginator", "cursor", why)]
    next_field = _find(texts, NEXT_FIELD)
    if next_field:
        spec = PaginatorSpec(type="next_url", next_url_path=next_field, **extra)
        why = f"response field '{next_field}' holds the next page's URL{why_more}"
        return spec, [Decision("paginator", "next_url", why)]
    if "link" in header_names:
        why = "the response declares a Link header"
        return PaginatorSpec(type="link_header", **extra), [
            Decision("paginator", "link_header", why)
        ]
    offset = _find(params, OFFSET)
    if offset:
        limit = _find([p for p in params if p != offset], LIMIT)
        size = _size(params[limit] if limit else None, 100) or 100
        spec = PaginatorSpec(
            type="offset",
            offset_param=offset,
            limit_param=limit or "limit",
            limit=size,
            total_path=total,
            **extra,
        )
        why = f"query parameters '{offset}'" + (f" and '{limit}'" if limit else "")
        why += f"; total from '{total}'" if total else "; no total: stops at a short page"
        return spec, [Decision("paginator", "offset", why + why_more)]
    page = _find(params, PAGE)
    if page:
        size_name = _find([p for p in params if p != page], PAGE_SIZE)
        first = params[page].minimum if params[page].minimum is not None else params[page].default
        start = int(first) if isinstance(first, int | float) and first in (0, 1) else 1
        spec = PaginatorSpec(
            type="page_number",
            page_param=page,
            start_page=start,
            page_size_param=size_name,
            page_size=_size(params[size_name], None) if size_name else None,
            total_pages_path=total_pages,
            total_path=total if not total_pages else None,
            **extra,
        )
        why = f"query parameter '{page}' (first page {start})"
        why += f", page size '{size_name}'" if size_name else ""
        if total_pages or total:
            why += f"; number of pages from '{total_pages or total}': pages fetched concurrently"
        elif not has_more:
            why += "; no total: pages probed ahead until an empty or short one"
        return spec, [Decision("paginator", "page_number", why + why_more)]
    if cursor_param:
        why = f"query parameter '{cursor_param}' but no response field gives the cursor: "
        why += "detected from the first response"
        return PaginatorSpec(type="auto"), [Decision("paginator", "auto", why)]
    why = "no page, offset or cursor parameter, next link or Link header: one request"
    return PaginatorSpec(type="none"), [Decision("paginator", "none", why)]


def guess_key(noun: str, fields: tuple[FieldReport, ...]) -> tuple[tuple[str, ...], Decision]:
    """The primary key: an 'id' field, else '<noun>_id' (noun singular)."""
    by_name = {f.name: f for f in fields}
    for name in ("id", f"{singular(noun)}_id", f"{noun}_id"):
        found = by_name.get(name)
        if found is not None:
            how = "required" if found.required else "not marked required"
            return (name,), Decision("primary key", name, f"field '{name}' ({how})")
    return (), Decision("primary key", "none", "no 'id' or '<resource>_id' field: appended")


def guess_since(params: Iterable[str], fields: tuple[FieldReport, ...]) -> tuple[str, str] | None:
    """(query parameter, cursor field) for incremental loads: a 'since'-like parameter and an
    updated-at timestamp field."""
    param = _find(params, SINCE)
    stamps = [f.name for f in fields if f.type in ("date-time", "date", "string")]
    field = _find(stamps, UPDATED)
    return (param, field) if param and field else None


def table_names(paths: list[str]) -> list[str]:
    """A table name per path: its fixed segments joined by '_', less the leading segments
    every path shares ('api', 'v1'), unique."""
    parts = [[norm_ident(s) for s in p.split("/") if s and not s.startswith("{")] for p in paths]
    shared = 0
    if len(parts) > 1:
        while all(len(p) > shared + 1 and p[shared] == parts[0][shared] for p in parts):
            shared += 1
    names: list[str] = []
    for segments in parts:
        base = "_".join(s for s in segments[shared:] if s) or "resource"
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def norm_ident(segment: str) -> str:
    """A path segment as part of a table name: lower case, letters, digits and '_'."""
    return re.sub(r"[^a-z0-9]+", "_", segment.lower()).strip("_")
