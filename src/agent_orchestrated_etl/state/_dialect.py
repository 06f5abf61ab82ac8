"""What differs between SQLite's SQL and PostgreSQL's, in one place.

The stores write their statements once, in SQL both accept (``ON CONFLICT … DO NOTHING /
DO UPDATE``, ``coalesce``, ``RETURNING id``, a table-qualified ``runs.attempts + 1``), with
``?`` placeholders. For PostgreSQL, :func:`postgres_sql` turns the placeholders into psycopg's
and ``instr`` into ``strpos`` (the only function the stores use that one backend lacks). The
DDL differs more, and lives in ``_migrations``. The DLQ payload is the one column whose type
differs: SQLite keeps bytes or text in one column; PostgreSQL keeps bytes in ``payload``
(BYTEA) and text in ``payload_text``.
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

    def payload_values(self, payload: str | bytes | None) -> tuple[Any, ...]:
        if isinstance(payload, str):
            return (None, payload)
        return (payload, None)

    def payload_of(self, row: tuple[Any, ...]) -> tuple[str | bytes | None, int]:
        data, text = row[0], row[1]
        return (bytes(data) if data is not None else text), 2


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
