"""The one exception tree of aoetl, and the classifiers that map driver errors onto it.

Every exception class aoetl defines derives from :class:`AoetlError`, and is drawn here with
the module that holds it when that is not this one (a test checks the drawing against the
code)::

    AoetlError                      exit_code 1 unless a subclass says otherwise
    ├── UserError                   exit_code 2: bad input or usage; the message says how to fix it
    │   ├── SpecError               a pipeline file or option does not validate (file, line, field)
    │   ├── UnknownConnectorError   no connector for a URI scheme or file format (lists known ones)
    │   ├── SourceNotFoundError     a path, glob or table matches nothing
    │   ├── SchemaConflictError     a column changed type in a way that cannot be widened safely
    │   ├── TooManyBadRowsError     more rejected rows than --max-bad-rows allows; nothing loaded
    │   ├── MostlyRejectedError     a table rejected more than max_bad_ratio of its records
    │   ├── CycleError              engine.plan: the tasks of a plan depend on each other in a loop
    │   ├── LineTooLongError        connectors.files._sniff: a line longer than max_line_size
    │   ├── WrongKeyError           connectors.duckdb._encrypted: an encrypted DuckDB file's key
    │   ├── SecretError             secrets.providers: a secret is missing or its provider refused
    │   └── SecretReferenceError    secrets.refs: a ${…} reference is not well formed
    ├── FatalError                  retrying will not fix it (auth, corrupt file, bug in a step)
    │   ├── NotSupportedError       a feature that exists in the spec but not yet in this version
    │   ├── TaskCancelled           engine.executor: stopped by its time limit, --fail-fast, Ctrl-C
    │   └── ExtensionUnavailable    connectors.sql.source: a DuckDB scanner did not load; a
    │                               fallback reader takes over (seen only when none can)
    ├── TransientError              worth retrying: timeouts, HTTP 429/5xx, lock contention
    │   ├── CircuitOpenError        resilience.breaker: an endpoint's breaker is open, cooling down
    │   └── SecretUnavailable       secrets.providers: a secret store did not answer in time
    └── RunInterrupted              engine.executor: SIGINT or SIGTERM; exit_code 130

Connectors decide retryability at the edge by raising :class:`TransientError` or
:class:`FatalError`; the executor retries only the former, and :func:`kind_of` names the kind
a run's result records. A driver's own exception becomes one of these through the classifier
of its family: :func:`classify_duckdb`, :func:`classify_libpq` (psycopg and ADBC),
:func:`classify_sqlalchemy` (and sqlite3), or :func:`classify`, which picks one. Messages never
hold a secret: text is passed through :func:`redact` (every registered secret value, and
passwords in URLs and DSNs via :func:`redact_uri`) before it reaches a message.

This module imports nothing of aoetl and no driver: a driver's exception is recognised by the
names and modules of its classes.
"""

from __future__ import annotations

import re
import threading
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


# The secret values resolved so far, longest first so a value holding another is masked whole;
# replaced, never changed in place, so a reader needs no lock. They live here, not in
# secrets/, so that a classifier below masks them without importing a higher layer.
_SECRET_VALUES: tuple[str, ...] = ()
_SECRETS_LOCK = threading.Lock()
_MIN_SECRET = 4  # shorter values would mask ordinary text ("1", "yes")


def register_secret(value: str) -> None:
    """Mask ``value`` from now on in everything :func:`redact` returns."""
    global _SECRET_VALUES
    if len(value) < _MIN_SECRET:
        return
    with _SECRETS_LOCK:
        if value not in _SECRET_VALUES:
            _SECRET_VALUES = tuple(sorted((*_SECRET_VALUES, value), key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret and every password (in a URL's userinfo or query
    string, or in a DSN) replaced by ``***``. Linear in the length of ``text``: one C-speed
    substring search per registered value (a run registers a few), then :func:`redact_uri`."""
    for value in _SECRET_VALUES:
        if value in text:
            text = text.replace(value, MASK)
    return redact_uri(text)


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


# -- driver errors ---------------------------------------------------------------------------
# A driver's exception is recognised by its classes' names and modules, so this module never
# imports a driver, and its patterns are plain strings that `re` compiles (and caches) on
# first use: `import agent_orchestrated_etl.errors` stays cheap.

_MAX_MESSAGE = 300
# The wrappers drivers put around a server's words: DuckDB's extension, ADBC's status,
# psycopg's "connection failed:", SQLAlchemy's "(psycopg.OperationalError)".
_WRAPPER = (
    r"^(?:\([\w.]+\)\s*|[A-Z_]+:\s+(?=\[|Failed)|\[libpq\]\s*|Failed to connect:\s*"
    r"|connection failed:\s*|IO Error:\s*|Unable to connect to Postgres at \"[^\"]*\":\s*)+"
)
_RELAYED = r"\b(?:ERROR|error|FATAL):\s+(.*)$"  # the server's own words
_DUCKDB_HINTS = ("Did you mean", "Candidate bindings")

_CHECK_SERVER = "check that the server is running and that the host and port are right"
_CHECK_LOGIN = "check the user and the password (in the URL, or the ${…} reference that gives it)"
# libpq's words (also relayed by DuckDB's postgres extension), SQLite's, then the operating
# system's, first match wins: (pattern, kind, hint).
_WORD_RULES: tuple[tuple[str, type[AoetlError], str | None], ...] = (
    (
        r"(?i)password authentication failed|authentication failed|no password supplied"
        r"|role \S+ does not exist|no pg_hba\.conf entry",
        UserError, _CHECK_LOGIN,
    ),
    (r"(?i)database \S+ does not exist", UserError,
     "check the database name at the end of the URL"),
    (r"(?i)could not translate host name|invalid connection option|invalid (?:URI|port)"
     r"|missing \"=\" after", UserError, _CHECK_SERVER),
    (
        r"(?i)connection refused|timeout expired|timed out|connection reset|broken pipe"
        r"|server closed the connection|terminating connection|could not (?:receive|send) data"
        r"|SSL SYSCALL|no route to host|network is unreachable|too many clients"
        r"|the database system is (?:starting up|shutting down)|is the server running",
        TransientError, _CHECK_SERVER,
    ),
    (r"(?i)unable to open database file", UserError,
     "check that the file's folder exists and is writable"),
    (r"(?i)database is locked|database table is locked", TransientError,
     "another process is writing the file; let it finish"),
    (r"(?i)no space left on device|disk (?:is )?full", FatalError,
     "free disk space and run again (it resumes from its checkpoints)"),
    (r"(?i)permission denied|read-only file system", FatalError,
     "check that aoetl may write there"),
    (r"(?i)no such file or directory", FatalError, "check that the folder exists"),
)  # fmt: skip
# SQLSTATE classes and codes: connection (08), shutdowns and "cannot connect now" (57P0x),
# too many connections (53300), serialization failure and deadlock (40001, 40P01), lock not
# available (55P03) are worth another attempt; login (28), an unknown database (3D000), data
# (22), constraints (23) and the SQL itself (42) are the user's to fix.
_SQLSTATE_TRANSIENT = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03")
_SQLSTATE_USER = ("28", "3D000", "22", "23", "42")
# A server's data and constraint errors (SQLSTATE classes 22 and 23) reach DuckDB as plain
# text in a generic error; these are their usual words.
_RELAYED_DATA = (
    r"(?i)violates|value too long|invalid input syntax|out of range|malformed|cannot be null"
)
# Errors in the data or in a step's SQL: running again will not help, the input must change.
_DUCKDB_USER = frozenset(
    ("ConversionException", "BinderException", "ParserException", "InvalidInputException",
     "CatalogException", "ConstraintException", "OutOfRangeException")
)  # fmt: skip


def one_line(message: str) -> str:
    """A driver's message as one short line, secrets masked: the server's own words when a
    driver relays them (``… ERROR: …``), without the driver's wrappers or the SQL it quotes,
    keeping DuckDB's hints ("Did you mean …")."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else "unknown error"
    relayed = re.search(_RELAYED, first)
    if relayed is None and len(lines) > 1 and first.endswith(":"):
        relayed = re.search(_RELAYED, " ".join(lines[:3]))
    if relayed is not None:
        text = relayed.group(1)
    else:
        hints = (line for line in lines[1:] if line.startswith(_DUCKDB_HINTS))
        text = " ".join([re.sub(_WRAPPER, "", first) or first, *hints])
    text = redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _classes(exc: BaseException, *modules: str) -> set[str]:
    """The names of ``exc``'s classes that come from one of ``modules`` (or a submodule)."""
    return {
        c.__name__ for c in type(exc).__mro__ if c.__module__.split(".")[0].lstrip("_") in modules
    }


def _made(kind: type[AoetlError], what: str, text: str, hint: str | None) -> AoetlError:
    return kind(f"{what}: {text}" + (f"; {hint}" if hint else ""))


def _by_words(exc: BaseException, what: str) -> AoetlError:
    """``exc`` classified by libpq's (or SQLite's) words; a FatalError when none match."""
    raw = str(exc)
    for pattern, kind, hint in _WORD_RULES:
        if re.search(pattern, raw):
            return _made(kind, what, one_line(raw), hint)
    return FatalError(f"{what}: {one_line(raw)}")


def classify_duckdb(exc: BaseException, what: str) -> AoetlError:
    """A DuckDB error as aoetl's, the same on every target and source that runs DuckDB.

    ``what`` names what failed (``"table 'orders'"``, ``"commit failed"``). The rule: bad data
    or SQL (conversion, binder, parser, catalog, constraint, range, and a server's relayed data
    error) is a UserError; an I/O error on a connection (refused, reset, timed out, dropped:
    what the postgres extension raises) or an HTTP 429/5xx is a TransientError, while one on a
    file (missing, no space, no permission) is a FatalError; a write-write conflict is
    transient; an interrupt, out of memory and anything else are FatalErrors.
    """
    names = _classes(exc, "duckdb")
    if "InterruptException" in names:
        return FatalError(f"{what}: load cancelled")
    if "OutOfMemoryException" in names:
        return FatalError(f"{what}: {one_line(str(exc))}; free memory on this machine and rerun")
    if "HTTPException" in names:
        status = getattr(exc, "status_code", 0) or 0
        if status == 429 or status >= 500:
            return TransientError(f"{what}: {one_line(str(exc))}")
        hint = "check the credentials" if status in (401, 403) else None
        return _made(UserError if status in (401, 403, 404) else FatalError,
                     what, one_line(str(exc)), hint)  # fmt: skip
    if names & _DUCKDB_USER:
        return UserError(f"{what}: {one_line(str(exc))}")
    if "TransactionException" in names and "conflict" in str(exc).lower():
        return TransientError(f"{what}: {one_line(str(exc))}; another writer was first")
    if names & {"IOException", "ConnectionException"}:
        return _by_words(exc, what)
    if type(exc).__name__ == "Error":  # a server's error relayed by an extension, as text
        if re.search(_RELAYED_DATA, str(exc)):
            return UserError(f"{what}: {one_line(str(exc))}")
        return _by_words(exc, what)
    return FatalError(f"{what}: {one_line(str(exc))}")


def classify_libpq(exc: BaseException, what: str) -> AoetlError:
    """A psycopg or ADBC (PostgreSQL) error as aoetl's: by its SQLSTATE when the server sent
    one, else by libpq's words. Connection refused, reset or timed out, and a dropped
    connection are TransientErrors; a failed login or an unknown database, bad data or SQL are
    UserErrors; anything else is a FatalError.

    ``what`` names what failed (``"cannot connect to postgresql://u:***@h/db"``).
    """
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state:
        kind: type[AoetlError] = FatalError
        if state.startswith(_SQLSTATE_TRANSIENT):
            kind = TransientError
        elif state.startswith(_SQLSTATE_USER):
            kind = UserError
        for pattern, _, hint in _WORD_RULES:  # the hint, when the words have one
            if re.search(pattern, str(exc)):
                return _made(kind, what, one_line(str(exc)), hint)
        return kind(f"{what}: {one_line(str(exc))}")
    # libpq's I/O errors can come up as a plain OSError (through ADBC's Arrow stream).
    if isinstance(exc, ConnectionError | TimeoutError):
        return _made(TransientError, what, one_line(str(exc)), _CHECK_SERVER)
    if "DataError" in _classes(exc, "psycopg", "psycopg2", "adbc_driver_manager"):
        return UserError(f"{what}: {one_line(str(exc))}")
    return _by_words(exc, what)


def classify_sqlalchemy(exc: BaseException, what: str) -> AoetlError:
    """A SQLAlchemy error (or the sqlite3 error inside one) as aoetl's.

    An error that wraps a driver's (``.orig``) is classified by that driver's family; a
    dropped connection (``connection_invalidated``, DisconnectionError) or a pool timeout is a
    TransientError; a bad URL or a missing dialect is a UserError; anything else is a
    FatalError.
    """
    orig = getattr(exc, "orig", None)
    names = _classes(exc, "sqlalchemy")
    if isinstance(orig, BaseException) and orig is not exc:
        error = classify(orig, what)
        if isinstance(error, FatalError) and getattr(exc, "connection_invalidated", False):
            return TransientError(error.message)
        return error
    if names & {"DisconnectionError", "TimeoutError"}:
        return _made(TransientError, what, one_line(str(exc)), _CHECK_SERVER)
    if names & {"ArgumentError", "NoSuchModuleError"}:
        return UserError(f"{what}: {one_line(str(exc))}; check the URL")
    if _classes(exc, "sqlite3") & {"IntegrityError", "DataError"}:
        return UserError(f"{what}: {one_line(str(exc))}")
    return _by_words(exc, what)


def classify(exc: BaseException, what: str) -> AoetlError:
    """``exc`` as aoetl's, by the classifier of its driver's family; an AoetlError is kept as
    it is, a refused or timed-out socket is a TransientError, anything else a FatalError."""
    if isinstance(exc, AoetlError):
        return exc
    if _classes(exc, "duckdb"):
        return classify_duckdb(exc, what)
    if _classes(exc, "psycopg", "psycopg2", "adbc_driver_manager"):
        return classify_libpq(exc, what)
    if _classes(exc, "sqlalchemy", "sqlite3"):
        return classify_sqlalchemy(exc, what)
    if isinstance(exc, ConnectionError | TimeoutError):
        return _made(TransientError, what, one_line(str(exc)), _CHECK_SERVER)
    return FatalError(f"{what}: {one_line(str(exc)) if str(exc) else type(exc).__name__}")
