"""Security schemes of an OpenAPI or Swagger document → the ``auth:`` settings they take.

Credentials are never values: each is an ``${env:…}`` reference the user sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from .report import AuthScheme

TOKEN = "${env:API_TOKEN}"
USERNAME = "${env:API_USERNAME}"
PASSWORD = "${env:API_PASSWORD}"
KEY = "${env:API_KEY}"
CLIENT_ID = "${env:API_CLIENT_ID}"
CLIENT_SECRET = "${env:API_CLIENT_SECRET}"


def schemes(document: Mapping[str, Any], base_url: str | None) -> list[AuthScheme]:
    """Every declared scheme (OpenAPI 3 ``components.securitySchemes`` or Swagger 2.0
    ``securityDefinitions``), with the auth block aoetl would use for it."""
    declared = (document.get("components") or {}).get("securitySchemes") or document.get(
        "securityDefinitions"
    )
    found: list[AuthScheme] = []
    for name, scheme in (declared or {}).items():
        if isinstance(scheme, Mapping):
            found.append(_scheme(str(name), scheme, base_url))
    return found


def _scheme(name: str, scheme: Mapping[str, Any], base_url: str | None) -> AuthScheme:
    kind = str(scheme.get("type", "")).lower()
    if kind == "basic" or (kind == "http" and str(scheme.get("scheme", "")).lower() == "basic"):
        auth = {"type": "basic", "username": USERNAME, "password": PASSWORD}
        return AuthScheme(name, "basic", auth, "set API_USERNAME and API_PASSWORD")
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return AuthScheme(name, "bearer", {"type": "bearer", "token": TOKEN}, "set API_TOKEN")
    if kind == "http":
        detail = f"HTTP scheme {scheme.get('scheme')!r} is not supported (bearer and basic are)"
        return AuthScheme(name, "http", None, detail)
    if kind == "apikey":
        where = str(scheme.get("in", "header"))
        if where not in ("header", "query"):
            return AuthScheme(name, "api_key", None, f"an API key in a {where} is not supported")
        auth = {"type": "api_key", "name": str(scheme.get("name", "X-API-Key")), "value": KEY}
        auth["location"] = where
        return AuthScheme(name, "api_key", auth, f"set API_KEY (sent in the {where})")
    if kind == "oauth2":
        token_url = _client_credentials_url(scheme)
        if token_url is None:
            detail = "only the client credentials flow is supported; use a token with bearer"
            return AuthScheme(name, "oauth2", None, detail)
        if base_url:
            token_url = urljoin(base_url.rstrip("/") + "/", token_url)
        auth = {
            "type": "oauth2_client_credentials",
            "token_url": token_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        return AuthScheme(
            name, "oauth2_client_credentials", auth, "set API_CLIENT_ID and API_CLIENT_SECRET"
        )
    return AuthScheme(name, kind or "unknown", None, f"scheme type {kind!r} is not supported")


def _client_credentials_url(scheme: Mapping[str, Any]) -> str | None:
    flows = scheme.get("flows")
    if isinstance(flows, Mapping):  # OpenAPI 3
        flow = flows.get("clientCredentials")
        url = flow.get("tokenUrl") if isinstance(flow, Mapping) else None
        return str(url) if url else None
    if scheme.get("flow") == "application" and scheme.get("tokenUrl"):  # Swagger 2.0
        return str(scheme["tokenUrl"])
    return None


def requirement(operation: Mapping[str, Any], default: Any) -> tuple[str, ...]:
    """The schemes that each alone let a client call ``operation`` ('' when calling without
    any is allowed); empty when the operation needs none."""
    security = operation.get("security", default)
    if not security:
        return ()
    names: list[str] = []
    for alternative in security:
        if isinstance(alternative, Mapping) and len(alternative) <= 1:
            names.append(next(iter(alternative), ""))
    return tuple(dict.fromkeys(names)) if names != [""] else ()
