"""The classifiers that map a driver's exception onto aoetl's tree, one per driver family:
:func:`classify_duckdb`, :func:`classify_libpq` (psycopg and ADBC), :func:`classify_sqlalchemy`
(and sqlite3), :func:`classify_urllib3` and :func:`classify_status`
(REST APIs), and :func:`classify`, which picks one. Each
message is one line, secrets masked (:func:`one_line`)."""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

from . import AoetlError, FatalError, SourceNotFoundError, TransientError, UserError
from ._redact import redact

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
# available (55P03) and a statement timeout or cancel on a busy server (57014: aoetl's own
# cancel is a TaskCancelled, never retried) are worth another attempt; login (28), an unknown
# database (3D000), data (22), constraints (23) and the SQL itself (42) are the user's to fix.
_SQLSTATE_TRANSIENT = (
    "08", "57014", "57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03",
)  # fmt: skip
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
    # httpfs raises some HTTP errors (a PUT of a COPY) as IOException or Error, with the status
    # only in the text.
    relayed = re.search(r"returned HTTP (\d{3})", str(exc))
    if "HTTPException" in names or relayed:
        status = getattr(exc, "status_code", 0) or (int(relayed.group(1)) if relayed else 0)
        if status in (408, 429) or status >= 500:
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


_CHECK_API = "check that the API is running and that the URL is right"
_CHECK_AUTH = "check the source's auth settings (the token, key or password, or its ${…} reference)"
# urllib3's transport errors (and their bases): the request never got an answer, so another
# attempt may. A connect error that is really a TLS failure is caught as SSLError first.
_URLLIB3_TRANSIENT = frozenset(
    ("TimeoutError", "NewConnectionError", "ProtocolError", "ProxyError", "ConnectionError",
     "IncompleteRead", "InvalidChunkLength", "ResponseError", "EmptyPoolError")
)  # fmt: skip
_URLLIB3_BAD_URL = frozenset(("LocationValueError", "URLSchemeUnknown", "LocationParseError"))
_CHECK_TLS = (
    "check the server's certificate, or point SSL_CERT_FILE at the CA bundle that signed it"
)


def _retry_after_s(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` as seconds from now: delta-seconds (fractions accepted) or an
    HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _excerpt(body: bytes | str) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text[:2000].split())
    return redact(text if len(text) <= 120 else text[:119] + "…")


def _http_status(status: int, what: str, headers: object = None, body: str = "") -> AoetlError:
    """An HTTP error status as aoetl's: 408, 429 and 5xx are TransientErrors (``Retry-After``
    honoured), 401/403 and 404 and a request the API calls bad (400, 422) UserErrors, any
    other status a FatalError. ``what`` names the request (its URL already masked)."""
    text = f"{what}: HTTP {status}" + (f" ({body})" if body else "")
    if status in (408, 429) or status >= 500:
        get = getattr(headers, "get", None)
        # Case-insensitive headers answer either spelling; a plain dict only its own.
        wait = _retry_after_s(get("retry-after") or get("Retry-After")) if callable(get) else None
        return TransientError(text, retry_after=wait)
    if status in (401, 403):
        return UserError(f"{text}; {_CHECK_AUTH}")
    if status == 404:
        return UserError(f"{text}; check the path and the base URL")
    if status in (400, 422):
        return UserError(f"{text}; check the resource's params")
    return FatalError(text)


def classify_status(
    status: int, headers: object = None, body: bytes | str = b"", what: str = "request"
) -> AoetlError:
    """An HTTP answer's error status as aoetl's (see :func:`_http_status`): ``headers`` give
    the Retry-After, ``body`` a short excerpt (secrets masked); ``what`` names the request,
    its URL already masked."""
    return _http_status(status, what, headers, _excerpt(body))


def classify_urllib3(exc: BaseException, what: str = "request") -> AoetlError:
    """A urllib3 error as aoetl's: a timeout, a refused, reset or dropped connection is a
    TransientError; a TLS failure a UserError saying to check the certificate; a bad URL a
    UserError; anything else a FatalError. ``what`` names the request, its URL masked."""
    reason = getattr(exc, "reason", None)  # MaxRetryError wraps the error that ended it
    if isinstance(reason, BaseException) and "MaxRetryError" in _classes(exc, "urllib3"):
        exc = reason
    names = _classes(exc, "urllib3")
    text = one_line(str(exc)) if str(exc) else type(exc).__name__
    # urllib3 names its connection first ("HTTPConnection(host='h', port=1): …"): the
    # message already names the request.
    text = re.sub(r"^\w+\(host=[^)]*\):\s*", "", text)
    if "SSLError" in names or _classes(exc, "ssl"):
        return _made(UserError, what, text, _CHECK_TLS)
    if names & _URLLIB3_BAD_URL:
        return UserError(f"{what}: {text}; check the URL")
    if names & _URLLIB3_TRANSIENT or isinstance(exc, OSError):
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: a refusal is not
        # a timeout, and its own words say so.
        if "TimeoutError" in names and "NewConnectionError" not in names:
            text = f"timed out ({type(exc).__name__})"
        return _made(TransientError, what, text, _CHECK_API)
    return FatalError(f"{what}: {text}")


_S3_AUTH = {
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
    "403",
    "401",
}
_S3_MISSING = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}
_S3_TRANSIENT = {
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "500",
    "502",
    "503",
    "504",
}
_CHECK_S3_AUTH = (
    "check the access key and secret (s3.access_key_id / s3.secret_access_key, or "
    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the region"
)
_CHECK_CLOCK = (
    "this machine's clock differs from the store's by more than it accepts (15 minutes on "
    "AWS): set the clock right (NTP) and run again"
)
_CHECK_S3 = "check s3.endpoint_url (or AWS_ENDPOINT_URL) and that the store is up"


def classify_boto(exc: BaseException, what: str = "S3 request") -> AoetlError:
    """A boto3/botocore error as aoetl's: a refused login (bad signature, unknown key, access
    denied) a UserError that says which settings to check; a missing bucket or key a
    SourceNotFoundError; throttling, 5xx, timeouts and dropped connections a TransientError;
    no credentials at all a UserError. ``what`` names the request (bucket and key)."""
    names = _classes(exc, "botocore", "boto3", "s3transfer")
    response = getattr(exc, "response", None)
    if "ClientError" in names and isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        message = one_line(str(error.get("Message") or code or exc))
        text = f"{what}: {code or status}" + (f" ({message})" if message != code else "")
        if code == "RequestTimeTooSkewed":  # a 403, but no credential is wrong: the clock is
            return UserError(f"{text}; {_CHECK_CLOCK}")
        if code in _S3_AUTH or status in (401, 403):
            return UserError(f"{text}; {_CHECK_S3_AUTH}")
        if code in _S3_MISSING or status == 404:
            return SourceNotFoundError(f"{text}; check the bucket and the prefix")
        if code in _S3_TRANSIENT or (isinstance(status, int) and status >= 500):
            return TransientError(text)
        return FatalError(text)
    text = one_line(str(exc)) if str(exc) else type(exc).__name__
    if names & {"NoCredentialsError", "PartialCredentialsError", "ProfileNotFound"}:
        return UserError(
            f"{what}: {text}; set s3.access_key_id and s3.secret_access_key (as ${{secret:…}} "
            "references), or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    if names & {"ParamValidationError", "InvalidS3AddressingStyleError"}:
        return UserError(f"{what}: {text}; check the s3:// URI")
    if names & {"InvalidEndpointConfigurationError", "InvalidRegionError"}:
        return UserError(f"{what}: {text}; {_CHECK_S3}")
    if names & {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "IncompleteReadError",
        "ResponseStreamingError",
        "HTTPClientError",
    } or isinstance(exc, ConnectionError | TimeoutError):
        return _made(TransientError, what, text, _CHECK_S3)
    return FatalError(f"{what}: {text}")


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
    if _classes(exc, "urllib3"):
        return classify_urllib3(exc, what)
    if _classes(exc, "botocore", "boto3", "s3transfer"):
        return classify_boto(exc, what)
    if isinstance(exc, ConnectionError | TimeoutError):
        return _made(TransientError, what, one_line(str(exc)), _CHECK_SERVER)
    return FatalError(f"{what}: {one_line(str(exc)) if str(exc) else type(exc).__name__}")
