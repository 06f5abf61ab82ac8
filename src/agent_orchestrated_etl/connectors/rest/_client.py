"""The REST transport: one urllib3 pool per source, shared by the threads that fetch its pages.
Every request waits for the rate limiter, goes through the endpoint's circuit breaker and is
retried alone by a :class:`RetryPolicy` when it fails transiently.

Only a request that got no answer (refused, reset, timed out) counts against the breaker: an
API that answers 500 or 429 is up, and its failures are the retry policy's business. So a
flaky API never trips the circuit, while a dead one opens it after
``failure_threshold`` attempts, and from then on every request fails at once.

urllib3 rather than httpx: a page costs a third of the CPU (httpx's request and URL models are
most of its cost), and a fast API is CPU-bound on the client. The path of one request builds
nothing it does not need: the query is encoded once, a URL is masked only for a message or
when a secret could be in it, and the retry loop starts only after a failure.
"""

from __future__ import annotations

import os
import threading
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus, unquote, urlencode, urljoin, urlsplit, urlunsplit

import urllib3

from ...errors import (
    AoetlError,
    FatalError,
    TransientError,
    UserError,
    classify_status,
    classify_urllib3,
    redact,
)
from ...resilience import BREAKERS, CircuitBreaker, CircuitOpenError, RetryPolicy
from ...secrets import has_refs, register, register_url
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
# Why each endpoint's last request got no answer, for the open circuit's message: the breaker
# outlives a client (a task's next attempt makes a new one), so this does too.
_LAST_FAILURE: dict[str, str] = {}
# Redirects are followed (5 at most); every other retry is ours. (``total=False`` would also
# stop redirects: urllib3 counts them against the total.) A failure comes wrapped in a
# MaxRetryError, unwrapped by :func:`_unwrapped`.
_RETRIES = urllib3.Retry(
    total=None, connect=0, read=0, status=0, other=0, redirect=5, raise_on_redirect=False
)


@dataclass(frozen=True)
class Response:
    """One answer. ``headers`` are case-insensitive; ``url`` is the URL answered (after any
    redirect), unmasked: show it through :meth:`RestClient.shown`."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


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
        self._userinfo = unquote(parts.netloc.rpartition("@")[0]) if "@" in parts.netloc else ""
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
        # Whether a URL this client requests can hold a secret: a password, an API key or a
        # value of the base URL's query. If not, a URL is shown as it is, unmasked.
        self._secret_urls = bool(self._query_key or "@" in parts.netloc or self._base_params)
        cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
        if cafile is None and capath is None:
            cafile = _certifi()
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=spec.max_concurrency + 2,
            block=False,
            retries=_RETRIES,
            timeout=urllib3.Timeout(spec.timeout_s),
            cert_reqs="CERT_REQUIRED",
            ca_certs=cafile,
            ca_cert_dir=capath,
        )
        # The API's own host, asked through its pool directly: PoolManager's per-request URL
        # parsing and pool lookup cost as much as the rest of our path.
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._home = self._pool.connection_from_url(self._base)
        self._fixed: dict[str, str] | None = None  # the source's headers, resolved
        self._auth = make_auth(spec.auth, post=self._post_form, base_url=self._base)
        self._lock = threading.Lock()
        self.requests = 0  # requests sent, retries included

    # -- URLs -----------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """An absolute URL as it is; a path joined under the base URL (a leading '/' too:
        paths are relative to the API, not to the host)."""
        if path_or_url.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
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
                masked = [(k, _MASK if k == self._query_key else v) for k, v in pairs]
                query = urlencode(masked, safe="*")
        return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def shown(self, url: str) -> str:
        """``url`` as a page's or a record's origin: masked only when it can hold a secret."""
        return self.masked(url) if self._secret_urls else url

    # -- requests -------------------------------------------------------------------------
    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        missing_ok: bool = False,
    ) -> Response:
        """GET ``path_or_url`` and return its 2xx answer, each attempt rate-limited and gated
        by the breaker, transient failures retried. ``params`` are added to the URL's own.
        With ``missing_ok``, a 404 is returned too (a page past the end), not raised.

        Raises:
            TransientError: still failing after the last attempt, or the circuit is open.
            UserError: 401/403 (check the auth settings), 404, 400/422, a bad URL or TLS.
            FatalError: any other status.
        """
        url = self.url(path_or_url)
        query: list[tuple[str, Any]] = self._base_params if url.startswith(self._base) else []
        if params:
            query = [*query, *((k, _param(v, self)) for k, v in params.items())]
        if query:
            url += ("&" if "?" in url else "?") + _encode(query)
        sent = self._headers(headers)
        attempts = 0
        opened: list[CircuitOpenError] = []

        def attempt() -> Response:
            nonlocal attempts
            attempts += 1
            if self._breaker is not None:
                try:
                    self._breaker.before_call()
                except CircuitOpenError as exc:
                    # An open circuit fails fast: not transient here, so no retry waits on it.
                    opened.append(exc)
                    raise FatalError(str(exc)) from None
            return self._send(url, sent, missing_ok)

        try:
            return self._retry.call(attempt)
        except FatalError:
            if not opened:
                raise
            raise TransientError(
                f"GET {self.masked(url)}: the API at {self.endpoint} stopped answering (last: "
                f"{_LAST_FAILURE.get(self.endpoint or '', 'no answer')}; circuit open after "
                "repeated failures); check that it is running",
                retry_after=None,
            ) from None
        except TransientError as exc:
            if attempts > 1:
                raise TransientError(
                    f"{exc.message} (after {attempts} attempts)", retry_after=exc.retry_after
                ) from exc
            raise

    def _send(self, url: str, headers: dict[str, str], missing_ok: bool = False) -> Response:
        self.limiter.acquire()
        with self._lock:
            self.requests += 1
        answer: Mapping[str, str] = {}
        try:
            if self._auth is not None:
                signed, pairs = self._auth.sign()
                headers = {**headers, **signed}
                if pairs:
                    url += ("&" if "?" in url else "?") + urlencode(pairs)
            response = self._request(url, headers)
            if response.status == 401 and self._auth is not None:
                again = self._auth.refresh(headers)
                if again is not None:
                    response = self._request(url, {**headers, **again})
            answer = response.headers
        except urllib3.exceptions.HTTPError as wrapped:
            self._count(failed=True)
            what = f"GET {self.masked(url)}"
            error = classify_urllib3(_unwrapped(wrapped), what)
            if self.endpoint:  # the classifier's words, without the URL and the hint
                words = error.message.removeprefix(f"{what}: ").partition("; check")[0]
                _LAST_FAILURE[self.endpoint] = words
            raise error from None
        except AoetlError:  # from the auth (a token request); the API itself was not asked
            raise
        finally:
            self.limiter.observe(answer)
        self._count(failed=False)
        if 200 <= response.status < 300 or (missing_ok and response.status == 404):
            return response
        what = f"GET {self.masked(response.url)}"
        if response.status < 400:  # 1xx, or a 3xx left over: a loop, or no Location
            raise UserError(
                f"{what}: HTTP {response.status} (still redirected after 5 redirects, or "
                "to nowhere); check the base URL"
            )
        error = classify_status(response.status, response.headers, response.content, what)
        if response.status == 429 and isinstance(error, TransientError):
            # The whole client slows down, not only the request that was refused.
            self.limiter.block(error.retry_after if error.retry_after is not None else 1.0)
        raise error

    def _request(self, url: str, headers: dict[str, str]) -> Response:
        rest = url[len(self._origin) :] if url.startswith(self._origin) else ""
        if rest[:1] in ("/", "?"):
            raw = self._home.urlopen("GET", rest, headers=headers, redirect=False)
            if not raw.get_redirect_location():
                return Response(raw.status, raw.headers, raw.data, url)
        # Another host, or a redirect: the pool manager follows it (across hosts too).
        raw = self._pool.urlopen("GET", url, headers=headers)
        return Response(raw.status, raw.headers, raw.data, _answered(raw, url))

    def _post_form(self, url: str, form: Mapping[str, str]) -> Response:
        """A form-encoded POST through the pool (the OAuth2 token request), any status."""
        try:
            raw = self._pool.request_encode_body(
                "POST", url, fields=dict(form), encode_multipart=False,
                headers={"Accept": "application/json"},
            )  # fmt: skip
        except urllib3.exceptions.HTTPError as exc:
            what = f"OAuth2 token request to {self.masked(url)}"
            raise classify_urllib3(_unwrapped(exc), what) from None
        return Response(raw.status, raw.headers, raw.data, _answered(raw, url))

    def _count(self, *, failed: bool) -> None:
        if self._breaker is None:
            return
        if failed:
            self._breaker.record_failure()
        else:
            self._breaker.record_success()

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        """The source's and the call's headers, references resolved now (values masked)."""
        if self._fixed is None:
            merged = {"Accept": "application/json", **self._spec.headers}
            if self._userinfo and self._spec.auth is None:
                # urllib3 sends no URL userinfo itself: it is basic auth, as httpx sent it.
                merged["Authorization"] = "Basic " + b64encode(self._userinfo.encode()).decode()
                register(merged["Authorization"].removeprefix("Basic "))
            self._fixed = {k: secret(v) if has_refs(v) else v for k, v in merged.items()}
        if not extra:
            return self._fixed
        return {**self._fixed, **{k: secret(v) if has_refs(v) else v for k, v in extra.items()}}

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _answered(raw: urllib3.BaseHTTPResponse, sent: str) -> str:
    """The URL that answered: after a redirect, the one redirected to."""
    found = raw.url
    if not found or found == sent or found.startswith(("http://", "https://")):
        return found or sent
    return urljoin(sent, found)


def _unwrapped(exc: urllib3.exceptions.HTTPError) -> BaseException:
    """The error that ended a request, out of urllib3's MaxRetryError."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else None
    return reason if reason is not None else exc


def _encode(pairs: list[tuple[str, Any]]) -> str:
    """A query string; a list or tuple value repeats its key (``doseq``), as httpx did."""
    if any(isinstance(v, list | tuple) for _, v in pairs):
        return urlencode(pairs, doseq=True)
    return "&".join(
        f"{quote_plus(k)}={v if type(v) is int else quote_plus(str(v))}" for k, v in pairs
    )


def _certifi() -> str | None:
    """certifi's CA bundle when it is installed (as httpx used), else the system's."""
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def _param(value: Any, client: RestClient) -> Any:
    """A query value as an API expects it: booleans as 'true'/'false', references resolved
    (the client's URLs may hold a secret from then on)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and has_refs(value):
        client._secret_urls = True
        return secret(value)
    return value


__all__ = ["DEFAULT_RETRY", "Response", "RestClient"]
