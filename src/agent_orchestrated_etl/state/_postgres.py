"""The PostgreSQL backend: one state shared by every worker (``AOETL_STATE_URL``).

The URL may be a reference (``${env:NAME}``, ``${secret:vault:kv/aoetl#state_url}``),
resolved here through ``secrets``; its password is registered with the redaction filter, and
only the URL as written, password masked, is ever shown. ``?schema=NAME`` picks the
PostgreSQL schema of the state tables (default ``aoetl_state``), so the state can share a
database with a pipeline's own tables.

Connections: a run makes dozens of state calls, so each thread keeps one connection per
database and reuses it (autocommit; a transaction is a real ``BEGIN`` … ``COMMIT``). A
connection the server dropped while idle is replaced at the next call's first statement
(:class:`PgConnection`); one dropped in the middle of a call makes it fail, retryably. A
forked child never touches the connections it inherited: closing one would end its
parent's session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from ..errors import (
    MASK,
    REFERENCE_PATTERN,
    AoetlError,
    TransientError,
    UserError,
    classify_libpq,
    one_line,
    redact,
    redact_uri,
)
from . import _migrations as migrations
from ._dialect import POSTGRES, Cursor, Dialect, postgres_sql

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
DEFAULT_SCHEMA = "aoetl_state"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
# libpq's words for an option's value it cannot use (sslmode=bogus, connect_timeout=abc).
_BAD_OPTION = re.compile(
    r"invalid (?:\w+ )?value|invalid connection option|bad value for|unrecognized value"
)
T = TypeVar("T")
_INSTALL = "pip install 'agent-orchestrated-etl[postgres]'"


def is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


@dataclass(frozen=True)
class Location:
    conninfo: str  # resolved, with its password: never shown
    schema: str
    shown: str  # as written (a reference stays one), password masked


def locate(url: str, origin: str) -> Location:
    """The database and schema ``url`` names; a UserError saying what to fix if it is not a
    PostgreSQL URL, does not parse cleanly, or its schema option is not a plain name."""
    written = url.strip()
    shown = shown_url(written)
    resolved = _resolved(written, origin) if "${" in written else written
    from ..secrets import register, register_url

    if not _clean(resolved):
        # Whatever a URL parser or libpq would make of it may cut the password anywhere
        # (a host "ss@db" from "p@ss@db"): mask all the userinfo, never quote a parser.
        userinfo = resolved.partition("://")[2].rpartition("@")[0]
        register(userinfo.partition(":")[2] or userinfo)
        raise UserError(
            f"{origin} {shown!r} does not parse "
            "as a URL: percent-encode the special characters of the user and the password "
            "(@ : / ? # [ ] % and spaces as %40 %3A %2F %3F %23 %5B %5D %25 %20), and close "
            "the [ ] of an IPv6 host"
        )
    register_url(resolved)
    raw_password = urlsplit(resolved).password
    if raw_password:  # also as written: libpq quotes a bad %-escape as it stands
        register(raw_password)
    if not is_postgres(resolved):
        raise UserError(
            f"{origin} {shown_url(resolved)!r} is not a PostgreSQL URL: write it as "
            "postgresql://USER@HOST:PORT/DATABASE, with ':' and the password after USER, or "
            "unset it to keep the state in AOETL_HOME/state.db"
        )
    import psycopg.conninfo

    parts = urlsplit(resolved)
    # The other options stay exactly as written: decoding and encoding them again would turn
    # "%20" into "+", which libpq reads as a plus sign.
    rest = "&".join(p for p in parts.query.split("&") if p and _key(p) != "schema")
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment))
    try:
        parts.port  # noqa: B018  (urllib checks the port only when asked for it)
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except (ValueError, psycopg.Error) as exc:
        raise UserError(
            f"{origin} {shown!r} is not a valid PostgreSQL URL: {redact(str(exc))}"
        ) from None
    options = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in options if k == "schema"), DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise UserError(
            f"{origin} {shown!r}: schema={schema!r} is not a plain PostgreSQL name; use "
            "letters, digits and _ (at most 63, not starting with a digit)"
        )
    return Location(conninfo, schema.lower(), shown)


def _key(option: str) -> str:
    return unquote_plus(option.partition("=")[0])


def _clean(url: str) -> bool:
    """Whether ``url`` splits into its parts as written: its userinfo (up to the one '@') all
    in the network location. A password holding '/', '?', '#', '@' or a space unencoded, or an
    unclosed '[', does not."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    after = url.partition("://")[2]
    if parts.netloc.count("@") > 1 or re.search(r"\s", parts.netloc.rpartition("@")[0]):
        return False
    return "@" in parts.netloc or "@" not in after


def shown_url(url: str) -> str:
    """``url`` as messages show it: its password masked (references kept), and, when it does
    not split cleanly, everything between ``://`` and the last ``@``."""
    # A reference is not a secret, and may hold '/' or '#' (kv/app#pw): judge the rest.
    if _clean(re.sub(REFERENCE_PATTERN, "ref", url)):
        return redact_uri(url)
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return redact_uri(url)
    return f"{scheme}://{MASK}@{rest.rpartition('@')[2]}"


def _resolved(written: str, origin: str) -> str:
    """``written`` with its references resolved; their errors say where they were."""
    from ..secrets import resolve

    try:
        return resolve(written)
    except UserError as exc:
        raise UserError(f"{origin}: {exc}") from None
    except TransientError as exc:
        raise TransientError(f"{origin}: {exc}") from None


class PgConnection:
    """A psycopg connection as the stores call it: ``?`` placeholders, rows as tuples.

    A reused connection may have been dropped while it was idle (``idle_session_timeout``, a
    restart, a proxy), which only its next statement finds out. So the first statement of a
    call, when it fails on a connection that is now broken, runs once more on a new one:
    nothing of the call reached the server before it.
    """

    def __init__(
        self,
        raw: psycopg.Connection[Any],
        pool: _Pool,
        unreachable: Callable[[Exception], AoetlError],
        *,
        reused: bool,
    ) -> None:
        self.raw = raw
        self._pool = pool
        self._unreachable = unreachable
        self._retry = reused

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        text, values = postgres_sql(sql), _values(params)
        return self._first(lambda raw: raw.execute(text, values))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        text, values = postgres_sql(sql), [_values(row) for row in rows]

        def run(raw: psycopg.Connection[Any]) -> None:
            with raw.cursor() as cursor:
                cursor.executemany(text, values)

        self._first(run)

    def _first(self, call: Callable[[psycopg.Connection[Any]], T]) -> T:
        import psycopg

        retry, self._retry = self._retry, False
        try:
            return call(self.raw)
        except psycopg.Error:
            if not (retry and (self.raw.broken or self.raw.closed)):
                raise
        self._pool.forget()
        try:
            self.raw, _ = self._pool.get()
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None
        return call(self.raw)


def _values(params: Sequence[Any]) -> tuple[Any, ...]:
    """``params`` as PostgreSQL stores them: its text refuses NUL, which SQLite keeps (a
    quarantined row's reason may quote one), so NUL is written as the four characters
    ``\\x00``."""
    return tuple(
        v.replace("\x00", "\\x00") if isinstance(v, str) and "\x00" in v else v for v in params
    )


class _Pool:
    """One connection per thread to one database, reused."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.pid = os.getpid()
        self._local = threading.local()

    def get(self) -> tuple[psycopg.Connection[Any], bool]:
        """This thread's connection, and whether it is new."""
        if self.pid != os.getpid():  # a forked child: the parent's connections stay untouched
            _INHERITED.append(self._local)
            self._local, self.pid = threading.local(), os.getpid()
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and not held.con.closed and not held.con.broken:
            return held.con, False
        self._local.held = None
        import psycopg

        where = self.location
        extra: dict[str, Any] = {"application_name": "aoetl state"}
        if "connect_timeout" not in where.conninfo:
            extra["connect_timeout"] = 10
        con = psycopg.connect(where.conninfo, autocommit=True, **extra)
        con.execute(f'SET search_path TO "{where.schema}"')
        self._local.held = _Held(con)
        return con, True

    def forget(self) -> None:
        self._local.held = None


class _Held:
    """A thread's connection, closed when the thread ends (its thread-local goes) or when it
    is replaced; never in a forked child, where it is the parent's."""

    __slots__ = ("con", "pid")

    def __init__(self, con: psycopg.Connection[Any]) -> None:
        self.con, self.pid = con, os.getpid()

    def __del__(self) -> None:
        if self.pid == os.getpid():
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                self.con.close()


_POOLS: dict[tuple[str, str], _Pool] = {}
_POOLS_LOCK = threading.Lock()
_INHERITED: list[object] = []  # a forked child's copies of its parent's connections, kept open


def _after_fork() -> None:
    _INHERITED.extend(_POOLS.values())
    _POOLS.clear()


os.register_at_fork(after_in_child=_after_fork)


class PostgresBackend:
    dialect: Dialect = POSTGRES

    def __init__(self, url: str, origin: str = "the state store") -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise UserError(
                f"{origin} is a PostgreSQL URL, and that needs psycopg; install it with: {_INSTALL}"
            ) from None
        self.location = locate(url, origin)
        self.where = self.location.shown
        # What messages call it: with the variable it came from, so the user knows what to fix.
        named = self.where if origin.startswith("the ") else f"{origin}={self.where}"
        self._what = f"the state store {named}"
        self.schema = self.location.schema
        key = (self.location.conninfo, self.location.schema)
        with _POOLS_LOCK:
            self._pool = _POOLS.setdefault(key, _Pool(self.location))

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        with self._use() as con:
            yield con

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        import psycopg

        with self._use() as con:
            con.execute("BEGIN")  # the call's first statement: retried on a dropped connection
            try:
                yield con
            except BaseException:
                if not (con.raw.broken or con.raw.closed):
                    with contextlib.suppress(psycopg.Error):
                        con.raw.execute("ROLLBACK")
                raise
            con.raw.execute("COMMIT")

    @contextmanager
    def _use(self) -> Iterator[PgConnection]:
        import psycopg

        try:
            raw, new = self._pool.get()
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None
        con = PgConnection(raw, self._pool, self._unreachable, reused=not new)
        try:
            yield con
        except psycopg.Error as exc:
            error = classify_libpq(exc, self._what)
            if con.raw.broken or con.raw.closed:
                self._pool.forget()  # the next call connects again
                if not isinstance(error, TransientError):  # 57P05 and the like: try again
                    error = TransientError(error.message)
            raise error from exc

    def migrate(self) -> None:
        """Bring the schema to the latest version: one query when it is there already. The
        migration holds an advisory lock of the schema, so of two processes opening a new
        store at once, one migrates and the other waits, then finds it done."""
        if self._opening_version() == migrations.LATEST:
            return
        with self.transaction() as con:
            con.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(self.schema),))
            # Looked up first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
            # when the schema is there, and a user may own only a schema made for it.
            found = con.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,)
            ).fetchone()
            if found is None:
                con.execute(f'CREATE SCHEMA "{self.schema}"')
            con.execute(migrations.VERSION_DDL)
            row = con.execute(f"SELECT max(version) FROM {migrations.VERSION_TABLE}").fetchone()
            version = self._checked(int(row[0] or 0))
            for number in range(version, migrations.LATEST):
                for statement in migrations.statements(migrations.POSTGRES[number]):
                    con.execute(statement)
                con.execute(
                    f"INSERT INTO {migrations.VERSION_TABLE} VALUES (?, ?, ?)",
                    (number + 1, time.time(), migrations.aoetl_version()),
                )

    def _opening_version(self) -> int:
        """The schema's version, read on this thread's connection (replaced once if the server
        dropped it meanwhile); 0 for a schema not made yet."""
        import psycopg

        with self.connect() as con:
            try:
                row = con.execute(f"SELECT max(version) FROM {migrations.VERSION_TABLE}").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
        return self._checked(int(row[0] or 0) if row else 0)

    def _unreachable(self, exc: Exception) -> AoetlError:
        what = f"cannot connect to {self._what}"
        if _BAD_OPTION.search(str(exc)):  # libpq judges option values only as it connects
            return UserError(f"{what}: {one_line(str(exc))}; fix the option in the URL")
        return classify_libpq(exc, what)

    def _checked(self, version: int) -> int:
        if version > migrations.LATEST:
            raise UserError(migrations.too_new(version, self.where))
        return version


def _lock_key(schema: str) -> int:
    """The advisory lock of a schema's migrations: a stable signed 64-bit number."""
    digest = hashlib.sha256(f"aoetl-state:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
