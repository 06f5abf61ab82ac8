"""httpx auth for every ``AuthSpec``: bearer, basic, an API key (header or query), and OAuth2
client credentials.

Every credential string is resolved (``${env:…}``, ``${secret:…}``) when a request is built,
never earlier, and the value is registered with the redaction filter before it goes out, so
it is masked in any message that quotes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import httpx
import orjson

from ...errors import UserError, classify_httpx
from ...secrets import redact, register, resolve
from ...spec.rest import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
)

# A token is fetched again this long before it expires: 10% of its life, at most 30 s.
_REFRESH_SHARE, _REFRESH_MAX_S = 0.1, 30.0


def secret(text: str) -> str:
    """``text`` with its references resolved; the value is masked from now on."""
    value = resolve(text)
    register(value)
    return value


class _Bearer(httpx.Auth):
    def __init__(self, spec: BearerAuth) -> None:
        self._spec = spec

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {secret(self._spec.token)}"
        yield request


class _Basic(httpx.Auth):
    def __init__(self, spec: BasicAuth) -> None:
        self._spec = spec

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        basic = httpx.BasicAuth(resolve(self._spec.username), secret(self._spec.password))
        yield from basic.auth_flow(request)


class _ApiKey(httpx.Auth):
    def __init__(self, spec: ApiKeyAuth) -> None:
        self._spec = spec

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        value = secret(self._spec.value)
        if self._spec.location == "query":
            request.url = request.url.copy_set_param(self._spec.name, value)
        else:
            request.headers[self._spec.name] = value
        yield request


class _OAuth2(httpx.Auth):
    """Client credentials: one token shared by every thread, fetched again shortly before it
    expires, and once more when the API answers 401 to it (then that request is sent again)."""

    def __init__(
        self, spec: OAuth2ClientCredentials, post: Callable[..., httpx.Response], base_url: str
    ) -> None:
        self._spec = spec
        self._post = post
        self._token_url = str(httpx.URL(base_url).join(spec.token_url))
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetched = 0  # tokens fetched, for tests and reports

    def token(self, stale: str | None = None) -> str:
        """The current token; a new one when it is about to expire or is ``stale``."""
        with self._lock:
            fresh = self._token is not None and time.monotonic() < self._refresh_at
            if self._token is None or not fresh or self._token == stale:
                self._token, life = self._fetch()
                self.fetched += 1
                margin = min(_REFRESH_MAX_S, _REFRESH_SHARE * life) if life else 0.0
                self._refresh_at = time.monotonic() + (life - margin if life else 3600.0)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        spec = self._spec
        form = {
            "grant_type": "client_credentials",
            "client_id": resolve(spec.client_id),
            "client_secret": secret(spec.client_secret),
        }
        if spec.scopes:
            form["scope"] = " ".join(spec.scopes)
        shown = redact(self._token_url)
        try:
            response = self._post(self._token_url, data=form, auth=None)
        except httpx.HTTPError as exc:
            raise classify_httpx(exc, f"OAuth2 token request to {shown}") from exc
        if response.status_code in (400, 401, 403):
            raise UserError(
                f"the OAuth2 token endpoint {shown} refused the client credentials "
                f"(HTTP {response.status_code}); check auth.client_id and auth.client_secret "
                "(or the ${…} reference that gives it) and auth.token_url"
            )
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise classify_httpx(exc, f"OAuth2 token request to {shown}") from exc
        return self._read(response, shown)

    @staticmethod
    def _read(response: httpx.Response, shown: str) -> tuple[str, float]:
        try:
            body: Any = orjson.loads(response.content)
            token = body["access_token"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UserError(
                f"the OAuth2 token endpoint {shown} answered without an access_token; "
                "check auth.token_url"
            ) from None
        if not isinstance(token, str) or not token:
            raise UserError(f"the OAuth2 token endpoint {shown} sent an empty access_token")
        register(token)
        try:
            life = float(body.get("expires_in") or 0)
        except (TypeError, ValueError):
            life = 0.0
        return token, life

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(stale=token)}"
            yield request


def make_auth(
    spec: AuthSpec | None, *, post: Callable[..., httpx.Response], base_url: str
) -> httpx.Auth | None:
    """The httpx auth for ``spec`` (None: no auth). ``post`` sends the OAuth2 token request
    (the client's own, so the token request shares its connection pool and timeouts)."""
    if spec is None:
        return None
    if isinstance(spec, BearerAuth):
        return _Bearer(spec)
    if isinstance(spec, BasicAuth):
        return _Basic(spec)
    if isinstance(spec, ApiKeyAuth):
        return _ApiKey(spec)
    if isinstance(spec, OAuth2ClientCredentials):
        return _OAuth2(spec, post, base_url)
    raise UserError(f"auth type {type(spec).__name__} is not supported by the REST source")
