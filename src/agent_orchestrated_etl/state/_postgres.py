"""The PostgreSQL backend: one state shared by every worker (``AOETL_STATE_URL``).

The URL may be a reference (``${env:NAME}``, ``${secret:vault:kv/aoetl#state_url}``),
resolved here through ``secrets``; its password is registered with the redaction filter, and
only the URL as written, password masked, is ever shown. ``?schema=NAME`` picks the
PostgreSQL schema of the state tables (default ``aoetl_state``), so the state can share a
database with a pipeline's own tables.

Connections: a run makes dozens of state calls, so each thread keeps one connection per
database and reuses it (autocommit; a transaction is a real ``BEGIN`` … ``COMMIT``). A
connection the server dropped is replaced at its next use. A forked child never touches the
connections it inherited: closing one would end its parent's session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import AoetlError, TransientError, UserError, classify_libpq, redact, redact_uri
from . import _migrations as migrations
from ._dialect import POSTGRES, Cursor, Dialect, postgres_sql

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
DEFAULT_SCHEMA = "aoetl_state"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
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
    PostgreSQL URL or its schema option is not a plain name."""
    written = url.strip()
    shown = redact_uri(written)
    resolved = _resolved(written, origin) if "${" in written else written
    from ..secrets import register_url

    register_url(resolved)
    if not is_postgres(resolved):
        raise UserError(
            f"{origin} {redact_uri(resolved)!r} is not a PostgreSQL URL: write it as "
            "postgresql://USER@HOST:PORT/DATABASE, with ':' and the password after USER, or "
            "unset it to keep the state in AOETL_HOME/state.db"
        )
    import psycopg.conninfo

    parts = urlsplit(resolved)
    options = parse_qsl(parts.query, keep_blank_values=True)
    rest = urlencode([(k, v) for k, v in options if k != "schema"])
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment))
    try:
        parts.port  # noqa: B018  (urllib checks the port only when asked for it)
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except (ValueError, psycopg.Error) as exc:
        raise UserError(
            f"{origin} {shown!r} is not a valid PostgreSQL URL: {redact(str(exc))}"
        ) from None
    schema = next((v for k, v in options if k == "schema"), DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise UserError(
            f"{origin} {shown!r}: schema={schema!r} is not a plain PostgreSQL name; use "
            "letters, digits and _ (at most 63, not starting with a digit)"
        )
    return Location(conninfo, schema.lower(), shown)


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
    """A psycopg connection as the stores call it: ``?`` placeholders, rows as tuples."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        return self.raw.execute(postgres_sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(postgres_sql(sql), rows)


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
            yield PgConnection(con)

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        with self._use() as con, con.transaction():
            yield PgConnection(con)

    @contextmanager
    def _use(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        try:
            con, _ = self._pool.get()
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None
        try:
            yield con
        except psycopg.Error as exc:
            if con.broken or con.closed:
                self._pool.forget()  # the next call connects again
            raise classify_libpq(exc, self._what) from exc

    def migrate(self) -> None:
        """Bring the schema to the latest version: one query when it is there already. The
        migration holds an advisory lock of the schema, so of two processes opening a new
        store at once, one migrates and the other waits, then finds it done."""
        if self._opening_version() == migrations.LATEST:
            return
        with self.transaction() as con:
            con.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(self.schema),))
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
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
        """The schema's version, read on this thread's connection; a reused connection that
        the server dropped meanwhile (a restart) is replaced once."""
        import psycopg

        for _ in range(2):
            try:
                con, new = self._pool.get()
            except psycopg.Error as exc:
                raise self._unreachable(exc) from None
            try:
                row = con.execute(f"SELECT max(version) FROM {migrations.VERSION_TABLE}").fetchone()
                return self._checked(int(row[0] or 0) if row else 0)
            except psycopg.errors.UndefinedTable:
                return 0
            except psycopg.Error as exc:
                if not (con.broken or con.closed):
                    raise classify_libpq(exc, self._what) from exc
                self._pool.forget()
                if new:
                    raise classify_libpq(exc, self._what) from exc
        raise AssertionError("unreachable")

    def _unreachable(self, exc: Exception) -> AoetlError:
        return classify_libpq(exc, f"cannot connect to {self._what}")

    def _checked(self, version: int) -> int:
        if version > migrations.LATEST:
            raise UserError(migrations.too_new(version, self.where))
        return version


def _lock_key(schema: str) -> int:
    """The advisory lock of a schema's migrations: a stable signed 64-bit number."""
    digest = hashlib.sha256(f"aoetl-state:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
