"""Secrets: the ``${…}`` reference syntax, providers (env, file, Vault, AWS), the resolver,
and the redaction filter that keeps resolved values out of everything aoetl writes."""

from __future__ import annotations

from .providers import Fetched, SecretError, SecretUnavailable
from .redact import RedactingFilter, redact, redact_obj, register, register_url
from .refs import Reference, SecretReferenceError, find, has_refs, parse, without_refs
from .resolver import RESOLVER, Resolver, resolve

__all__ = [
    "RESOLVER",
    "Fetched",
    "RedactingFilter",
    "Reference",
    "Resolver",
    "SecretError",
    "SecretReferenceError",
    "SecretUnavailable",
    "find",
    "has_refs",
    "parse",
    "redact",
    "redact_obj",
    "register",
    "register_url",
    "resolve",
    "without_refs",
]
