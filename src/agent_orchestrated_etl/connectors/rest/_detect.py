"""Reading a REST answer: where its records are (:func:`select_records`,
:func:`detect_selector`) and how it pages (:func:`detect_paginator`), each guess with its
evidence."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from ...errors import UserError
from ...spec.rest import PaginatorSpec
from ..base import Decision

MISSING: Any = object()
"""What :func:`get_path` returns for a path the body does not have."""

# The usual names, most usual first. A dotted name is a path into the body.
_RECORD_KEYS = ("data", "items", "results", "records", "rows", "entries", "values", "objects")
_CURSOR_KEYS = (
    "next_cursor", "nextCursor", "next_page_token", "nextPageToken", "next_token", "nextToken",
    "cursor", "meta.next_cursor", "meta.cursor", "pagination.next_cursor", "paging.cursors.after",
)  # fmt: skip
_NEXT_URL_KEYS = (
    "next", "next_url", "nextUrl", "next_page_url", "links.next", "links.next.href",
    "_links.next.href", "paging.next", "meta.next", "pagination.next",
)  # fmt: skip
_TOTAL_PAGES_KEYS = ("total_pages", "totalPages", "pages", "page_count", "meta.total_pages",
                     "pagination.total_pages", "meta.pagination.total_pages")  # fmt: skip
_TOTAL_KEYS = ("total", "total_count", "totalCount", "count", "total_results", "meta.total",
               "pagination.total", "meta.pagination.total")  # fmt: skip
_PAGE_KEYS = ("page", "current_page", "page_number", "meta.page", "pagination.page")
_PAGE_SIZE_KEYS = ("per_page", "page_size", "pageSize", "meta.per_page", "pagination.per_page")
_HAS_MORE_KEYS = ("has_more", "hasMore", "has_next", "hasNext", "meta.has_more")
_PAGE_PARAMS = ("page", "page_number", "pageNumber", "p")
_SIZE_PARAMS = ("per_page", "page_size", "pageSize", "size", "limit")
_OFFSET_PARAMS = ("offset", "skip", "start")
_LIMIT_PARAMS = ("limit", "count", "size", "take")


def get_path(body: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``body``; :data:`MISSING` when it is not there."""
    for part in path.split("."):
        if isinstance(body, Mapping) and part in body:
            body = body[part]
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return MISSING
    return body


@functools.lru_cache(maxsize=64)
def _jsonpath(selector: str) -> JSONPath:
    try:
        return parse_jsonpath(selector)
    except (JsonPathParserError, Exception) as exc:
        raise UserError(
            f"records: {selector!r} is not a JSONPath ({exc}); write '$.data[*]' or a dotted "
            "path such as 'data.items'"
        ) from None


def _keys_of(body: Any) -> str:
    if isinstance(body, Mapping):
        return "its keys are " + ", ".join(repr(k) for k in list(body)[:12])
    return f"it is a JSON {type(body).__name__}"


def select_records(body: Any, selector: str | None, *, strict: bool = True) -> list[Any]:
    """The records of ``body`` at ``selector``: a dotted path ('data.items') or a JSONPath
    ('$.data[*]'); None detects it (:func:`detect_selector`). A list at the path is the
    records, an object one record, null none.

    Raises:
        UserError: ``strict`` and the body has nothing at ``selector``.
    """
    if selector is None:
        selector = detect_selector(body)
        if selector is None:
            return list(body) if isinstance(body, list) else [body]
    if selector.startswith("$"):
        found = [match.value for match in _jsonpath(selector).find(body)]
        if len(found) == 1 and isinstance(found[0], list):
            return list(found[0])
        if not found and strict:
            raise UserError(
                f"records: the JSONPath {selector!r} matches nothing in the response "
                f"({_keys_of(body)}); fix the resource's 'records'"
            )
        return found
    value = get_path(body, selector)
    if value is MISSING:
        if strict:
            raise UserError(
                f"records: the response has no {selector!r} ({_keys_of(body)}); fix the "
                "resource's 'records'"
            )
        return []
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _record_lists(body: Mapping[str, Any], prefix: str = "") -> list[tuple[str, list[Any]]]:
    found = []
    for key, value in body.items():
        if isinstance(value, list) and (not value or isinstance(value[0], Mapping)):
            found.append((prefix + str(key), value))
    return found


def detect_selector(body: Any) -> str | None:
    """Where ``body``'s records are: None for the body itself (a list, or an object that is
    one record); else the one key (or key one level down) that holds a list of objects,
    the usual names ('data', 'items', 'results'…) first when there are several."""
    if not isinstance(body, Mapping):
        return None
    found = _record_lists(body)
    if not found:
        for key, value in body.items():
            if isinstance(value, Mapping):
                found += _record_lists(value, f"{key}.")
    if not found:
        return None
    full = [(path, rows) for path, rows in found if rows] or found
    if len(full) == 1:
        return full[0][0]
    for name in _RECORD_KEYS:
        for path, _ in full:
            if path.rsplit(".", 1)[-1] == name:
                return path
    return full[0][0]


# RFC 8288: `<url>; rel="next"; title=…, <url>; rel=…` (several Link headers arrive joined
# by commas). The URL is in angle brackets, so commas inside it do not split links.
_LINK = re.compile(r"<(?P<url>[^>]*)>(?P<params>(?:\s*;\s*[^;,]+)*)")


def link_next(headers: Mapping[str, str]) -> str | None:
    """The URL of a ``Link: <…>; rel="next"`` header."""
    value = headers.get("link") or headers.get("Link")
    if not value:
        return None
    for link in _LINK.finditer(value):
        for param in link["params"].split(";"):
            key, _, rel = param.partition("=")
            if key.strip().lower() == "rel" and "next" in rel.strip().strip("\"'").split():
                return link["url"].strip() or None
    return None


def _first(body: Any, keys: tuple[str, ...], want: type | tuple[type, ...]) -> str | None:
    for key in keys:
        value = get_path(body, key)
        if value is not MISSING and isinstance(value, want) and not isinstance(value, bool):
            return key
    return None


def _looks_like_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"(?:https?://|/|\?)", value))


def _cursor_param(key: str) -> str:
    """'next_cursor' -> 'cursor', 'nextPageToken' -> 'pageToken', 'meta.cursor' -> 'cursor'."""
    last = key.rsplit(".", 1)[-1]
    if last.startswith("next_"):
        return last[5:]
    if last.startswith("next") and last[4:5].isupper():
        return last[4].lower() + last[5:]
    return "cursor" if last == "after" else last


def _param(params: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in params), None)


def detect_paginator(
    body: Any,
    headers: Mapping[str, str],
    selector: str | None,
    request_params: Mapping[str, Any],
) -> tuple[PaginatorSpec, list[Decision]]:
    """How a collection pages, from its first answer: the paginator and the evidence.

    In order: a ``Link`` rel=next header; a next URL in the body; a cursor in the body; a
    total (of pages or records) with a page number; an offset or limit; a total alone (an
    offset paginator); a has_more flag; else page numbers probed until an empty page.
    """
    records = select_records(body, selector, strict=False)
    has_more = next((k for k in _HAS_MORE_KEYS if isinstance(get_path(body, k), bool)), None)
    more = {"has_more_path": has_more} if has_more else {}
    also = f", and '{has_more}' says whether more follow" if has_more else ""

    def made(reason: str, **fields: Any) -> tuple[PaginatorSpec, list[Decision]]:
        spec = PaginatorSpec(**fields, **more)
        return spec, [Decision("paginator", spec.type, reason + also)]

    if link_next(headers):
        return made('the response has a Link header with rel="next"', type="link_header")
    if not isinstance(body, Mapping):
        page = _param(request_params, _PAGE_PARAMS) or "page"
        return made(
            f"the response is a bare list with no paging hints: page numbers ('{page}') are "
            "probed until an empty or short page",
            type="page_number",
            page_param=page,
        )
    for key in _NEXT_URL_KEYS:
        if _looks_like_url(get_path(body, key)):
            return made(f"the response's '{key}' holds a URL", type="next_url", next_url_path=key)
    cursor = _first(body, _CURSOR_KEYS, (str, int))
    if cursor is None:
        cursor = next((k for k in _CURSOR_KEYS[:7] if get_path(body, k) is None), None)
    if cursor is not None:
        param = _cursor_param(cursor)
        return made(
            f"the response has '{cursor}': a cursor sent back as '{param}'",
            type="cursor",
            cursor_path=cursor,
            cursor_param=param,
        )
    total_pages = _first(body, _TOTAL_PAGES_KEYS, (int, str))
    total = _first(body, _TOTAL_KEYS, int)
    page_key = _first(body, _PAGE_KEYS, int)
    page_param = _param(request_params, _PAGE_PARAMS)
    size_key = _first(body, _PAGE_SIZE_KEYS, int)
    size_param = _param(request_params, _SIZE_PARAMS)
    if (total_pages or total) and (page_key or page_param):
        param = page_param or page_key.rsplit(".", 1)[-1]  # type: ignore[union-attr]
        start = get_path(body, page_key) if page_key else request_params[param]
        size = get_path(body, size_key) if size_key else None
        evidence = total_pages or total
        return made(
            f"the response has '{evidence}' and a page number ('{page_key or page_param}'): "
            "every page is known after the first, so pages are fetched concurrently",
            type="page_number",
            page_param=param if param in _PAGE_PARAMS else "page",
            start_page=int(start),
            page_size=int(size or request_params.get(size_param or "", 0) or len(records) or 1),
            total_pages_path=total_pages,
            total_path=None if total_pages else total,
        )
    offset_param = _param(request_params, _OFFSET_PARAMS)
    limit_param = _param(request_params, _LIMIT_PARAMS)
    offset_key = _first(body, ("offset", "skip", "meta.offset"), int)
    if offset_param or offset_key or total:
        limit = request_params.get(limit_param or "") or get_path(body, "limit")
        limit = int(limit) if isinstance(limit, int | str) and str(limit).isdigit() else 0
        why = (
            f"the request or response has an offset ('{offset_param or offset_key}')"
            if offset_param or offset_key
            else f"the response has a total ('{total}') but no page number: an offset is guessed"
        )
        return made(
            why + (f" and a total ('{total}'): pages are fetched concurrently" if total else ""),
            type="offset",
            offset_param=offset_param or "offset",
            limit_param=limit_param or "limit",
            limit=limit or max(1, len(records)),
            total_path=total,
        )
    page = page_param or "page"
    if has_more:
        return made(
            f"the response has '{has_more}': page numbers ('{page}') are probed until it is false",
            type="page_number",
            page_param=page,
        )
    return made(
        f"the response has no paging hints: page numbers ('{page}') are probed until an empty "
        "or short page (a page that repeats the first ends it too)",
        type="page_number",
        page_param=page,
    )
