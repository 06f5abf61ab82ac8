"""HashiCorp Vault (and OpenBao) through hvac.

Configuration comes from the standard variables: ``VAULT_ADDR``; ``VAULT_TOKEN`` for token
auth, or ``VAULT_ROLE_ID`` and ``VAULT_SECRET_ID`` for AppRole (mounted at
``VAULT_APPROLE_MOUNT``, default ``approle``); ``VAULT_NAMESPACE`` if used.

``${secret:vault:MOUNT/PATH#key}``: the mount and its KV version (1 or 2) are detected from
Vault itself. Paths under other engines are read as they are (dynamic secrets), and their
leases are renewed while the value is cached. The token is renewed before it expires; an
AppRole login is repeated when it cannot be.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ..errors import UserError
from .providers import Fetched, SecretError, SecretUnavailable, pick
from .refs import Reference

RENEW_MARGIN_S = 60.0


class VaultProvider:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._client: Any = None
        self._lock = threading.Lock()
        self._expires_at: float | None = None  # None: the token does not expire
        self._renewable = False
        self._mounts: dict[str, tuple[str, int | None]] = {}
        self._clock = clock

    # -- auth ----------------------------------------------------------------------------------
    def client(self, ref: Reference) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._login(ref)
            elif self._expires_at is not None and self._expires_at - self._clock() < RENEW_MARGIN_S:
                self._renew(ref)
            return self._client

    def _login(self, ref: Reference) -> Any:
        try:
            import hvac
        except ImportError:
            raise UserError(
                "Vault references need hvac: pip install 'agent-orchestrated-etl[vault]'"
            ) from None
        url = os.environ.get("VAULT_ADDR")
        if not url:
            raise SecretError(ref, "VAULT_ADDR is not set")
        client = hvac.Client(url=url, namespace=os.environ.get("VAULT_NAMESPACE") or None)
        role_id, secret_id = os.environ.get("VAULT_ROLE_ID"), os.environ.get("VAULT_SECRET_ID")
        try:
            if role_id and secret_id:
                mount = os.environ.get("VAULT_APPROLE_MOUNT", "approle")
                auth = client.auth.approle.login(role_id, secret_id, mount_point=mount)["auth"]
                self._track(auth.get("lease_duration", 0), auth.get("renewable", False))
            elif os.environ.get("VAULT_TOKEN"):
                client.token = os.environ["VAULT_TOKEN"]
                data = client.auth.token.lookup_self()["data"]
                self._track(data.get("ttl", 0), data.get("renewable", False))
            else:
                raise SecretError(
                    ref,
                    "no Vault credentials: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID",
                )
        except hvac.exceptions.VaultError as exc:
            raise SecretError(ref, f"login failed: {_why(exc)}") from None
        except OSError as exc:
            raise SecretUnavailable(ref, f"{url}: {type(exc).__name__}") from None
        except Exception as exc:  # requests' ConnectionError is not an OSError subclass here
            if type(exc).__name__ in ("ConnectionError", "Timeout", "ConnectTimeout"):
                raise SecretUnavailable(ref, f"{url}: {type(exc).__name__}") from None
            raise
        return client

    def _track(self, ttl: float, renewable: bool) -> None:
        self._expires_at = self._clock() + ttl if ttl else None
        self._renewable = bool(renewable)

    def _renew(self, ref: Reference) -> None:
        import hvac

        if self._renewable:
            try:
                auth = self._client.auth.token.renew_self()["auth"]
                self._track(auth.get("lease_duration", 0), auth.get("renewable", False))
                return
            except hvac.exceptions.VaultError:
                pass  # fall through to a new login where one is possible
        self._client = self._login(ref)

    @property
    def token_expires_in(self) -> float | None:
        """Seconds until the current token expires (None: it does not)."""
        return None if self._expires_at is None else self._expires_at - self._clock()

    # -- reading -------------------------------------------------------------------------------
    def _mount(self, client: Any, ref: Reference) -> tuple[str, int | None]:
        """(mount path, KV version or None for other engines), from sys/internal/ui/mounts."""
        for mount, found in self._mounts.items():
            if ref.path.startswith(mount):
                return mount, found[1]
        response = client.adapter.get(f"/v1/sys/internal/ui/mounts/{ref.path}")
        data = response.get("data", response) if isinstance(response, dict) else {}
        mount = str(data.get("path", ""))
        if not mount:
            raise SecretError(ref, f"no secrets engine is mounted at {ref.path}")
        version: int | None = None
        if data.get("type") in ("kv", "generic"):
            version = int((data.get("options") or {}).get("version", "1"))
        self._mounts[mount] = (mount, version)
        return mount, version

    def fetch(self, ref: Reference) -> Fetched:
        import hvac

        client = self.client(ref)
        try:
            mount, version = self._mount(client, ref)
            inner = ref.path[len(mount) :].strip("/")
            if version == 2:
                response = client.secrets.kv.v2.read_secret_version(
                    path=inner, mount_point=mount.strip("/"), raise_on_deleted_version=True
                )
                return Fetched(pick(ref, response["data"]["data"]))
            if version == 1:
                response = client.secrets.kv.v1.read_secret(
                    path=inner, mount_point=mount.strip("/")
                )
                return Fetched(pick(ref, response["data"]), ttl_s=response.get("lease_duration"))
            response = client.read(ref.path)
            if response is None:
                raise SecretError(ref, "not found")
            return Fetched(
                pick(ref, response.get("data") or {}),
                ttl_s=response.get("lease_duration") or None,
                lease_id=response.get("lease_id") or None,
                renewable=bool(response.get("renewable")),
            )
        except hvac.exceptions.InvalidPath:
            raise SecretError(ref, "not found") from None
        except hvac.exceptions.Forbidden:
            raise SecretError(ref, "permission denied") from None
        except hvac.exceptions.Unauthorized:
            raise SecretError(ref, "the Vault token is not valid") from None
        except (hvac.exceptions.VaultDown, hvac.exceptions.InternalServerError) as exc:
            raise SecretUnavailable(ref, _why(exc)) from None
        except hvac.exceptions.VaultError as exc:
            raise SecretError(ref, _why(exc)) from None
        except Exception as exc:
            if type(exc).__name__ in ("ConnectionError", "Timeout", "ConnectTimeout"):
                raise SecretUnavailable(ref, type(exc).__name__) from None
            raise

    def renew_lease(self, ref: Reference, lease_id: str) -> float | None:
        """Extend a dynamic secret's lease; returns its new duration."""
        response = self.client(ref).sys.renew_lease(lease_id=lease_id)
        return float(response.get("lease_duration") or 0) or None


def _why(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(str(e) for e in errors)[:200]
    return type(exc).__name__
