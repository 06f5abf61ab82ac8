"""One read-only, row-limited SQL statement against a target: what ``aoetl query`` and the
MCP server's ``query`` tool run.

Read-only twice over. :func:`check_read_only` refuses anything but one reading statement
before a connection is opened, by DuckDB's own parser (no SQL parser of ours). Then the
connection cannot write whatever slips past: a DuckDB file is opened ``read_only`` with
external access off and the configuration locked (no ``COPY … TO``, ``ATTACH``, extension or
other file); PostgreSQL runs the statement in a transaction that is READ ONLY from its start,
whose snapshot is taken before the statement so it cannot be made read-write, and always
rolled back; SQLite opens the file with ``mode=ro``, ``query_only`` on and no ``ATTACH``.
At most ``limit + 1`` rows are fetched (the one more says the result was truncated), each
driver streaming, so a huge result is never read whole.
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, cast

import duckdb

from ..errors import AoetlError, NotSupportedError, UserError, classify, one_line, redact
from ..spec import target_kind
from .base import Location
from .registry import locate

MAX_LIMIT = 10_000
"""The most rows one query returns; a bigger result is truncated and says so."""
DEFAULT_TIMEOUT_S = 30.0

# What DuckDB's parser calls a reading statement: SELECT covers WITH, VALUES, TABLE, FROM …,
# SHOW, DESCRIBE, SUMMARIZE and PRAGMAs that read (it rewrites them as SELECTs).
_READING = frozenset({"SELECT", "EXPLAIN"})
_LOADS = frozenset({"INSERT", "UPDATE", "DELETE", "COPY", "CREATE", "MERGE_INTO"})
_ALLOWED = "SELECT, WITH, VALUES, TABLE, SHOW, DESCRIBE or EXPLAIN"
_MISTAKES = r"(?i)no such|syntax error|does not exist|not found|ambiguous|mismatch|misuse"
# What the read-only connections answer to a write (SQLite to ATTACH: "too many attached").
_REFUSALS = r"read-only|readonly|file system operations are disabled|too many attached"
_KINDS = "DuckDB files (duckdb:///x.duckdb or x.duckdb), PostgreSQL (postgresql://…) and SQLite"
_DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,  # no other file, no COPY TO, ATTACH, INSTALL or LOAD
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
}
# Session settings, then the lock, so that no SET in the statement undoes any of the above.
_DUCKDB_SESSION = "SET enable_progress_bar = false; SET lock_configuration = true"


@dataclass(frozen=True)
class Rows:
    """A query's result: columns as (name, type), JSON-able rows, whether more were left, and
    the target as it may be shown (passwords masked, references kept)."""

    columns: list[tuple[str, str]]
    rows: list[list[Any]]
    truncated: bool
    target: str = ""


def check_read_only(sql: str) -> str:
    """``sql`` when it is exactly one reading statement; else a UserError saying why.

    SELECT (with WITH, VALUES, TABLE, SHOW, DESCRIBE and PRAGMAs that read, which DuckDB's
    parser classifies so) and EXPLAIN without ANALYZE pass.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UserError(
            f"query: {one_line(str(exc))}; give one {_ALLOWED} statement in SQL that DuckDB's "
            "parser reads (it checks that the statement only reads)"
        ) from None
    if len(statements) != 1:
        found = "no statement" if not statements else f"{len(statements)} statements"
        raise UserError(f"query runs one statement and got {found}; give one statement")
    kind = statements[0].type.name
    if kind not in _READING:
        word, name = (_words(sql) or [kind])[0], kind.replace("_", " ")
        what = "this" if word == name.split()[0] else f"'{word} …'"
        a = "an" if name[0] in "AEIOU" else "a"
        hint = "load data with 'aoetl run'" if kind in _LOADS else f"give a {_ALLOWED} statement"
        raise UserError(f"query is read-only: {what} is {a} {name} statement; {hint}")
    if kind == "EXPLAIN" and _analyzes(sql):
        raise UserError(
            "query is read-only: EXPLAIN ANALYZE runs the statement; use EXPLAIN without ANALYZE"
        )
    return sql


def read(
    target: str,
    sql: str,
    *,
    limit: int = 100,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    superuser: bool = True,
) -> Rows:
    """Run one reading statement on ``target`` (gated by :func:`check_read_only`).
    ``superuser=False`` refuses a PostgreSQL session whose role is a superuser."""
    check_limits(limit, timeout_s)
    check_read_only(sql)
    return read_unchecked(target, sql, limit=limit, timeout_s=timeout_s, superuser=superuser)


def check_limits(limit: int, timeout_s: float) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UserError(f"limit must be a whole number from 1 to {MAX_LIMIT:,}, not {limit!r}")
    if not timeout_s > 0:
        raise UserError(f"the timeout must be a positive number of seconds, not {timeout_s!r}")


def read_unchecked(
    target: str, sql: str, *, limit: int, timeout_s: float, superuser: bool = True
) -> Rows:
    """:func:`read` without the statement gate: the connection alone keeps it read-only.
    Only for callers that checked ``sql`` already (and for the tests proving that)."""
    where = locate(target, None, target_kind)
    scheme = _sniffed(where)
    postgres: Callable[[Location, str, int, float], Rows] = functools.partial(
        _postgres, superuser=superuser
    )
    runners: dict[str, Callable[[Location, str, int, float], Rows]] = {
        "duckdb": _duckdb,
        "postgresql": postgres,
        "sqlite": _sqlite,
    }
    run = runners.get(scheme)
    if run is not None:
        return replace(run(where, sql, limit, timeout_s), target=where.display)
    if not where.path.strip():
        raise UserError("give a target to query, e.g. duckdb:///warehouse.duckdb")
    if scheme in ("parquet", "csv", "file"):
        if Path(where.path).is_file():
            shown = "a file"
        elif not Path(where.path).exists():
            raise UserError(f"no target at {where.display}; give one a run loaded into")
        else:
            shown = f"a folder of {scheme.capitalize()} files"
        raise UserError(
            f"query reads {_KINDS} (sqlite:///x.db) targets, and {where.display} is {shown}; "
            f"see its tables with 'aoetl profile {where.display}' or 'aoetl sample'"
        )
    raise UserError(
        f"query reads {_KINDS} (sqlite:///x.db) targets, not {where.scheme}:// "
        f"({where.display}); load it into one with 'aoetl run' to query it"
    )


def _sniffed(where: Location) -> str:
    """The scheme, with a plain path to a DuckDB or SQLite file (``x.db``) told by content."""
    scheme = where.scheme.split("+", 1)[0]
    if scheme in ("parquet", "csv", "file", "duckdb") and Path(where.path).is_file():
        with open(where.path, "rb") as file:
            head = file.read(16)
        if head.startswith(b"SQLite format 3\x00"):
            return "sqlite"  # duckdb:///app.db that is SQLite's is read as SQLite
        if head[8:12] == b"DUCK":
            return "duckdb"
        if scheme == "duckdb":
            raise UserError(
                f"{where.display} is no DuckDB database (nor SQLite); give the target a run "
                "loaded into (duckdb:///warehouse.duckdb, sqlite:///x.db, postgresql://…)"
            )
    return scheme


# -- DuckDB ----------------------------------------------------------------------------------


def _duckdb(where: Location, sql: str, limit: int, timeout_s: float) -> Rows:
    path = Path(where.path)
    if not path.is_file():
        raise UserError(
            f"no DuckDB database at {where.display}; run a pipeline into it first "
            f"('aoetl run SOURCE --to {where.display}')"
        )
    try:
        con = duckdb.connect(str(path), read_only=True, config=_DUCKDB_CONFIG)
        con.execute(_DUCKDB_SESSION)
    except duckdb.Error as exc:
        raise _duckdb_open_error(exc, where) from None
    with closing(con), _deadline(timeout_s, con.interrupt) as expired:
        try:
            cursor = con.execute(sql)
            columns = [(str(d[0]), str(d[1])) for d in cursor.description or ()]
            return _rows(columns, cursor.fetchmany(limit + 1), limit)
        except duckdb.Error as exc:
            raise _failed(exc, where, timeout_s, expired()) from None


def _duckdb_open_error(exc: duckdb.Error, where: Location) -> AoetlError:
    text = str(exc).lower()
    if "lock" in text or "different configuration" in text:  # another process, or this one
        return UserError(
            f"the DuckDB file {where.display} is open for writing (a run in progress?); "
            "query it when that ends"
        )
    if "encrypt" in text:
        return NotSupportedError(
            f"{where.display} is an encrypted DuckDB file, which query does not open; "
            "query an unencrypted target, or export its tables with a pipeline"
        )
    return classify(exc, f"cannot open {where.display}")


# -- PostgreSQL ------------------------------------------------------------------------------


def _postgres(
    where: Location, sql: str, limit: int, timeout_s: float, *, superuser: bool = True
) -> Rows:
    import psycopg

    from ..errors import classify_libpq

    url = re.sub(r"^[^:]+://", "postgresql://", where.url)  # postgresql+psycopg:// too
    # Read-only from the session's first transaction, and a server-side bound on the time.
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={math.ceil(timeout_s * 1000)}"
    )
    try:
        con = psycopg.connect(url, options=options, connect_timeout=10)
    except psycopg.Error as exc:
        raise classify_libpq(exc, f"cannot connect to {where.display}") from None
    with closing(con):
        con.read_only = True  # BEGIN READ ONLY, whatever the role's defaults say
        try:
            cursor = con.cursor()
            _drop_privileges(cursor, where, superuser)
            # The snapshot is taken here: from now on the transaction cannot be made read-write
            # (PostgreSQL refuses 'SET TRANSACTION READ WRITE' after the first query).
            cursor.execute("SELECT 1")
            stream = cast(Generator[Any, None, None], cursor.stream(sql))
            try:
                fetched = list(islice(stream, limit + 1))
                described = cursor.description or []
                columns = [(c.name, c.type_display) for c in described]
            finally:
                stream.close()  # cancels the rest of the result on the server
            return _rows(columns, fetched, limit)
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) == "57014":
                raise _timed_out(where, timeout_s) from None
            state = str(getattr(exc, "sqlstate", ""))
            # The READ ONLY transaction (25…), or what pg_read_all_data may not do (42501).
            if state.startswith("25") or state == "42501":
                raise _refused(exc) from None
            raise _as_user(classify_libpq(exc, f"query on {where.display}")) from None
        finally:
            if not con.closed:
                con.rollback()


def _drop_privileges(cursor: Any, where: Location, superuser: bool) -> None:
    """A superuser's statement runs as ``pg_read_all_data``: READ ONLY stops writes to tables,
    not functions that act outside them (``lo_export``, ``pg_read_file``, ``pg_reload_conf``,
    ``pg_terminate_backend``, replication slots); that role may read every table and no more.
    It is a guard against mistakes, not against a hostile statement: the session is still a
    superuser's, and ``set_config('role', 'none', true)`` undoes it. So a caller serving
    statements it did not write (the MCP server) refuses superusers: ``superuser=False``."""
    cursor.execute(
        "SELECT rolsuper, current_setting('server_version_num')::int FROM pg_roles "
        "WHERE rolname = current_user"
    )
    found = cursor.fetchone()
    if found is None or not found[0]:
        return  # an ordinary role: the server's own grants decide, as for any client
    if not superuser:
        raise UserError(
            f"{where.display} connects as a superuser, whose session a statement can take back "
            "from any read-only role; connect as a role that may only read (e.g. CREATE ROLE "
            "reader LOGIN PASSWORD …; GRANT pg_read_all_data TO reader)"
        )
    if found[1] < 140000:
        raise UserError(
            f"query connects to {where.display} as a superuser, and PostgreSQL before 14 has "
            "no role that may only read; connect as a role that may only read"
        )
    cursor.execute("SET LOCAL ROLE pg_read_all_data")


# -- SQLite ----------------------------------------------------------------------------------


def _sqlite(where: Location, sql: str, limit: int, timeout_s: float) -> Rows:
    path = Path(where.path)
    if not path.is_file():
        raise UserError(f"no SQLite database at {where.display}; check the path")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    with closing(con), _deadline(timeout_s, con.interrupt) as expired:
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # ATTACH could create a file
        try:
            con.execute("PRAGMA query_only = ON")
            cursor = con.execute(sql)
            fetched = cursor.fetchmany(limit + 1)
            names = [str(d[0]) for d in cursor.description or ()]
        except sqlite3.Error as exc:
            raise _failed(exc, where, timeout_s, expired()) from None
    # SQLite types values, not columns: each column is named by its first value's class.
    classes = {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}
    types = []
    for i in range(len(names)):
        first = next((row[i] for row in fetched if row[i] is not None), None)
        types.append(classes.get(type(first), "NULL"))
    return _rows(list(zip(names, types, strict=True)), fetched, limit)


# -- shared ----------------------------------------------------------------------------------


@contextmanager
def _deadline(seconds: float, interrupt: Callable[[], None]) -> Iterator[Callable[[], bool]]:
    """Interrupt the statement after ``seconds``; yields whether that happened."""
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        interrupt()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield fired.is_set
    finally:
        timer.cancel()


def _failed(exc: Exception, where: Location, timeout_s: float, expired: bool) -> AoetlError:
    text = str(exc)
    if expired:
        return _timed_out(where, timeout_s)
    if re.search(_REFUSALS, text):
        return _refused(exc)
    return _as_user(classify(exc, f"query on {where.display}"))


def _as_user(error: AoetlError) -> AoetlError:
    """A statement's own mistakes (no such table, bad SQL) as the bad input they are: the
    classifiers call SQLite's FatalErrors, though only the statement can fix them."""
    if isinstance(error, UserError | NotSupportedError) or not re.search(_MISTAKES, error.message):
        return error
    return UserError(error.message)


def _refused(exc: Exception) -> UserError:
    text = one_line(str(exc))
    if "file system operations are disabled" in text:
        return UserError(f"query reads the target's own tables only, not other files ({text})")
    return UserError(f"query is read-only: the target refused it ({text})")


def _timed_out(where: Location, timeout_s: float) -> UserError:
    return UserError(
        f"query on {where.display} ran longer than {timeout_s:g} s and was stopped; "
        "narrow it (a WHERE, fewer columns) or give a longer timeout"
    )


def _rows(columns: list[tuple[str, str]], fetched: list[Any], limit: int) -> Rows:
    rows = [[jsonable(v) for v in row] for row in fetched[:limit]]
    named = [(redact(name), kind) for name, kind in columns]
    return Rows(named, rows, truncated=len(fetched) > limit)


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: dates and times as ISO 8601 text, decimals as exact
    text, bytes as ``\\x``-prefixed hex, NaN and infinities as None, UUIDs and anything
    else as text; a registered secret in text is masked."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {redact(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return redact(str(value))


def _words(sql: str) -> list[str]:
    """The statement's words and symbols, comments skipped (by DuckDB's tokenizer)."""
    words = []
    for position, kind in duckdb.tokenize(sql):
        if kind != duckdb.token_type.comment:
            found = re.match(r"[A-Za-z_]\w*|\S", sql[position:])
            words.append(found.group().upper() if found else "")
    return words


def _analyzes(sql: str) -> bool:
    """Whether an EXPLAIN's options (``ANALYZE``, or ``(… ANALYZE …)``) make it run."""
    depth = 0
    for word in _words(sql)[1:]:
        if word in ("ANALYZE", "ANALYSE"):
            return True
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0 and word not in ("VERBOSE", ")"):
            return False
    return False
