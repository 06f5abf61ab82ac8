"""One redaction filter for everything aoetl writes: logs, events, errors, results, history.

Every value the resolver hands out is registered here; :func:`redact` replaces each with
``***``, and so is any password written in a URL (``user:pw@``, ``?password=``) or a DSN
(``password=…``). It is applied where text leaves the
process (log handlers, event sinks, the CLI's output, the state database), so a secret that
leaks into an exception message from a driver is still masked. The registered values are
kept in :mod:`..errors`, so that the driver-error classifiers there mask them too.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import QUERY_SECRET_KEYS, register_secret
from ..errors import redact as redact


def register(value: str) -> None:
    """Mask ``value`` from now on, wherever aoetl writes."""
    register_secret(value)


def register_url(url: str) -> None:
    """Mask every secret a resolved URL holds: its password and secret query values."""
    parts = urlsplit(url)
    try:
        password = parts.password
    except ValueError:
        password = None
    if password:
        register(unquote(password))
    for key, value in parse_qsl(parts.query):
        if key.lower() in QUERY_SECRET_KEYS:
            register(value)


def redact_obj(obj: Any) -> Any:
    """Redact every string inside dicts, lists and tuples."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record and masks it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
