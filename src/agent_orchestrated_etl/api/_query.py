"""The facade's read-only query: one SQL statement against a target, its rows bounded. Mixed
into :class:`DataOrchestrator`; ``aoetl query`` and the MCP server's ``query`` tool call it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class QueryResult:
    """What a query returned.

    Attributes:
        target: the target as given, passwords masked and ``${…}`` references kept.
        columns: ``{"name", "type"}`` per column, the type as the target names it
            (DuckDB's and PostgreSQL's type names; SQLite's class of the first value).
        rows: at most ``limit`` rows of JSON-able values: dates and times as ISO 8601
            text, decimals as exact text, bytes as ``\\x``-prefixed hex, NaN as None.
        truncated: the statement had more rows than ``limit``; they were not read.
        elapsed_s: seconds from connecting to the last row fetched.
    """

    target: str
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        """The result as ``aoetl query --json`` prints it."""
        return asdict(self)


class QueryMethods:
    """``query``: a read-only, row-limited SQL statement against a target."""

    def query(
        self,
        target: str,
        sql: str,
        *,
        limit: int = 100,
        timeout_s: float = 30.0,
        superuser: bool = True,
    ) -> QueryResult:
        """Run one reading statement (SELECT, WITH, VALUES, TABLE, SHOW, DESCRIBE, EXPLAIN
        without ANALYZE) on ``target`` and return at most ``limit`` rows (1 to 10,000).

        ``target`` is a DuckDB file (``duckdb:///warehouse.duckdb`` or ``x.duckdb``), a
        PostgreSQL URL or ``sqlite:///x.db``, with ``${…}`` references resolved; relative
        paths are read from the working directory. The statement is checked by DuckDB's
        parser before anything connects, and runs in a read-only connection (see
        docs/cli.md, ``aoetl query``); it is stopped after ``timeout_s`` seconds.
        ``superuser=False`` refuses a PostgreSQL superuser's session (for statements the
        caller did not write: a superuser can always take back the read-only role).

        Raises:
            UserError: a statement that writes, more than one statement, bad SQL, a missing
                table or database, a bad limit, a target query cannot read, the timeout.
        """
        from ..connectors.query import read

        started = time.perf_counter()
        rows = read(target, sql, limit=limit, timeout_s=timeout_s, superuser=superuser)
        return QueryResult(
            target=rows.target,
            columns=[{"name": name, "type": kind} for name, kind in rows.columns],
            rows=rows.rows,
            truncated=rows.truncated,
            elapsed_s=round(time.perf_counter() - started, 4),
        )
