"""Staged rows read back as a Relation, for checks that run before the commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import duckdb

from ...data.duck import Relation, unique_name

if TYPE_CHECKING:
    import pyarrow as pa

_BATCH_ROWS = 122_880  # DuckDB's row group: whole groups cross into Arrow


def stream_relation(
    schema: pa.Schema, cursor: Callable[[], duckdb.DuckDBPyConnection], sql: str
) -> Relation:
    """A Relation over ``sql`` run in a cursor from ``cursor()``, opened on the first read.

    Lazy, so a Relation that is never read holds no cursor (and no read transaction) on the
    target; the cursor closes when the stream ends.
    """
    import pyarrow as pa

    def batches() -> Iterator[pa.RecordBatch]:
        cur = cursor()
        try:
            yield from cur.execute(sql).to_arrow_reader(_BATCH_ROWS)
        finally:
            cur.close()

    name = unique_name("staged")
    reader = pa.RecordBatchReader.from_batches(schema, batches())
    return Relation(f"SELECT * FROM {name}", bindings={name: reader})
