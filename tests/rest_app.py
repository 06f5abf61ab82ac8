"""A real REST API for the tests: every paginator, every auth kind, nested data, a flaky mode.

Served by uvicorn on 127.0.0.1 through the ``rest_api`` fixture (``tests/servers.py``); the
dataset (250 users, each with 0-3 posts) is in ``tests/rest_data.py``. ``/openapi.json`` is
FastAPI's own document (record schemas, paging parameters, security schemes); ``/shop`` is a second,
well-behaved API with its own ``/shop/openapi.json`` (public collections only), for planning a
whole API from its document. ``/_control`` (hidden from the document) sets the flaky mode and
latency and reports counters: requests served and the most served at once.
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import (
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2,
)

from tests.rest_data import (
    ITEMS,
    POSTS,
    POSTS_BY_USER,
    PRODUCTS,
    USERS,
    ClashList,
    ItemList,
    PostPage,
    ProductPage,
    Token,
    User,
    UserCursorPage,
    UserMorePage,
    UserNextPage,
    UserOffsetPage,
    UserPage,
)

__all__ = ["ITEMS", "POSTS", "PRODUCTS", "USERS", "app"]

TOKEN, USER, PASSWORD, API_KEY = "test-token", "alice", "s3cret-pw", "k-123"
CLIENT_ID, CLIENT_SECRET, TOKEN_TTL_S = "cid", "csecret", 2
RATE_LIMIT = 20  # requests per second on /limited/users
PER_PAGE = 50
EXEMPT = {"/_control", "/openapi.json", "/oauth/token", "/shop/openapi.json", "/docs"}


# -- the control state -------------------------------------------------------------------------
@dataclass
class State:
    flaky: float = 0.0
    seed: int = 0
    slow_s: float = 2.0
    latency_ms: float = 0.0
    items_extra: bool = False  # /items records gain an 'extra' field (the data changed)
    token_life_s: float = TOKEN_TTL_S  # below expires_in: tokens die early (revoked), 401
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    tokens_issued: int = 0
    rate_limited: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    tokens: dict[str, float] = field(default_factory=dict)
    window: tuple[int, int] = (0, 0)  # (second, requests in it) for /limited

    def report(self) -> dict[str, Any]:
        return {
            "flaky": self.flaky,
            "seed": self.seed,
            "slow_s": self.slow_s,
            "latency_ms": self.latency_ms,
            "items_extra": self.items_extra,
            "token_life_s": self.token_life_s,
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "tokens_issued": self.tokens_issued,
            "rate_limited": self.rate_limited,
            "injected": dict(self.injected),
            "paths": dict(self.paths),
        }


STATE = State()
SETTINGS = {
    "flaky": float,
    "seed": int,
    "slow_s": float,
    "latency_ms": float,
    "items_extra": bool,
    "token_life_s": float,
}

app = FastAPI(title="aoetl test API", version="1.0.0")


@app.middleware("http")
async def _chaos(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Counts requests and overlap, adds latency, and injects the flaky mode's failures."""
    path = request.url.path
    if path in EXEMPT:
        return await call_next(request)
    s = STATE
    s.requests += 1
    s.paths[path] += 1
    s.in_flight += 1
    s.max_in_flight = max(s.max_in_flight, s.in_flight)
    try:
        if s.latency_ms:
            await asyncio.sleep(s.latency_ms / 1000)
        if s.flaky and s.rng.random() < s.flaky:
            fault = s.rng.choice(["500", "429", "slow"])
            s.injected[fault] += 1
            if fault == "500":
                return JSONResponse({"detail": "injected failure"}, status_code=500)
            if fault == "429":
                return JSONResponse(
                    {"detail": "slow down"}, status_code=429, headers={"Retry-After": "0.1"}
                )
            await asyncio.sleep(s.slow_s)
        return await call_next(request)
    finally:
        s.in_flight -= 1


@app.get("/_control", include_in_schema=False)
async def control_get() -> dict[str, Any]:
    return STATE.report()


@app.post("/_control", include_in_schema=False)
async def control_set(request: Request) -> dict[str, Any]:
    """Settings: flaky, seed, slow_s, latency_ms, items_extra, token_life_s; ``reset``
    restores every default and zeroes the counters; ``reset_counters`` zeroes the counters."""
    global STATE
    body = await request.json()
    unknown = set(body) - set(SETTINGS) - {"reset", "reset_counters"}
    if unknown:
        raise HTTPException(400, f"unknown control settings {sorted(unknown)}")
    if body.get("reset"):
        STATE = State()
    elif body.get("reset_counters"):
        kept = {name: getattr(STATE, name) for name in SETTINGS}
        STATE = State(**kept, rng=STATE.rng)
    for name, cast in SETTINGS.items():
        if name in body:
            setattr(STATE, name, cast(body[name]))
    if "seed" in body:
        STATE.rng = random.Random(STATE.seed)
    return STATE.report()


# -- paging helpers ----------------------------------------------------------------------------
Since = Query(None, description="Only records with updated_at after this ISO timestamp.")
PageQ = Query(1, ge=1, description="The page number, from 1.")
PerPageQ = Query(PER_PAGE, ge=1, le=500, description="Records per page.")


def _users(since: str | None) -> list[dict[str, Any]]:
    if since is None:
        return USERS
    try:
        after = datetime.fromisoformat(since)
    except ValueError:
        raise HTTPException(400, f"since={since!r} is not an ISO timestamp") from None
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    return [u for u in USERS if datetime.fromisoformat(u["updated_at"]) > after]


def _page(rows: list[dict[str, Any]], page: int, per_page: int) -> list[dict[str, Any]]:
    return rows[(page - 1) * per_page : page * per_page]


def _page_body(page: int, per_page: int, since: str | None) -> dict[str, Any]:
    rows = _users(since)
    return {
        "data": _page(rows, page, per_page),
        "page": page,
        "per_page": per_page,
        "total": len(rows),
        "total_pages": math.ceil(len(rows) / per_page),
    }


# -- the paginators ----------------------------------------------------------------------------
@app.get("/page/users", response_model=UserPage, tags=["users"])
async def page_users(page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since) -> Any:
    """Page-number paging with the total and the number of pages."""
    return JSONResponse(_page_body(page, per_page, since))


@app.get("/offset/users", response_model=UserOffsetPage, tags=["users"])
async def offset_users(
    offset: int = Query(0, ge=0, description="Records to skip."),
    limit: int = Query(PER_PAGE, ge=1, le=500, description="Records per request."),
    since: str | None = Since,
) -> Any:
    rows = _users(since)
    return JSONResponse({"items": rows[offset : offset + limit], "total": len(rows)})


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


@app.get("/cursor/users", response_model=UserCursorPage, tags=["users"])
async def cursor_users(
    cursor: str | None = Query(None, description="The next_cursor of the previous page."),
    limit: int = Query(PER_PAGE, ge=1, le=500, description="Records per request."),
    since: str | None = Since,
) -> Any:
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])
        except (ValueError, IndexError):
            raise HTTPException(400, f"bad cursor {cursor!r}") from None
    rows = _users(since)
    more = start + limit < len(rows)
    return JSONResponse(
        {
            "results": rows[start : start + limit],
            "next_cursor": _cursor(start + limit) if more else None,
        }
    )


@app.get("/next/users", response_model=UserNextPage, tags=["users"])
async def next_users(
    request: Request, page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since
) -> Any:
    rows = _users(since)
    more = page * per_page < len(rows)
    nxt = str(request.url.include_query_params(page=page + 1)) if more else None
    return JSONResponse({"data": _page(rows, page, per_page), "next": nxt})


@app.get("/link/users", response_model=list[User], tags=["users"])
async def link_users(
    request: Request, page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since
) -> Any:
    """A bare list; a ``Link: <…>; rel="next"`` header while pages remain."""
    rows = _users(since)
    headers = {}
    if page * per_page < len(rows):
        headers["Link"] = f'<{request.url.include_query_params(page=page + 1)}>; rel="next"'
    return JSONResponse(_page(rows, page, per_page), headers=headers)


@app.get("/hasmore/users", response_model=UserMorePage, tags=["users"])
async def hasmore_users(
    page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since
) -> Any:
    rows = _users(since)
    return JSONResponse(
        {"data": _page(rows, page, per_page), "has_more": page * per_page < len(rows)}
    )


@app.get("/probe/users", response_model=list[User], tags=["users"])
async def probe_users(
    page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since
) -> Any:
    """A bare list with no total and no links; past the end, an empty list."""
    return JSONResponse(_page(_users(since), page, per_page))


@app.get("/loop/users", response_model=UserCursorPage, tags=["broken"])
async def loop_users(cursor: str | None = Query(None), since: str | None = Since) -> Any:
    """A broken API: the same next_cursor on every page."""
    return JSONResponse({"results": _users(since)[:PER_PAGE], "next_cursor": "c-same"})


@app.get("/page/users/{user_id}/posts", response_model=PostPage, tags=["users"])
async def user_posts(
    user_id: int, page: int = PageQ, per_page: int = Query(2, ge=1, le=500)
) -> Any:
    """A child resource: one user's posts, two a page by default."""
    if user_id not in POSTS_BY_USER:
        raise HTTPException(404, f"no user {user_id}")
    rows = POSTS_BY_USER[user_id]
    pages = max(1, math.ceil(len(rows) / per_page))
    return JSONResponse({"data": _page(rows, page, per_page), "total_pages": pages})


# -- the odd ones ------------------------------------------------------------------------------
@app.get("/items", response_model=ItemList, tags=["misc"])
async def items(page: int = PageQ) -> Any:
    """Five small records (the connector conformance case); ``items_extra`` adds a field."""
    rows = [{**i, "extra": "x"} if STATE.items_extra else i for i in ITEMS]
    return JSONResponse({"data": rows if page == 1 else []})


@app.get("/capped/users", response_model=UserOffsetPage, tags=["users"])
async def capped_users(
    offset: int = Query(0, ge=0), limit: int = Query(PER_PAGE, ge=1), page: int = Query(0, ge=0)
) -> Any:
    """At most 40 records a request whatever the limit asks (by offset, or by page from 1)."""
    rows, size = _users(None), min(limit, 40)
    start = (page - 1) * size if page else offset
    return JSONResponse({"items": rows[start : start + size], "total": len(rows)})


@app.get("/clamped/users", response_model=list[User], tags=["users"])
async def clamped_users(page: int = PageQ) -> Any:
    """A bare list by page number whose pages past the end repeat the last one."""
    rows = _users(None)
    last = max(1, math.ceil(len(rows) / PER_PAGE))
    return JSONResponse(_page(rows, min(page, last), PER_PAGE))


@app.get("/strict/users", response_model=list[User], tags=["users"])
async def strict_users(page: int = PageQ) -> Any:
    """A bare list by page number that answers 404 past its last page (as DRF does)."""
    rows = _users(None)
    if page > max(1, math.ceil(len(rows) / PER_PAGE)):
        return JSONResponse({"detail": "Invalid page."}, status_code=404)
    return JSONResponse(_page(rows, page, PER_PAGE))


@app.get("/fixed/items", response_model=ItemList, tags=["broken"])
async def fixed_items(page: int = PageQ) -> Any:
    """The same records whatever the page: an API that ignores the page parameter."""
    return JSONResponse({"data": ITEMS})


@app.get("/clash/items", response_model=ClashList, tags=["misc"])
async def clash_items(page: int = PageQ) -> Any:
    """``value`` is an integer on pages 1-2 and a string ('n/a') on page 3; page 4 is empty."""
    if page > 3:
        return JSONResponse({"data": []})
    rows = [
        {"id": (page - 1) * 5 + i, "value": "n/a" if page == 3 else (page - 1) * 5 + i * 10}
        for i in range(1, 6)
    ]
    return JSONResponse({"data": rows})


@app.get("/bad/items", tags=["misc"])
async def bad_items(page: int = PageQ) -> Any:
    """One record that is a number, one object whose id is null."""
    rows: list[Any] = [
        {"id": 1, "name": "a"},
        42,
        {"id": None, "name": "c"},
        {"id": 4, "name": "d"},
    ]
    return JSONResponse({"data": rows if page == 1 else []})


@app.get("/limited/users", response_model=UserPage, tags=["users"])
async def limited_users(
    page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since
) -> Any:
    """Rate-limit headers, and 429 with Retry-After past 20 requests in one second."""
    now = time.time()
    second, count = STATE.window
    if int(now) != second:
        second, count = int(now), 0
    count += 1
    STATE.window = (second, count)
    reset = f"{second + 1 - now:.2f}"
    headers = {
        "X-RateLimit-Limit": str(RATE_LIMIT),
        "X-RateLimit-Remaining": str(max(0, RATE_LIMIT - count)),
        "X-RateLimit-Reset": reset,
    }
    if count > RATE_LIMIT:
        STATE.rate_limited += 1
        return JSONResponse(
            {"detail": "rate limit exceeded"}, 429, headers={**headers, "Retry-After": reset}
        )
    return JSONResponse(_page_body(page, per_page, since), headers=headers)


# -- auth --------------------------------------------------------------------------------------
bearer = HTTPBearer(auto_error=False)
basic = HTTPBasic(auto_error=False)
key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
key_query = APIKeyQuery(name="api_key", auto_error=False)
oauth2 = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token")),
    auto_error=False,
)


def _denied(kind: str) -> HTTPException:
    return HTTPException(401, f"{kind} credentials missing or wrong", {"WWW-Authenticate": kind})


def _check_bearer(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
    if cred is None or cred.credentials != TOKEN:
        raise _denied("Bearer")


def _check_basic(cred: HTTPBasicCredentials | None = Depends(basic)) -> None:
    if cred is None or (cred.username, cred.password) != (USER, PASSWORD):
        raise _denied("Basic")


def _check_key_header(key: str | None = Depends(key_header)) -> None:
    if key != API_KEY:
        raise _denied("ApiKey")


def _check_key_query(key: str | None = Depends(key_query)) -> None:
    if key != API_KEY:
        raise _denied("ApiKey")


def _check_oauth(header: str | None = Depends(oauth2)) -> None:
    token = (header or "").removeprefix("Bearer ").removeprefix("bearer ")
    if STATE.tokens.get(token, 0) < time.monotonic():
        raise _denied("Bearer")


for _kind, _check in [
    ("bearer", _check_bearer),
    ("basic", _check_basic),
    ("key-header", _check_key_header),
    ("key-query", _check_key_query),
    ("oauth", _check_oauth),
]:

    async def _auth_users(
        page: int = PageQ, per_page: int = PerPageQ, since: str | None = Since
    ) -> Any:
        return JSONResponse(_page_body(page, per_page, since))

    app.get(
        f"/auth/{_kind}/users",
        response_model=UserPage,
        tags=["auth"],
        dependencies=[Depends(_check)],
        operation_id=f"auth_{_kind.replace('-', '_')}_users",
        summary=f"Users behind {_kind} auth (paged like /page/users)",
    )(_auth_users)


@app.post("/oauth/token", response_model=Token, tags=["auth"])
async def oauth_token(request: Request) -> Any:
    """Client credentials, in the form or as HTTP basic; the token lives two seconds."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    client = (form.get("client_id"), form.get("client_secret"))
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        client = (user, pw)
    if form.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, 400)
    if client != (CLIENT_ID, CLIENT_SECRET):
        return JSONResponse({"error": "invalid_client"}, 401)
    token = "tok-" + secrets.token_hex(8)
    STATE.tokens[token] = time.monotonic() + STATE.token_life_s
    STATE.tokens_issued += 1
    return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL_S})


# -- /shop: a small, well-behaved API with its own document ------------------------------------
shop = FastAPI(title="aoetl test shop", version="1.0.0")


@shop.get("/users", response_model=UserPage)
async def shop_users(page: int = PageQ, per_page: int = PerPageQ) -> Any:
    return JSONResponse(_page_body(page, per_page, None))


@shop.get("/users/{user_id}/posts", response_model=PostPage)
async def shop_user_posts(user_id: int, page: int = PageQ) -> Any:
    return await user_posts(user_id, page, 2)


@shop.get("/products", response_model=ProductPage)
async def shop_products(offset: int = Query(0, ge=0), limit: int = Query(10, ge=1, le=100)) -> Any:
    return JSONResponse({"items": PRODUCTS[offset : offset + limit], "total": len(PRODUCTS)})


app.mount("/shop", shop)
