"""Rate limiting for one REST client, shared by every thread that fetches its pages.

Two brakes, both applied before a request goes out: a cap on the request rate
(``requests_per_second``, spaced evenly), and the API's own rate-limit headers. When an answer
says no requests remain in the window (``X-RateLimit-Remaining``/``X-RateLimit-Reset``, the
IETF draft's ``RateLimit-Remaining``/``RateLimit-Reset``, or its structured ``RateLimit:
…;r=0;t=5``), requests wait until the window resets, so the API never has to refuse one. A 429
blocks every thread for its Retry-After, not just the one that got it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping

# A Reset above this is a Unix timestamp, below it seconds from now (1e9 s is 31 years).
_EPOCH = 1e9
_STRUCTURED = re.compile(r"(?:^|[;,\s])(?P<key>[rt])\s*=\s*(?P<value>\d+(?:\.\d+)?)")


def _number(headers: Mapping[str, str], name: str) -> float | None:
    # `in` first: a missing header is the common case, and a failed lookup raises inside.
    if name not in headers:
        return None
    try:
        return float(headers[name].strip())
    except ValueError:
        return None


def read_headers(headers: Mapping[str, str]) -> tuple[float | None, float | None]:
    """``(remaining, reset_s)`` from an answer's rate-limit headers: the requests left in the
    window and the seconds until it resets (a Unix-time Reset turned into seconds from now)."""
    remaining = _number(headers, "x-ratelimit-remaining")
    reset = _number(headers, "x-ratelimit-reset")
    if remaining is None:
        remaining = _number(headers, "ratelimit-remaining")
        reset = _number(headers, "ratelimit-reset")
    if remaining is None and "ratelimit" in headers:  # draft-ietf-httpapi-ratelimit-headers 08+
        found = {m["key"]: float(m["value"]) for m in _STRUCTURED.finditer(headers["ratelimit"])}
        remaining, reset = found.get("r"), found.get("t")
    if reset is not None and reset > _EPOCH:
        reset = max(0.0, reset - time.time())
    return remaining, reset


MAX_WAIT_S = 60.0
"""The longest one request is held for a Retry-After or a rate-limit window's reset."""


class RateLimiter:
    """Spaces requests out and holds them while the API's window is used up. Thread-safe."""

    def __init__(
        self,
        requests_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0  # when the rate cap lets the next request go
        self._blocked_until = 0.0  # a 429's Retry-After, or an exhausted window's reset
        self._remaining: float | None = None  # requests left in the API's window, as we count
        self._window_ends = 0.0
        self._in_flight = 0  # sent, not yet answered: the API may not have counted them
        self.waited_s = 0.0  # time spent waiting, for reports and tests

    def acquire(self) -> None:
        """Wait until a request may go out, and count it against the window. Every acquire
        is followed by one :meth:`observe` (of the answer's headers, or of none)."""
        held = 0.0  # how long this request has waited for a block or a window
        while True:
            with self._lock:
                now = self._clock()
                if self._remaining is not None and now >= self._window_ends:
                    self._remaining = None  # the window reset; the next answer tells anew
                wait = self._blocked_until - now
                if self._remaining is not None and self._remaining <= 0:
                    wait = max(wait, self._window_ends - now)
                # An API that asks for an hour's wait gets a minute at most: the request
                # then goes out, and a refusal is retried and fails in bounded time.
                wait = min(wait, MAX_WAIT_S - held)
                if wait <= 0:
                    slot = max(now, self._next_slot)
                    self._next_slot = slot + self._interval
                    if self._remaining is not None:
                        self._remaining -= 1
                    self._in_flight += 1
                    wait = slot - now
                    if wait <= 0:
                        return
                    self.waited_s += wait
                    break
                self.waited_s += wait
            self._sleep(wait)
            held += wait
        self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take in an answer's rate-limit headers (``{}`` when a request got no answer)."""
        remaining, reset = read_headers(headers) if headers else (None, None)
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if remaining is None:
                return
            now = self._clock()
            ends = now + (reset if reset is not None else 1.0)
            # The requests still in flight may already count in the API's window.
            remaining -= self._in_flight
            if self._remaining is None or ends > self._window_ends + 0.5:
                self._remaining, self._window_ends = remaining, ends  # a new window
            else:
                # Answers arrive out of order, and requests in flight are not counted in
                # them yet: the lower count is the safe one.
                self._remaining = min(self._remaining, remaining)
                self._window_ends = max(self._window_ends, ends)

    def block(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
