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
    │   ├── CheckFailedError        a check of severity fail failed on the staged rows; nothing
    │   │                           of the run was committed
    │   ├── CycleError              engine.plan: the tasks of a plan depend on each other in a loop
    │   ├── LineTooLongError        connectors.files._sniff: a line longer than max_line_size
    │   ├── WrongKeyError           connectors.duckdb._encrypted: an encrypted DuckDB file's key
    │   ├── ConflictError           connectors.s3._manifest: another writer changed a table of an
    │   │                           S3 target between this run's staging and its commit
    │   ├── NoCapableAgent          agents.coordinator: no registered agent can do a piece of
    │   │                           work; lists every candidate and why it was rejected
    │   ├── SecretError             secrets.providers: a secret is missing or its provider refused
    │   └── SecretReferenceError    secrets.refs: a ${…} reference is not well formed
    ├── FatalError                  retrying will not fix it (auth, corrupt file, bug in a step)
    │   ├── NotSupportedError       a feature that exists in the spec but not yet in this version
    │   ├── EncoderUnavailable      agents.memory._encoder: the ONNX encoder cannot be used here;
    │   │                           memory search falls back to sentence-transformers
    │   ├── TaskCancelled           engine.executor: stopped by its time limit, --fail-fast, Ctrl-C
    │   │   └── TaskTimedOut        engine.executor: stopped by its time limit (a timeout)
    │   └── ExtensionUnavailable    connectors.sql.source: a DuckDB scanner did not load; a
    │                               fallback reader takes over (seen only when none can)
    ├── TransientError              worth retrying: timeouts, HTTP 429/5xx, lock contention
    │   ├── CircuitOpenError        resilience.breaker: an endpoint's breaker is open, cooling down
    │   └── SecretUnavailable       secrets.providers: a secret store did not answer in time
    ├── TaskFailed                  airflow: a task of a generated DAG failed; Airflow retries it
    │                               unless its ``retry`` is False (outside Airflow only)
    └── RunInterrupted              engine.executor: SIGINT or SIGTERM; exit_code 130

Connectors decide retryability at the edge by raising :class:`TransientError` or
:class:`FatalError`; the executor retries only the former, and :func:`kind_of` names the kind
a run's result records. A driver's own exception becomes one of these through the classifier
of its family: :func:`classify_duckdb`, :func:`classify_libpq` (psycopg and ADBC),
:func:`classify_sqlalchemy` (and sqlite3), :func:`classify_urllib3` and
:func:`classify_status` (REST APIs: a transport error, an error status),
:func:`classify_boto` (S3 through boto3), or :func:`classify`, which picks one. Messages never
hold a secret: text is passed through :func:`redact` (every registered secret value, and
passwords in URLs and DSNs via :func:`redact_uri`) before it reaches a message.

The exception classes and :func:`kind_of` are defined here; redaction is in ``_redact`` and
the classifiers in ``_classify``, and every caller imports all of them from this package. It
imports nothing else of aoetl and no driver: a driver's exception is recognised by the names and
modules of its classes.
"""

from __future__ import annotations

from typing import Literal

from ._redact import MASK, QUERY_SECRET_KEYS, REFERENCE_PATTERN, redact, redact_uri, register_secret


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


class CheckFailedError(UserError):
    """A ``fail`` check failed on the rows a run staged; the run committed nothing.

    ``checks`` holds the names of the checks that failed.
    """

    def __init__(self, message: str, checks: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.checks = checks


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
    worth another attempt) or ``fatal`` (everything else, foreign exceptions included). An
    interrupted run (exit code 130: Ctrl-C, SIGTERM) is transient: nothing was committed, and
    running it again resumes it."""
    if getattr(exc, "exit_code", None) == 130:
        return "transient"
    if isinstance(exc, UserError):
        return "bad_input"
    if isinstance(exc, TransientError):
        return "transient"
    return "fatal"


# Last, because the classifiers build the classes above: _classify imports them from this
# package, which must have defined them by then.
from ._classify import (  # noqa: E402
    classify,
    classify_boto,
    classify_duckdb,
    classify_libpq,
    classify_sqlalchemy,
    classify_status,
    classify_urllib3,
    one_line,
)

__all__ = [
    "MASK",
    "QUERY_SECRET_KEYS",
    "REFERENCE_PATTERN",
    "AoetlError",
    "CheckFailedError",
    "ErrorKind",
    "FatalError",
    "MostlyRejectedError",
    "NotSupportedError",
    "SchemaConflictError",
    "SourceNotFoundError",
    "SpecError",
    "TooManyBadRowsError",
    "TransientError",
    "UnknownConnectorError",
    "UserError",
    "classify",
    "classify_boto",
    "classify_duckdb",
    "classify_libpq",
    "classify_sqlalchemy",
    "classify_status",
    "classify_urllib3",
    "kind_of",
    "one_line",
    "redact",
    "redact_uri",
    "register_secret",
]
