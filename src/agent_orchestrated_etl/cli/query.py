"""``aoetl query``: one read-only SQL statement against a target, its rows as a table."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._text import plural
from ._app import app, err, out

if TYPE_CHECKING:
    from ..api import QueryResult


@app.command()
def query(
    target: Annotated[
        str,
        typer.Argument(
            help="A DuckDB file (duckdb:///warehouse.duckdb or x.duckdb), a PostgreSQL URL or "
            "sqlite:///x.db; ${…} references work."
        ),
    ],
    sql: Annotated[
        str,
        typer.Argument(
            help="One SELECT, WITH, VALUES, TABLE, SHOW, DESCRIBE or EXPLAIN statement."
        ),
    ],
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", min=1, max=10_000, help="The most rows to show (1 to 10000)."
        ),
    ] = 100,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.001, help="Stop the statement after this many seconds."),
    ] = 30.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Run one read-only SQL statement on a target and show at most --limit rows.

    The statement is checked by DuckDB's parser before anything connects (one statement, and
    one that reads), then runs in a read-only connection: a DuckDB file opened read-only with
    no access to other files, a PostgreSQL transaction that is READ ONLY from its start, a
    SQLite file opened read-only. A write is refused with exit code 2.
    """
    from ..api import DataOrchestrator

    result = DataOrchestrator().query(target, sql, limit=limit, timeout_s=timeout)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        _table(result)
    err.print(footer(result, limit), markup=False, highlight=False, soft_wrap=True)


def _table(result: QueryResult) -> None:
    from rich.table import Table

    grid = Table(header_style="bold")
    for column in result.columns:
        numeric = column["type"].upper().startswith(_NUMERIC)
        grid.add_column(column["name"], justify="right" if numeric else "left")
    for row in result.rows:
        grid.add_row(*(_cell(value) for value in row))
    if result.columns:
        out.print(grid)


_NUMERIC = (
    "INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
    "UTINYINT", "DECIMAL", "DOUBLE", "FLOAT", "REAL", "NUMERIC", "BIGSERIAL", "SERIAL",
)  # fmt: skip


def _cell(value: Any) -> Any:
    from rich.text import Text

    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, dict | list):
        return Text(json.dumps(value))
    return Text(str(value))


def footer(result: QueryResult, limit: int) -> str:
    """One line: how many rows, whether more were left, and how long it took."""
    rows = plural(len(result.rows), "row")
    more = f" (truncated at {limit:,}; raise --limit to see more)" if result.truncated else ""
    return f"{rows}{more} from {result.target} in {result.elapsed_s:.2f} s"
