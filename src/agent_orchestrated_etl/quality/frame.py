"""Where quality work runs: a private DuckDB connection, and a relation read into it once.

A relation (a source's table, or the rows a run staged) is read exactly once, into a
temporary table of a private connection that spills to ``AOETL_HOME/scratch`` when it
outgrows memory. Every later scan (profile passes, checks, samples) reads that table.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..data import Relation
from ..data.duck import connect, quote_ident, quote_literal, unique_name
from ..errors import classify_duckdb


def scratch(home: Path) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection that spills to ``home``/scratch."""
    con = connect(home=home)
    spill = home / "scratch"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {quote_literal(str(spill))}")
    return con


def materialize(
    con: duckdb.DuckDBPyConnection, relation: Relation, what: str, *, name: str | None = None
) -> str:
    """Read ``relation`` once into a temporary table of ``con``; its quoted name.

    ``what`` names it in errors ("table 'orders'"). An error a stream raised (a dropped
    connection) is raised as it is; DuckDB's own errors are classified.
    """
    table = quote_ident(name or unique_name("_aoetl_quality"))
    try:
        relation.attach(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {relation.sql}")
    except duckdb.Error as exc:
        raised = relation.stream_error()
        if raised is not None:
            raise raised from exc
        raise classify_duckdb(exc, what) from exc
    return table
