"""Paging against the real test API (``tests/rest_app.py`` served by uvicorn): every paginator
style loads the 250 users once and in order, concurrency, probing, loop detection and the
auto-detection's evidence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent_orchestrated_etl.connectors.base import Decision
from agent_orchestrated_etl.connectors.rest._client import RestClient
from agent_orchestrated_etl.connectors.rest._paging import (
    Page,
    detect_paginator,
    detect_selector,
    iter_pages,
    select_records,
)
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.resilience import RetryPolicy
from agent_orchestrated_etl.spec.rest import PaginatorSpec
from agent_orchestrated_etl.spec.source import RestSourceSpec
from tests.servers import RestApi

USERS = 250


@pytest.fixture
def api(rest_api: RestApi) -> Iterator[RestApi]:
    rest_api.control(reset=True)
    yield rest_api
    rest_api.control(reset=True)


def _client(api: RestApi, **options: Any) -> RestClient:
    spec = RestSourceSpec(uri=api.url, **options)
    return RestClient(spec, api.url, endpoint=None, retry=RetryPolicy(5, 0.05, 1.0))


def _pages(
    api: RestApi,
    path: str,
    paginator: PaginatorSpec | None = None,
    *,
    concurrency: int = 4,
    params: dict[str, Any] | None = None,
    selector: str | None = None,
    decisions: list[Decision] | None = None,
) -> list[Page]:
    with _client(api) as client:
        return list(
            iter_pages(
                client,
                path,
                params=params or {},
                headers={},
                paginator=paginator or PaginatorSpec(),
                selector=selector,
                max_concurrency=concurrency,
                decide=(decisions.append if decisions is not None else None),
            )
        )


def _ids(pages: list[Page]) -> list[int]:
    return [record["id"] for page in pages for record in page.records]


EXPLICIT = {
    "page total": ("page/users", PaginatorSpec(type="page_number", total_pages_path="total_pages")),
    "page probe": ("probe/users", PaginatorSpec(type="page_number")),
    "page size": (
        "page/users",
        PaginatorSpec(
            type="page_number", page_size_param="per_page", page_size=30, total_path="total"
        ),
    ),
    "offset": ("offset/users", PaginatorSpec(type="offset", limit=40, total_path="total")),
    "offset probe": ("offset/users", PaginatorSpec(type="offset", limit=64)),
    "cursor": ("cursor/users", PaginatorSpec(type="cursor")),
    "next url": ("next/users", PaginatorSpec(type="next_url")),
    "link": ("link/users", PaginatorSpec(type="link_header")),
    "has_more": ("hasmore/users", PaginatorSpec(type="page_number", has_more_path="has_more")),
}


@pytest.mark.parametrize("case", list(EXPLICIT), ids=list(EXPLICIT))
def test_every_paginator_loads_every_user_once_in_order(api: RestApi, case: str) -> None:
    path, paginator = EXPLICIT[case]
    pages = _pages(api, path, paginator)
    assert _ids(pages) == list(range(1, USERS + 1)) or sorted(_ids(pages)) == _ids(pages)
    assert len(_ids(pages)) == USERS and len(set(_ids(pages))) == USERS
    assert [p.number for p in pages] == list(range(len(pages)))


AUTO = {
    "page/users": ("page_number", "total_pages"),
    "offset/users": ("offset", "total"),
    "cursor/users": ("cursor", "next_cursor"),
    "next/users": ("next_url", "'next'"),
    "link/users": ("link_header", "Link header"),
    "hasmore/users": ("page_number", "has_more"),
    "probe/users": ("page_number", "bare list"),
}


@pytest.mark.parametrize("path", list(AUTO))
def test_auto_detects_the_paginator_and_says_why(api: RestApi, path: str) -> None:
    decisions: list[Decision] = []
    pages = _pages(api, path, decisions=decisions)
    assert len(_ids(pages)) == USERS and len(set(_ids(pages))) == USERS
    style, evidence = AUTO[path]
    [chosen] = [d for d in decisions if d.what == "paginator"]
    assert chosen.value == style and evidence in chosen.reason, chosen
    assert any(d.what == "records" for d in decisions)


def test_pages_with_a_known_total_are_fetched_concurrently(api: RestApi) -> None:
    api.control(latency_ms=100)
    paginator = PaginatorSpec(
        type="page_number", page_size_param="per_page", page_size=25, total_path="total"
    )
    api.control(reset_counters=True)
    pages = _pages(api, "page/users", paginator, concurrency=8)
    assert _ids(pages) == sorted(_ids(pages)) and len(_ids(pages)) == USERS
    assert api.stats()["max_in_flight"] >= 6  # 10 pages, 8 at a time
    api.control(reset_counters=True)
    _pages(api, "page/users", paginator, concurrency=1)
    assert api.stats()["max_in_flight"] == 1


def test_probing_stops_at_the_first_empty_page(api: RestApi) -> None:
    api.control(reset_counters=True)
    pages = _pages(api, "probe/users", PaginatorSpec(type="page_number"), concurrency=3)
    assert len(_ids(pages)) == USERS
    # 5 full pages, then a window of 3 probes past the end at most.
    assert int(api.stats()["requests"]) <= 5 + 3
    assert all(page.records for page in pages)


def test_a_repeated_cursor_is_a_loop_error(api: RestApi) -> None:
    with pytest.raises(UserError, match=r"sent cursor 'c-same' twice.*max_pages to 2 or less"):
        _pages(api, "loop/users", PaginatorSpec(type="cursor"))
    for cap in (1, 2):  # the error's advice works: the cap stops before the loop
        capped = _pages(api, "loop/users", PaginatorSpec(type="cursor", max_pages=cap))
        assert len(capped) == cap and len(capped[0].records) == 50


def test_an_api_that_ignores_the_page_parameter_is_never_read_forever(api: RestApi) -> None:
    with pytest.raises(UserError, match=r"page 2 repeated page 1, so the API ignores 'page'"):
        _pages(api, "fixed/items", PaginatorSpec(type="page_number"), selector="data")
    with _client(api) as client:
        guessed = list(
            iter_pages(
                client, "fixed/items", params={}, headers={},
                paginator=PaginatorSpec(type="page_number"), selector="data",
                max_concurrency=4, guessed=True,
            )
        )  # fmt: skip
    assert len(guessed) == 1  # what discovery took for page numbers is one page


def test_max_pages_caps_every_style(api: RestApi) -> None:
    for path, paginator in EXPLICIT.values():
        capped = paginator.model_copy(update={"max_pages": 2})
        assert len(_pages(api, path, capped)) == 2, path


def test_the_caller_params_go_with_every_page(api: RestApi) -> None:
    since = "2024-06-01T00:00:00+00:00"
    every = _ids(_pages(api, "cursor/users", PaginatorSpec(type="cursor")))
    later = _ids(_pages(api, "cursor/users", PaginatorSpec(type="cursor"), params={"since": since}))
    assert 0 < len(later) < len(every)
    assert set(later) <= set(every)


def test_a_wrong_records_path_and_a_body_that_is_not_json_are_user_errors(api: RestApi) -> None:
    with pytest.raises(UserError, match=r"no 'rows'.*keys are 'data'.*records"):
        _pages(api, "page/users", PaginatorSpec(type="none"), selector="rows")
    with pytest.raises(UserError, match=r"docs answered text/html.*not JSON"):
        _pages(api, "docs", PaginatorSpec(type="none"))


def test_select_and_detect_records() -> None:
    body = {"meta": {"total": 2}, "data": {"items": [{"id": 1}, {"id": 2}]}}
    assert detect_selector(body) == "data.items"
    assert select_records(body, None) == [{"id": 1}, {"id": 2}]
    assert select_records(body, "$.data.items[*].id") == [1, 2]
    assert select_records(body, "$.data.items") == [{"id": 1}, {"id": 2}]
    assert detect_selector([{"id": 1}]) is None
    assert detect_selector({"tags": ["a"], "results": [{"a": 1}], "x": []}) == "results"
    assert select_records({"data": None}, "data") == []
    with pytest.raises(UserError, match="not a JSONPath"):
        select_records(body, "$[[")


def test_detect_paginator_evidence() -> None:
    spec, [why] = detect_paginator({"data": [], "meta": {"next_cursor": "x"}}, {}, "data", {})
    assert (spec.type, spec.cursor_path, spec.cursor_param) == ("cursor", "meta.next_cursor",
                                                                "cursor")  # fmt: skip
    assert "meta.next_cursor" in str(why)
    spec, _ = detect_paginator({"items": [], "nextPageToken": "t"}, {}, "items", {})
    assert spec.cursor_param == "pageToken"
    spec, _ = detect_paginator({"data": [{}], "links": {"next": "/x?page=2"}}, {}, "data", {})
    assert (spec.type, spec.next_url_path) == ("next_url", "links.next")
    spec, _ = detect_paginator({"rows": [{}] * 3, "offset": 0, "total": 9}, {}, "rows", {})
    assert (spec.type, spec.limit, spec.total_path) == ("offset", 3, "total")
    spec, _ = detect_paginator({"data": [{}] * 2, "total": 4}, {}, "data", {"page": 1})
    assert (spec.type, spec.page_size, spec.total_path) == ("page_number", 2, "total")


def test_an_api_that_caps_the_page_size_is_paged_by_what_it_gives(api: RestApi) -> None:
    for paginator in (
        PaginatorSpec(type="offset", limit=100, total_path="total"),
        PaginatorSpec(type="page_number", page_size_param="limit", page_size=100,
                      total_path="total"),
    ):  # fmt: skip
        decisions: list[Decision] = []
        pages = _pages(api, "capped/users", paginator, selector="items", decisions=decisions)
        assert _ids(pages) == list(range(1, 251)), paginator.type
        assert "page size: 40 (the API caps pages at 40 records)" in map(str, decisions)


def test_a_404_past_the_end_of_a_probed_collection_is_its_end(api: RestApi) -> None:
    pages = _pages(api, "strict/users", PaginatorSpec(type="page_number"))
    assert _ids(pages) == list(range(1, 251))
    with pytest.raises(UserError, match="HTTP 404"):  # a first page that is missing is not
        _pages(api, "strict/nothing", PaginatorSpec(type="page_number"))


def test_an_api_that_repeats_its_last_page_past_the_end_is_read_once(api: RestApi) -> None:
    decisions: list[Decision] = []
    pages = _pages(api, "clamped/users", PaginatorSpec(type="page_number"), decisions=decisions)
    assert _ids(pages) == list(range(1, 251))
    assert any("the API's last page, read once" in str(d) for d in decisions)
