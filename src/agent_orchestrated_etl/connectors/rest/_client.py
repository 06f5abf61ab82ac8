"""The REST transport: one pooled httpx client per source, shared by the threads that fetch
its pages. Every request waits for the rate limiter, goes through the endpoint's circuit
breaker and is retried alone by a :class:`RetryPolicy` when it fails transiently.

Only a request that got no answer (refused, reset, timed out) counts against the breaker: an
API that answers 500 or 429 is up, and its failures are the retry policy's business. So a
flaky API never trips the circuit, while a dead one opens it after
``failure_threshold`` attempts, and from then on every request fails at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from ...errors import AoetlError, FatalError, TransientError, classify_httpx, redact
from ...resilience import BREAKERS, CircuitBreaker, CircuitOpenError, RetryPolicy
from ...secrets import has_refs, register_url
from ...spec.rest import ApiKeyAuth
from ...spec.source import RestSourceSpec
from ._auth import make_auth, secret
from ._limits import RateLimiter

DEFAULT_RETRY = RetryPolicy(attempts=5, base_s=0.2, cap_s=10.0)
"""A page is cheap to fetch again: more attempts, sooner, than a task's retries."""
# The breaker's settings when the pipeline has not made the endpoint's breaker yet (the first
# caller's settings win): the pipeline's defaults.
_FAILURE_THRESHOLD, _COOLDOWN_S = 5, 30.0
_MASK = "***"


class RestClient:
    """GET requests against one API. Thread-safe.

    ``base_url`` is the resolved URI (it may hold a password or key: never shown);
    ``endpoint`` keys the circuit breaker (None: no breaker); ``retry`` retries each request
    (default :data:`DEFAULT_RETRY`).
    """

    def __init__(
        self,
        spec: RestSourceSpec,
        base_url: str,
        *,
        endpoint: str | None,
        retry: RetryPolicy | None = None,
    ) -> None:
        register_url(base_url)
        parts = urlsplit(base_url)
        # The base URL's own query (an API key, a version) goes with every relative request.
        self._base_params = parse_qsl(parts.query, keep_blank_values=True)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self._base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self._spec = spec
        self._retry = retry or DEFAULT_RETRY
        self.endpoint = endpoint
        self._breaker: CircuitBreaker | None = (
            BREAKERS.get(
                f"{endpoint} (requests)",
                failure_threshold=_FAILURE_THRESHOLD,
                cooldown_s=_COOLDOWN_S,
            )
            if endpoint
            else None
        )
        self.limiter = RateLimiter(spec.requests_per_second)
        self._query_key = (
            spec.auth.name
            if isinstance(spec.auth, ApiKeyAuth) and spec.auth.location == "query"
            else None
        )
        self._http = httpx.Client(
            timeout=spec.timeout_s,
            limits=httpx.Limits(
                max_connections=spec.max_concurrency + 2,
                max_keepalive_connections=spec.max_concurrency + 2,
            ),
            follow_redirects=True,
            headers={"Accept": "application/json"},
        )
        self._auth = make_auth(spec.auth, post=self._http.post, base_url=self._base)
        self._lock = threading.Lock()
        self.requests = 0  # requests sent, retries included
        self._last_failure = "no answer"  # why the last request got no answer, for messages

    # -- URLs -----------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """An absolute URL as it is; a path joined under the base URL (a leading '/' too:
        paths are relative to the API, not to the host)."""
        if urlsplit(path_or_url).scheme in ("http", "https"):
            return path_or_url
        return self._base + path_or_url.lstrip("/")

    def masked(self, url: str) -> str:
        """``url`` safe to show: its password, API key and any registered secret masked."""
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:{_MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
        query = parts.query
        if self._query_key and query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(key == self._query_key for key, _ in pairs):
                query = str(httpx.QueryParams([
                    (key, _MASK if key == self._query_key else value) for key, value in pairs
                ])).replace("%2A", "*")  # fmt: skip
        return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    # -- requests -------------------------------------------------------------------------
    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """GET ``path_or_url`` and return its 2xx answer, each attempt rate-limited and gated
        by the breaker, transient failures retried.

        Raises:
            TransientError: still failing after the last attempt, or the circuit is open.
            UserError: 401/403 (check the auth settings), 404, 400/422, a bad URL.
            FatalError: any other status.
        """
        url = self.url(path_or_url)
        query: list[tuple[str, Any]] = []
        if url.startswith(self._base):
            query += self._base_params
        query += [(k, _param(v)) for k, v in (params or {}).items()]
        shown = self.masked(str(httpx.URL(url, params=query)) if query else url)
        sent = self._headers(headers)
        attempts = 0
        opened: list[CircuitOpenError] = []

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            if self._breaker is not None:
                try:
                    self._breaker.before_call()
                except CircuitOpenError as exc:
                    # An open circuit fails fast: not transient here, so no retry waits on it.
                    opened.append(exc)
                    raise FatalError(str(exc)) from None
            return self._send(url, query, sent, shown)

        try:
            return self._retry.call(attempt)
        except FatalError:
            if not opened:
                raise
            raise TransientError(
                f"GET {shown}: the API at {self.endpoint} stopped answering (last: "
                f"{self._last_failure}; circuit open after repeated failures); check that it "
                "is running",
                retry_after=None,
            ) from None
        except TransientError as exc:
            if attempts > 1:
                raise TransientError(
                    f"{exc.message} (after {attempts} attempts)", retry_after=exc.retry_after
                ) from exc
            raise

    def _send(
        self, url: str, query: list[tuple[str, Any]], headers: dict[str, str], shown: str
    ) -> httpx.Response:
        self.limiter.acquire()
        with self._lock:
            self.requests += 1
        answer: Mapping[str, str] = {}
        try:
            response = self._http.get(
                url,
                params=query or None,
                headers=headers,
                auth=self._auth or httpx.USE_CLIENT_DEFAULT,
            )
            answer = response.headers
        except httpx.HTTPError as exc:
            self._count(failed=True)
            self._last_failure = redact(" ".join(str(exc).split())) or type(exc).__name__
            raise classify_httpx(exc, f"GET {shown}") from None
        except AoetlError:  # from the auth (a token request); the API itself was not asked
            raise
        finally:
            self.limiter.observe(answer)
        self._count(failed=False)
        if response.is_success:
            return response
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            error = classify_httpx(exc, f"GET {shown}")
            if response.status_code == 429 and isinstance(error, TransientError):
                # The whole client slows down, not only the request that was refused.
                self.limiter.block(error.retry_after if error.retry_after is not None else 1.0)
            raise error from None
        raise TransientError(f"GET {shown}: HTTP {response.status_code}")  # 1xx/3xx left over

    def _count(self, *, failed: bool) -> None:
        if self._breaker is None:
            return
        if failed:
            self._breaker.record_failure()
        else:
            self._breaker.record_success()

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        """The source's and the call's headers, references resolved now (values masked)."""
        merged = {**self._spec.headers, **(extra or {})}
        return {k: secret(v) if has_refs(v) else v for k, v in merged.items()}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _param(value: Any) -> Any:
    """A query value as an API expects it: booleans as 'true'/'false', references resolved."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and has_refs(value):
        return secret(value)
    return value


__all__ = ["DEFAULT_RETRY", "RestClient"]
