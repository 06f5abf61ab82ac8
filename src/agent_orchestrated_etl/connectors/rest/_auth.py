"""Auth for every ``AuthSpec``: bearer, basic, an API key (header or query), and OAuth2 client
credentials, as the headers and query pairs each request carries.

Every credential string is resolved (``${env:…}``, ``${secret:…}``) on the first request,
never earlier, and the value is registered with the redaction filter before it goes out, so
it is masked in any message that quotes it. A fixed credential is then kept for the client's
life (it is the same on every request); an OAuth2 token is fetched again as it expires.
"""

from __future__ import annotations

import threading
import time
from base64 import b64encode
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import orjson

from ...errors import UserError, classify_status
from ...secrets import redact, register, resolve
from ...spec.rest import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
)

if TYPE_CHECKING:
    from ._client import Response

# A token is fetched again this long before it expires: 10% of its life, at most 30 s.
_REFRESH_SHARE, _REFRESH_MAX_S = 0.1, 30.0

PostForm = Callable[[str, Mapping[str, str]], "Response"]
"""Sends a form-encoded POST and returns its answer, whatever its status (the client's own,
so the token request shares its pool and timeouts); raises an AoetlError when no answer
came."""


def secret(text: str) -> str:
    """``text`` with its references resolved; the value is masked from now on."""
    value = resolve(text)
    register(value)
    return value


class Auth:
    """What a request carries to sign in: headers, and query pairs (an API key in the URL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signed: tuple[dict[str, str], list[tuple[str, str]]] | None = None

    def sign(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The headers and query pairs for the next request (do not change them)."""
        signed = self._signed
        if signed is None:
            with self._lock:
                signed = self._signed = self._signed or self._make()
        return signed

    def _make(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        raise NotImplementedError

    def refresh(self, sent: Mapping[str, str]) -> dict[str, str] | None:
        """After a 401 to ``sent``'s headers: new headers to send the request again with,
        or None when new credentials cannot help."""
        return None


class _Bearer(Auth):
    def __init__(self, spec: BearerAuth) -> None:
        super().__init__()
        self._spec = spec

    def _make(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        return {"Authorization": f"Bearer {secret(self._spec.token)}"}, []


class _Basic(Auth):
    def __init__(self, spec: BasicAuth) -> None:
        super().__init__()
        self._spec = spec

    def _make(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        pair = f"{resolve(self._spec.username)}:{secret(self._spec.password)}"
        encoded = b64encode(pair.encode()).decode("ascii")
        register(encoded)  # the header's value decodes to the password
        return {"Authorization": f"Basic {encoded}"}, []


class _ApiKey(Auth):
    def __init__(self, spec: ApiKeyAuth) -> None:
        super().__init__()
        self._spec = spec

    def _make(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        value = secret(self._spec.value)
        if self._spec.location == "query":
            return {}, [(self._spec.name, value)]
        return {self._spec.name: value}, []


class _OAuth2(Auth):
    """Client credentials: one token shared by every thread, fetched again shortly before it
    expires, and once more when the API answers 401 to it (then that request is sent again)."""

    def __init__(self, spec: OAuth2ClientCredentials, post: PostForm, base_url: str) -> None:
        super().__init__()
        self._spec = spec
        self._post = post
        self._token_url = urljoin(base_url, spec.token_url)
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetched = 0  # tokens fetched, for tests and reports

    def sign(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        return {"Authorization": f"Bearer {self.token()}"}, []

    def refresh(self, sent: Mapping[str, str]) -> dict[str, str] | None:
        stale = sent.get("Authorization", "").removeprefix("Bearer ")
        return {"Authorization": f"Bearer {self.token(stale=stale)}"}

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
        response = self._post(self._token_url, form)
        if response.status in (400, 401, 403):
            raise UserError(
                f"the OAuth2 token endpoint {shown} refused the client credentials "
                f"(HTTP {response.status}); check auth.client_id and auth.client_secret "
                "(or the ${…} reference that gives it) and auth.token_url"
            )
        if not 200 <= response.status < 300:
            raise classify_status(
                response.status,
                response.headers,
                response.content,
                f"OAuth2 token request to {shown}",
            )
        return self._read(response.content, shown)

    @staticmethod
    def _read(content: bytes, shown: str) -> tuple[str, float]:
        try:
            body: Any = orjson.loads(content)
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


def make_auth(spec: AuthSpec | None, *, post: PostForm, base_url: str) -> Auth | None:
    """The auth for ``spec`` (None: no auth). ``post`` sends the OAuth2 token request."""
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
