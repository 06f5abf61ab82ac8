"""Paging through a REST collection: every paginator style, concurrent where the style allows.

* page_number / offset: with a total (of records or pages) every page is known after the
  first answer and fetched concurrently; without one, pages are probed ahead
  (``max_concurrency`` at a time) and the first empty or short page, or ``has_more`` false,
  ends the collection (answers past it are dropped).
* cursor / next_url / link_header: sequential by nature, but the next request goes out before
  the caller gets the current page, so processing overlaps fetching.
* auto: the first answer decides (:func:`detect_paginator`), and says why.

Pages come out in order. At most ``max_concurrency`` requests are in flight, and as many
answers wait to be taken, so memory stays bounded whatever the collection's size.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import orjson

from ...errors import UserError, redact
from ...spec.rest import PaginatorSpec
from ..base import Decision
from ._client import RestClient
from ._detect import (
    MISSING,
    detect_paginator,
    detect_selector,
    get_path,
    link_next,
    select_records,
)

__all__ = [
    "Page",
    "detect_paginator",
    "detect_selector",
    "iter_pages",
    "select_records",
]


@dataclass(frozen=True)
class Page:
    """One answer's records. ``url`` is masked; ``number`` counts from 0 in request order."""

    url: str
    number: int
    records: list[Any]
    response_headers: Mapping[str, str]


@dataclass(frozen=True)
class _Answer:
    url: str  # masked
    body: Any
    headers: Mapping[str, str]
    records: list[Any]


class _Fetcher:
    """Fetches and reads one page; the records' place is found on the first answer."""

    def __init__(
        self,
        client: RestClient,
        path: str,
        params: Mapping[str, Any],
        headers: Mapping[str, str],
        selector: str | None,
        decide: Callable[[Decision], None],
    ) -> None:
        self.client, self.path, self.params, self.headers = client, path, params, headers
        self.selector, self.decide = selector, decide
        self.first = True

    def __call__(
        self, url: str, params: Mapping[str, Any] | None, past_end: bool = False
    ) -> _Answer:
        """One page. ``past_end``: the page may lie past the collection's end, where some
        APIs answer 404: that reads as an empty page (the end), not an error."""
        response = self.client.get(url, params, self.headers, missing_ok=past_end)
        shown = self.client.shown(response.url)
        if response.status == 404:
            return _Answer(shown, {}, response.headers, [])
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            shown = self.client.masked(response.url)
            kind = response.headers.get("content-type", "no content type")
            text = " ".join(response.text[:80].split())
            raise UserError(
                f"GET {shown} answered {kind}, not JSON ({redact(text)!r}…); check the "
                "resource's path and the base URL"
            ) from None
        if self.first:
            self.first = False
            if self.selector is None:
                self.selector = detect_selector(body)
                where = f"'{self.selector}'" if self.selector else "the body"
                self.decide(Decision("records", self.selector or "(the body)",
                                     f"the records are {where} of the first response"))  # fmt: skip
            records = select_records(body, self.selector)
        else:
            records = select_records(body, self.selector, strict=False)
        return _Answer(shown, body, response.headers, records)


def _ordered(
    pool: ThreadPoolExecutor, fetch: Callable[[int], _Answer], numbers: Iterable[int], window: int
) -> Generator[tuple[int, _Answer], None, None]:
    """``fetch(n)`` for each n, ``window`` at a time, in order. Closing the iterator cancels
    the requests not yet sent; answers in flight are dropped."""
    pending: deque[tuple[int, Future[_Answer]]] = deque()
    try:
        for number in numbers:
            pending.append((number, pool.submit(fetch, number)))
            if len(pending) >= window:
                number, future = pending.popleft()
                yield number, future.result()
        while pending:
            number, future = pending.popleft()
            yield number, future.result()
    finally:
        for _, future in pending:
            future.cancel()


def _ended(answer: _Answer, spec: PaginatorSpec, size: int | None) -> bool:
    """Whether this answer is the last page: empty, short, or has_more false."""
    if not answer.records:
        return True
    if spec.has_more_path and get_path(answer.body, spec.has_more_path) is False:
        return True
    return size is not None and len(answer.records) < size


def _int_at(body: Any, path: str | None) -> int | None:
    value = get_path(body, path) if path else MISSING
    try:
        return int(value) if value is not MISSING and value is not None else None
    except (TypeError, ValueError):
        return None


def _numbered(
    fetch: _Fetcher,
    spec: PaginatorSpec,
    first: _Answer | None,
    pool: ThreadPoolExecutor,
    window: int,
    guessed: bool,
) -> Iterator[Page]:
    """page_number and offset: page i's parameters are known without the previous page."""
    url = fetch.client.url(fetch.path)
    offset = spec.type == "offset"
    step = spec.limit  # records an offset request moves on by

    def params(i: int) -> dict[str, Any]:
        out = dict(fetch.params)
        if offset:
            out[spec.offset_param] = i * step
            out[spec.limit_param] = step
        else:
            out[spec.page_param] = spec.start_page + i
            if spec.page_size_param and spec.page_size:
                out[spec.page_size_param] = spec.page_size
        return out

    if first is None:
        first = fetch(url, params(0))
    yield Page(first.url, 0, first.records, first.headers)
    asked = spec.limit if offset else spec.page_size
    size = asked or len(first.records) or None
    pages = _int_at(first.body, spec.total_pages_path)
    total = _int_at(first.body, spec.total_path)
    got = len(first.records)
    if total is not None and asked and 0 < got < asked and got < total:
        # The API gives fewer records a page than asked for (its own cap) while the total
        # says more: page by what it gives, so no record is skipped and paging goes on.
        size = asked = step = got
        fetch.decide(Decision("page size", str(got), f"the API caps pages at {got} records"))
        pages = None if offset or spec.total_pages_path is None else pages
    if pages is None and total is not None and size:
        pages = math.ceil(total / size)
    if spec.max_pages is not None:
        pages = min(pages, spec.max_pages) if pages is not None else spec.max_pages
    if _ended(first, spec, asked) or pages == 1:
        return
    numbers: Iterable[int] = range(1, pages) if pages is not None else itertools.count(1)
    probing = pages is None  # no total: pages are asked for until one is empty
    answers = _ordered(pool, lambda i: fetch(url, params(i), probing), numbers, window)
    try:
        previous = first.records
        for number, answer in answers:
            if number > 1 and answer.records and answer.records == previous:
                # Past its end, the API answers with its last page again: the end.
                why = f"page {number + 1} repeated page {number}: the API's last page, read once"
                fetch.decide(Decision("pages", str(number), why))
                return
            previous = answer.records
            if number == 1 and answer.records and answer.records == first.records:
                # The API ignores the page parameter: every page would be this one, forever.
                sent = spec.offset_param if offset else spec.page_param
                if not guessed:
                    raise UserError(
                        f"GET {answer.url}: page 2 repeated page 1, so the API ignores "
                        f"'{sent}'; set the paginator's type to 'none' (one page) or the "
                        "parameter the API pages by"
                    )
                fetch.decide(Decision("paginator", "none", f"page 2 repeated page 1: the API "
                                      f"ignores '{sent}', so it has one page"))  # fmt: skip
                return
            if answer.records:
                yield Page(answer.url, number, answer.records, answer.headers)
            if _ended(answer, spec, size):
                return
    finally:
        answers.close()


def _linked(
    fetch: _Fetcher, spec: PaginatorSpec, first: _Answer | None, pool: ThreadPoolExecutor
) -> Iterator[Page]:
    """cursor, next_url and link_header: each page names the next; the next request is sent
    before the current page is handed over."""
    url: str = fetch.client.url(fetch.path)
    answer = first if first is not None else fetch(url, fetch.params)
    seen: set[str] = set()
    number = 0
    while True:
        # At max_pages the next page is not asked for, so a loop past it is no error.
        last = spec.max_pages is not None and number + 1 >= spec.max_pages
        following = None if last else _following(fetch, spec, answer, url, seen, number + 1)
        future = pool.submit(fetch, *following) if following is not None else None
        try:
            yield Page(answer.url, number, answer.records, answer.headers)
        except BaseException:  # the caller stopped or failed: drop the request if not sent
            if future is not None:
                future.cancel()
            raise
        if future is None:
            return
        answer, number = future.result(), number + 1


def _following(
    fetch: _Fetcher, spec: PaginatorSpec, answer: _Answer, url: str, seen: set[str], read: int
) -> tuple[str, Mapping[str, Any] | None] | None:
    """The request for the page after ``answer`` (the ``read``-th); None when it was the
    last."""
    if _ended(answer, spec, None):
        return None
    if spec.type == "cursor":
        cursor = get_path(answer.body, spec.cursor_path)
        if cursor is MISSING or cursor is None or cursor == "":
            return None
        key = str(cursor)
        if key in seen:
            raise UserError(
                f"GET {answer.url} sent cursor {redact(key)!r} twice: the API repeats a page; "
                f"check paginator.cursor_path, or set paginator.max_pages to {read} or less"
            )
        seen.add(key)
        return url, {**fetch.params, spec.cursor_param: cursor}
    if spec.type == "next_url":
        found = get_path(answer.body, spec.next_url_path)
        target = found if isinstance(found, str) and found else None
        setting = "paginator.next_url_path"
    else:
        target = link_next(answer.headers)
        setting = "the API's Link header"
    if target is None:
        return None
    # A relative next URL is relative to the page that sent it.
    absolute = urljoin(url, target)
    if absolute in seen:
        raise UserError(
            f"GET {answer.url} sent the next URL {fetch.client.masked(absolute)} twice: the API "
            f"repeats a page; check {setting}, or set paginator.max_pages to {read} or less"
        )
    seen.add(absolute)
    return absolute, None


def iter_pages(
    client: RestClient,
    path: str,
    *,
    params: Mapping[str, Any],
    headers: Mapping[str, str],
    paginator: PaginatorSpec,
    selector: str | None,
    max_concurrency: int,
    decide: Callable[[Decision], None] | None = None,
    guessed: bool = False,
) -> Iterator[Page]:
    """The pages of the collection at ``path``, in order (see the module's docstring).

    ``params`` go with every request (the caller's ``since`` and parent values included);
    ``selector`` is where the records are (None: detected from the first answer, and told
    to ``decide``, as an 'auto' paginator's choice is). ``guessed``: ``paginator`` is what an
    'auto' paginator was taken to be (by discovery), so a page 2 that repeats page 1 means
    one page, not a wrong setting.

    Raises:
        UserError: a cursor or next URL comes twice (a loop), a body is not JSON, the records
            are not where ``selector`` says; and what :meth:`RestClient.get` raises.
    """
    told: Callable[[Decision], None] = decide or (lambda _: None)
    fetch = _Fetcher(client, path, params, headers, selector, told)
    spec, first = paginator, None
    if spec.type == "auto":
        first = fetch(client.url(path), params)
        spec, decisions = detect_paginator(first.body, first.headers, fetch.selector, params)
        for decision in decisions:
            told(decision)
        guessed = spec.type in ("page_number", "offset")
    workers = max(1, max_concurrency) if spec.type in ("page_number", "offset") else 1
    pool = ThreadPoolExecutor(workers, thread_name_prefix="aoetl-rest")
    try:
        if spec.type == "none":
            answer = first or fetch(client.url(path), params)
            yield Page(answer.url, 0, answer.records, answer.headers)
        elif spec.type in ("page_number", "offset"):
            yield from _numbered(fetch, spec, first, pool, workers, guessed)
        else:
            yield from _linked(fetch, spec, first, pool)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
