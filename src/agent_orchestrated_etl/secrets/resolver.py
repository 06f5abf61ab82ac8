"""The resolver: turns references into values lazily, caches them per TTL, thread-safe.

Connectors call :func:`resolve` on a string (a URI, a key, a password field) at the moment
they connect. Every value handed out is registered with the redaction filter. A cached value
expires after its TTL (``AOETL_SECRET_TTL`` seconds, default 300, or the secret's own lease if
shorter), so a rotated secret is picked up by the next connection; a connector whose login is
refused calls :meth:`Resolver.invalidate` and resolves once more.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from ..errors import MASK, UserError
from . import refs
from .providers import AwsProvider, EnvProvider, Fetched, FileProvider, Provider
from .redact import redact, register
from .vault import VaultProvider

T = TypeVar("T")
# A secret masked when its pipeline was stored (user:***@, ?password=***, or a whole ***):
# connecting with it would only fail, or reach a server that ignores passwords.
_MASKED_SECRET = re.compile(r"\A\*\*\*\Z|:\*\*\*@|=\*\*\*(?:[&#\s]|\Z)")
log = logging.getLogger("aoetl.secrets")


@dataclass
class _Cached:
    fetched: Fetched
    expires_at: float


class Resolver:
    def __init__(
        self, *, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s if ttl_s is not None else float(os.environ.get("AOETL_SECRET_TTL", 300))
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
        self.vault = VaultProvider(clock)
        self.providers: dict[str, Provider] = {
            "env": EnvProvider(),
            "file": FileProvider(),
            "vault": self.vault,
            "aws": AwsProvider(),
        }

    def value(self, ref: refs.Reference) -> str:
        """The value of one reference, from the cache while it is fresh."""
        with self._lock:
            now = self._clock()
            hit = self._cache.get(ref.text)
            if hit is not None and hit.expires_at > now:
                if hit.fetched.lease_id and hit.fetched.renewable and ref.provider == "vault":
                    self._renew(ref, hit)
                return hit.fetched.value
            fetched = self.providers[ref.provider].fetch(ref)
            log.debug("resolved %s through %s", ref.text, ref.provider)
            ttl = self.ttl_s if fetched.ttl_s is None else min(self.ttl_s, fetched.ttl_s)
            self._cache[ref.text] = _Cached(fetched, now + ttl)
        register(fetched.value)
        for safe in ("", ":"):  # as it appears once percent-encoded into a URL
            register(quote(fetched.value, safe=safe))
        return fetched.value

    def _renew(self, ref: refs.Reference, hit: _Cached) -> None:
        # A lease about to run out while its value is still cached is extended.
        assert hit.fetched.lease_id is not None
        if hit.expires_at - self._clock() < 60:
            duration = self.vault.renew_lease(ref, hit.fetched.lease_id)
            if duration:
                hit.expires_at = self._clock() + min(self.ttl_s, duration)

    def resolve(self, text: str) -> str:
        """``text`` with every reference replaced by its value."""
        if MASK in text and _MASKED_SECRET.search(text):
            shown = "a value" if text.strip() == MASK else redact(text)
            raise UserError(
                f"{shown} holds {MASK} where a secret goes: aoetl keeps no literal password or "
                "key in its run history, so a stored pipeline (--resume, dlq replay) cannot use "
                "it; run the pipeline file or command again (it resumes from its checkpoints), "
                "or write the secret as a reference such as ${env:DB_PASSWORD}"
            )
        found = refs.find(text)
        if not found:
            return text
        return refs.substitute(text, {r.text: self.value(r) for r in found})

    def invalidate(self, text: str) -> None:
        """Forget the cached values of the references in ``text`` (after an auth failure)."""
        with self._lock:
            for ref in refs.find(text):
                self._cache.pop(ref.text, None)

    def with_fresh_retry(
        self,
        texts: list[str],
        attempt: Callable[[], T],
        *,
        is_auth_error: Callable[[BaseException], bool],
    ) -> T:
        """Run ``attempt``; if it fails with an authentication error, re-resolve ``texts`` once."""
        try:
            return attempt()
        except BaseException as exc:
            if not is_auth_error(exc) or not any(refs.has_refs(t) for t in texts):
                raise
        for text in texts:
            self.invalidate(text)
        return attempt()


RESOLVER = Resolver()


def resolve(text: str) -> str:
    """Resolve with the process-wide resolver."""
    return RESOLVER.resolve(text)
