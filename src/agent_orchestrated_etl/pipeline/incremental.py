"""Incremental loads: read only rows past the last committed high-water mark.

The mark lives in the target (``_aoetl.cursors``) and moves in the same transaction as the
data it covers, so it advances only when the load commits, and a failed or killed run reads
the same rows again. A ``lag`` re-reads a window behind the mark for rows committed late in
the source; with ``mode: merge`` those re-read rows update in place.
"""

from __future__ import annotations

import hashlib

import duckdb

from ..analysis.cursors import cursor_candidates
from ..connectors import Resource, RowFilter
from ..data.duck import quote_literal
from ..errors import UserError
from ..settings import DUCKDB_OFFLINE
from ..spec import IncrementalSpec, PipelineSpec

_TEMPORAL = ("DATE", "TIMESTAMP", "TIME")

__all__ = ["cursor_candidates", "cursor_filter", "incremental_for", "with_mark"]


def incremental_for(spec: PipelineSpec, table: str) -> IncrementalSpec | None:
    return spec.source.incremental.get(table) or spec.source.incremental.get("*")


def cursor_filter(resource: Resource, inc: IncrementalSpec, last: str | None) -> RowFilter | None:
    """Rows past ``last`` (less the lag), or from ``inc.initial`` on a first run; None: all."""
    types = dict(resource.columns)
    if inc.cursor not in types:
        raise UserError(
            f"table '{resource.name}': incremental cursor {inc.cursor!r} is not a column "
            f"(columns: {', '.join(types)})"
        )
    kind = types[inc.cursor]
    if last is None:
        if inc.initial is None:
            return None
        return RowFilter(inc.cursor, ">=", _as_text(inc.initial, kind, None), kind)
    return RowFilter(inc.cursor, ">", _as_text(last, kind, inc.lag), kind)


def _as_text(value: str, kind: str, lag: str | None) -> str:
    """``value`` as the column's type renders it, ``lag`` earlier (checked by DuckDB)."""
    bound = f"CAST({quote_literal(value)} AS {kind})"
    if lag:
        step = (
            f"INTERVAL {quote_literal(lag)}"
            if kind.startswith(_TEMPORAL)
            else f"CAST({quote_literal(lag)} AS {kind})"
        )
        bound = f"{bound} - {step}"
    try:
        # Cast back to the column's type (a date less a lag rounds down: a wider re-read).
        sql = f"SELECT CAST(CAST({bound} AS {kind}) AS VARCHAR)"
        row = duckdb.connect(config=DUCKDB_OFFLINE).execute(sql).fetchone()
    except duckdb.Error as exc:
        raise UserError(
            f"incremental bound {value!r}{f' less lag {lag!r}' if lag else ''} is not a valid "
            f"{kind}: {str(exc).splitlines()[0]}"
        ) from None
    assert row is not None
    return str(row[0])


def with_mark(fingerprint: str, last: str | None) -> str:
    """A checkpoint is only reusable for the same starting mark."""
    return hashlib.sha256(f"{fingerprint}\0{last}".encode()).hexdigest()[:16]
