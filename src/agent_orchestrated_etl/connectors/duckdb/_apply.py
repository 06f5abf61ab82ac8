"""The commit's statements for one staged table: rename, insert or merge it into its target."""

from __future__ import annotations

import duckdb

from ...data.duck import describe, key_match, quote_ident
from .._schema import plan_evolution
from ..base import StagedTable


def count_of(result: duckdb.DuckDBPyConnection) -> int:
    """The number a ``SELECT count(*)`` (or a statement reporting rows) returned."""
    row = result.fetchone()
    return int(row[0]) if row else 0


def apply_staged(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    staged: StagedTable,
    existing: list[tuple[str, str]],
    *,
    merge: bool,
) -> int:
    """Apply the staging table ``stage`` to ``staged.table`` in ``con``'s open transaction.

    ``existing``: the target's columns ([] when it does not exist yet); ``merge``: whether the
    target database understands MERGE INTO. Returns the rows written.
    """
    target = quote_ident(staged.table)
    rows = count_of(con.execute(f"SELECT count(*) FROM {stage}"))
    if staged.mode == "replace" or not existing:
        if staged.mode == "replace":  # only replace drops: a table an append did not see
            con.execute(f"DROP TABLE IF EXISTS {target}")  # makes the rename fail instead
        con.execute(f"ALTER TABLE {stage} RENAME TO {target}")
        return rows
    incoming = describe(con, f"SELECT * FROM {stage}")
    evolution = plan_evolution(staged.table, existing, incoming)
    for name, typ in evolution.add:
        con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(name)} {typ}")
    for name, typ in evolution.widen:
        con.execute(f"ALTER TABLE {target} ALTER COLUMN {quote_ident(name)} TYPE {typ}")
    if staged.mode == "append":
        rows = count_of(con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {stage}"))
    elif not merge:
        # No MERGE in the target (SQLite): replace the matching rows, in the same transaction.
        # The target is aliased: a table named "s" must not read as the staging alias.
        on = key_match("t", "s", staged.key)
        con.execute(
            f"DELETE FROM {target} AS t WHERE EXISTS (SELECT 1 FROM {stage} AS s WHERE {on})"
        )
        rows = count_of(con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {stage}"))
    else:
        on = key_match("t", "s", staged.key)
        sets = ", ".join(
            f"{quote_ident(n)} = s.{quote_ident(n)}" for n, _ in incoming if n not in staged.key
        )
        matched = f"WHEN MATCHED THEN UPDATE SET {sets} " if sets else ""
        rows = count_of(
            con.execute(
                f"MERGE INTO {target} AS t USING {stage} AS s ON {on} "
                f"{matched}WHEN NOT MATCHED THEN INSERT BY NAME"
            )
        )
    con.execute(f"DROP TABLE {stage}")
    return rows
