"""The REST benchmark's API: a bare ASGI app with precomputed page bodies.

``GET /users?page=N&per_page=P`` answers ``{"data": [...], "page", "per_page", "total",
"total_pages"}`` after ``BENCH_LATENCY_MS`` of server-side latency; a page past the end has an
empty ``data``. Every body is serialised once at start-up (orjson), so the server spends its
time on HTTP and the latency, not on building JSON: the benchmark measures the clients.

Configured by the environment (uvicorn imports this module in its own process):
``BENCH_RECORDS`` (default 100000), ``BENCH_PER_PAGE`` (100), ``BENCH_LATENCY_MS`` (5).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))
PER_PAGE = int(os.environ.get("BENCH_PER_PAGE", "100"))
LATENCY_S = float(os.environ.get("BENCH_LATENCY_MS", "5")) / 1000
CITIES = ("Lisbon", "Oslo", "Quito", "Hanoi", "Accra", "Perth", "Lima", "Riga")
START = datetime(2024, 1, 1, tzinfo=UTC)


def record(i: int) -> dict[str, Any]:
    """One user: a few typed fields (int, text, float, bool, timestamp) and one nested object."""
    return {
        "id": i,
        "name": f"user {i}",
        "email": f"user{i}@example.com",
        "score": round((i * 7919) % 10_000 / 100, 2),
        "active": i % 3 != 0,
        "updated_at": (START + timedelta(seconds=i * 37)).isoformat(),
        "address": {"city": CITIES[i % len(CITIES)], "zip": f"{10000 + i % 89999}"},
    }


def bodies(records: int, per_page: int) -> dict[int, bytes]:
    """Every page's body by page number (1-based), serialised once."""
    total_pages = -(-records // per_page)
    pages = {}
    for page in range(1, total_pages + 1):
        first = (page - 1) * per_page + 1
        last = min(first + per_page, records + 1)
        pages[page] = orjson.dumps(
            {
                "data": [record(i) for i in range(first, last)],
                "page": page,
                "per_page": per_page,
                "total": records,
                "total_pages": total_pages,
            }
        )
    return pages


PAGES = bodies(RECORDS, PER_PAGE)
TOTAL_PAGES = len(PAGES)


def past_end(page: int) -> bytes:
    return orjson.dumps(
        {
            "data": [],
            "page": page,
            "per_page": PER_PAGE,
            "total": RECORDS,
            "total_pages": TOTAL_PAGES,
        }
    )


async def respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    if scope["path"] not in ("/users", "/users/"):
        await respond(send, 404, b'{"detail": "not found"}')
        return
    query = parse_qs(scope["query_string"].decode())
    try:
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", [str(PER_PAGE)])[0])
    except ValueError:
        await respond(send, 400, b'{"detail": "page and per_page are integers"}')
        return
    if per_page != PER_PAGE:
        # The bodies are precomputed for one page size; another one would be a wrong answer.
        await respond(send, 400, b'{"detail": "per_page must be %d"}' % PER_PAGE)
        return
    if LATENCY_S:
        await asyncio.sleep(LATENCY_S)
    await respond(send, 200, PAGES.get(page) or past_end(page))
