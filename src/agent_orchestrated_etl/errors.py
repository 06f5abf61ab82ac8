"""The one exception tree of aoetl.

Every error aoetl raises on purpose derives from :class:`AoetlError`::

    AoetlError                      exit_code 1 unless a subclass says otherwise
    ├── UserError                   exit_code 2: bad input or usage; the message says how to fix it
    │   ├── SpecError               a pipeline file or option does not validate (file, line, field)
    │   ├── UnknownConnectorError   no connector for a URI scheme or file format (lists known ones)
    │   ├── SourceNotFoundError     a path, glob or table matches nothing
    │   ├── SchemaConflictError     a column changed type in a way that cannot be widened safely
    │   ├── TooManyBadRowsError     more rejected rows than --max-bad-rows allows; nothing loaded
    │   └── MostlyRejectedError     a table rejected more than max_bad_ratio of its records
    ├── FatalError                  retrying will not fix it (auth, corrupt file, bug in a step)
    │   └── NotSupportedError       a feature that exists in the spec but not yet in this version
    └── TransientError              worth retrying: timeouts, HTTP 429/5xx, lock contention

Connectors decide retryability at the edge by raising :class:`TransientError` or
:class:`FatalError`; the executor retries only the former. Messages never hold a secret:
URIs are passed through :func:`redact_uri` before they reach a message.
"""

from __future__ import annotations

import re
from typing import Literal

# A ${…} reference names a secret without holding it, so redaction keeps it as written. No
# brace inside: a run of unclosed "${" is then rejected in linear time.
REFERENCE_PATTERN = r"\$\{[^{}]+\}"
MASK = "***"


def _part(stop: str) -> str:
    """A URL part up to one of ``stop``, a whole reference counting as one character, written
    as normal* (special normal*)* so the alternatives exclude each other ('$' opens a
    reference or stands alone) and backtracking stays linear."""
    normal = rf"[^$\s{stop}]*"
    return rf"{normal}(?:(?:{REFERENCE_PATTERN}|\$(?!{REFERENCE_PATTERN[2:]})){normal})*"


# The password in a URL's userinfo (after "user:") runs to the last '@' before the path, as
# urlsplit reads it. Each attempt starts at a "://" (a fast literal scan) and ends by the
# next '/', so attempts never overlap and the whole search is linear.
_PASSWORD_IN_URI = re.compile(rf"://{_part(':/?#@')}:(?!@)(?P<secret>{_part('/?#')})@")


# key=value, in a query string (between '?' or '&' and the next '&') or a libpq DSN (a word
# or a quoted string). Keys are found in the reversed text, lowered as ASCII bytes so every
# index still matches: there each attempt starts at an '=' (a fast literal scan) and reads
# the key forwards, so no attempt rescans the text. A query key (one of _QUERY_KEYS right
# after ? & or ;) has a value up to & # or "; any other key ending in a DSN suffix
# (client_secret, PGPASSWORD) takes the next word or quoted string, as libpq reads it.
QUERY_SECRET_KEYS = _QUERY_KEYS = frozenset(
    ("password", "passwd", "pwd", "token", "access_token", "secret", "api_key", "apikey",
     "key", "sslpassword")
)  # fmt: skip
_KEY_REVERSED = re.compile(
    rb"=(?=[dnty \t])(?P<gap>[ \t]?)"  # every key ends in d n t or y: most "=" stop here
    rb"(?:d(?:rowssap|wssap|wp)|nekot|terces|yek(?:ipa|[_-]ipa|(?=[?&;])))[\w.-]*"
)
_QUERY_VALUE = re.compile("(?P<secret>" + _part('&#"') + ")")  # '"' is never bare in a URL
_DSN_VALUE = re.compile(r"""[ \t]*(?P<secret>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\S*)""")
# What may stand where a secret goes: nothing, the mask, or references (with the quotes or
# punctuation around them that a whitespace-delimited DSN value swallows).
_NOT_SECRET = re.compile(rf"""(?:['"]?(?:{REFERENCE_PATTERN})+['",;)\]}}]*|\*\*\*)?""")


def _mask_userinfo(match: re.Match[str]) -> str:
    start, end = match.span("secret")
    if _NOT_SECRET.fullmatch(match.string, start, end):
        return match.group(0)
    whole = match.group(0)
    return whole[: start - match.start()] + MASK + whole[end - match.start() :]


def _mask_key_values(text: str) -> str:
    size = len(text)
    # Where each key's '=' is, in the text's order; plain ints, so a text with a million keys
    # keeps no million match objects alive.
    keys = [
        (size - 1 - key.start(), size - key.end(), not key.group("gap"))
        for key in _KEY_REVERSED.finditer(text[::-1].encode("ascii", "replace").lower())
    ]
    out: list[str] = []
    done = 0
    for equals, first, no_gap in reversed(keys):
        if equals < done:
            continue  # inside a value masked already: never scanned twice, so linear
        query = (
            no_gap
            and text[first - 1 : first] in ("?", "&", ";")
            and text[first:equals].lower() in _QUERY_KEYS
        )
        value = (_QUERY_VALUE if query else _DSN_VALUE).match(text, equals + 1)
        assert value is not None  # both match the empty string
        start, end = value.span("secret")
        if not _NOT_SECRET.fullmatch(text, start, end):
            out += (text[done:start], MASK)
            done = end
    return "".join(out) + text[done:] if out else text


def redact_uri(text: str) -> str:
    """``text`` with every password in it replaced by ``***``: in a URL's userinfo
    (``scheme://user:***@host``), in a query parameter (``?password=***``, ``token``,
    ``api_key``…) and in a DSN (``host=x password=*** dbname=y``). ``${…}`` references are
    kept. Linear in the length of ``text``: it runs on every line aoetl writes."""
    # One-character tests first (memchr speed): most text holds neither shape.
    if "@" in text and "/" in text and ":" in text:
        text = _PASSWORD_IN_URI.sub(_mask_userinfo, text)
    if "=" in text:
        text = _mask_key_values(text)
    return text


class AoetlError(Exception):
    """Root of every error aoetl raises on purpose.

    Attributes:
        exit_code: the CLI exit code for this error.
        pipeline: the pipeline name, when known.
        task_id: the task that failed, when known.
        uri: the URI involved, with its password removed.
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        pipeline: str | None = None,
        task_id: str | None = None,
        uri: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pipeline = pipeline
        self.task_id = task_id
        self.uri = redact_uri(uri) if uri else None

    def __str__(self) -> str:
        return self.message


class UserError(AoetlError):
    """Bad input or usage. The message says what is wrong and how to fix it."""

    exit_code = 2


class SpecError(UserError):
    """A pipeline spec, or an option standing for one, does not validate."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}{what}{message}")
        self.file = file
        self.line = line
        self.field = field


class UnknownConnectorError(UserError):
    """No connector is registered for a URI scheme or file format."""


class SourceNotFoundError(UserError):
    """A source path, glob or table matched nothing."""


class SchemaConflictError(UserError):
    """A column's type changed in a way that cannot be widened without losing data."""

    def __init__(self, table: str, column: str, old_type: str, new_type: str) -> None:
        super().__init__(
            f"table '{table}': column '{column}' is {old_type} in the target but {new_type} in "
            f"the source, and {old_type} cannot be widened to {new_type} safely; cast it with a "
            f"transform step or load with --mode replace"
        )
        self.table = table
        self.column = column
        self.old_type = old_type
        self.new_type = new_type


class TooManyBadRowsError(UserError):
    """More rows were rejected than the run allows; the run loaded nothing."""

    def __init__(self, bad_rows: int, limit: int, *, run_id: str | None = None) -> None:
        super().__init__(
            f"{bad_rows} bad rows exceed the limit of {limit}; nothing was loaded. "
            f"See them with 'aoetl runs --show {run_id or 'RUN_ID'}', fix the input, or raise "
            f"--max-bad-rows"
        )
        self.bad_rows = bad_rows
        self.limit = limit


class MostlyRejectedError(UserError):
    """A table rejected more than ``max_bad_ratio`` of its records; the run loaded nothing.

    So many rejects usually mean the reader's assumptions are wrong, which the message shows.
    """

    def __init__(
        self, table: str, bad_rows: int, records: int, limit: float, assumed: str, run_id: str
    ) -> None:
        super().__init__(
            f"table '{table}': {bad_rows:,} of {records:,} records ({bad_rows / records:.1%}) "
            f"were rejected, so nothing was loaded; the reader assumed {assumed}. See why with "
            f"'aoetl runs --show {run_id}', fix the source options, or raise max_bad_ratio "
            f"(--max-bad-ratio, now {limit:g})"
        )
        self.table = table
        self.bad_rows = bad_rows
        self.records = records


class FatalError(AoetlError):
    """A failure that retrying will not fix."""


class NotSupportedError(FatalError):
    """A feature the spec names but this version does not run yet."""

    exit_code = 2


class TransientError(AoetlError):
    """A failure worth retrying (timeouts, throttling, 5xx, lock contention).

    Attributes:
        retry_after: seconds the remote asked us to wait, when it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


ErrorKind = Literal["bad_input", "transient", "fatal"]


def kind_of(exc: BaseException) -> ErrorKind:
    """What kind of failure ``exc`` is, as a run's result records it: ``bad_input`` (a
    :class:`UserError`: exit 2, fix the input), ``transient`` (a :class:`TransientError`:
    worth another attempt) or ``fatal`` (everything else, foreign exceptions included)."""
    if isinstance(exc, UserError):
        return "bad_input"
    if isinstance(exc, TransientError):
        return "transient"
    return "fatal"
