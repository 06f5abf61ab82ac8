"""What differs between SQLite's SQL and PostgreSQL's, in one place.

The stores write their statements once, in SQL both accept (``ON CONFLICT … DO NOTHING /
DO UPDATE``, ``coalesce``, ``RETURNING id``, a table-qualified ``runs.attempts + 1``), with
``?`` placeholders. For PostgreSQL, :func:`postgres_sql` turns the placeholders into psycopg's
and ``instr`` into ``strpos`` (the only function the stores use that one backend lacks). The
DDL differs more, and lives in ``_migrations``. The DLQ payload is the one column whose type
differs: SQLite keeps bytes or text in one column; PostgreSQL keeps bytes in ``payload``
(BYTEA) and text in ``payload_text`` (text holding NUL, which PostgreSQL's TEXT refuses, as
its bytes in ``payload`` with ``payload_text`` empty). A text column in an ORDER BY takes
:attr:`Dialect.collate`, so both backends order names the same way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

_INSTR = re.compile(r"\binstr\(", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """``sql`` as psycopg takes it: ``%s`` placeholders (a literal ``%`` doubled)."""
    return _INSTR.sub("strpos(", sql.replace("%", "%%").replace("?", "%s"))


class Dialect:
    """The differences a statement's text or values must carry: SQLite's by default."""

    name = "sqlite"
    # The DLQ's payload, as selected and as inserted.
    payload_select = "payload"
    payload_insert = "payload"
    payload_marks = "?"
    # After a text column in ORDER BY: the order of its characters' code points, as SQLite's
    # BINARY collation has it, whatever the PostgreSQL database's collation is.
    collate = ""

    def payload_values(self, payload: str | bytes | None) -> tuple[Any, ...]:
        return (payload,)

    def payload_of(self, row: tuple[Any, ...]) -> tuple[str | bytes | None, int]:
        """The payload from a selected row's columns at the payload's place; how many
        columns it took."""
        return row[0], 1


class PostgresDialect(Dialect):
    name = "postgresql"
    payload_select = "payload, payload_text"
    payload_insert = "payload, payload_text"
    payload_marks = "?, ?"
    collate = ' COLLATE "C"'

    def payload_values(self, payload: str | bytes | None) -> tuple[Any, ...]:
        if isinstance(payload, str):
            if "\x00" in payload:  # TEXT refuses NUL: the UTF-8 bytes, marked as text by ''
                return (payload.encode("utf-8", "surrogateescape"), "")
            return (None, payload)
        return (payload, None)

    def payload_of(self, row: tuple[Any, ...]) -> tuple[str | bytes | None, int]:
        data, text = row[0], row[1]
        if data is None:
            return text, 2
        if text is not None:  # text that held NUL, kept as its bytes
            return bytes(data).decode("utf-8", "surrogateescape"), 2
        return bytes(data), 2


SQLITE = Dialect()
POSTGRES = PostgresDialect()


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the stores call on a connection, the same on both backends: ``sqlite3``'s own
    methods, and psycopg's behind ``_postgres.PgConnection``."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...
