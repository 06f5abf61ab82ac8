"""What aoetl remembers of sources and runs, in the state DB (``store.memory``).

Two kinds of record share one table:

* ``source``: a source fingerprint, once per fingerprint: the hash of its schema (tables,
  columns, types) and its URI without secrets;
* ``run``: one per finished run of a source: the plan chosen (its JSON and the spec hash), the
  settings used (workers, timeout, retries, the source's speed settings), and the outcome
  (status, duration, rows, rows/s, and for a failure its kind and cause).

Every record has a ``text``, what substring lookup and the vector index read. The vector index
(ChromaDB, in ``agents.memory.index``) keeps its own copy of each record's embedding under the
record's id; ``embedded`` says which records it has not yet embedded, so a run only writes
here and never waits for a model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import StateStore


_COLUMNS = (
    "id, kind, fingerprint, schema_hash, uri, run_id, pipeline, spec_hash, status, failure, "
    "duration_s, rows, rows_per_s, settings_json, data_json, text, embedded, created_at"
)


@dataclass(frozen=True)
class MemoryRecord:
    """One remembered source or run. ``id`` is None until stored."""

    kind: str
    fingerprint: str
    schema_hash: str
    uri: str
    text: str
    run_id: str | None = None
    pipeline: str | None = None
    spec_hash: str | None = None
    status: str | None = None
    failure: str | None = None
    duration_s: float | None = None
    rows: int | None = None
    rows_per_s: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    embedded: bool = False
    created_at: float = field(default_factory=time.time)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "schema_hash": self.schema_hash,
            "uri": self.uri,
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "spec_hash": self.spec_hash,
            "status": self.status,
            "failure": self.failure,
            "duration_s": self.duration_s,
            "rows": self.rows,
            "rows_per_s": self.rows_per_s,
            "settings": self.settings,
            "data": self.data,
            "text": self.text,
            "embedded": self.embedded,
            "created_at": self.created_at,
        }


def _record(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        kind=row[1],
        fingerprint=row[2],
        schema_hash=row[3],
        uri=row[4],
        run_id=row[5],
        pipeline=row[6],
        spec_hash=row[7],
        status=row[8],
        failure=row[9],
        duration_s=row[10],
        rows=row[11],
        rows_per_s=row[12],
        settings=json.loads(row[13]),
        data=json.loads(row[14]),
        text=row[15],
        embedded=bool(row[16]),
        created_at=row[17],
    )


def _values(record: MemoryRecord) -> tuple[Any, ...]:
    return (
        record.kind,
        record.fingerprint,
        record.schema_hash,
        record.uri,
        record.run_id,
        record.pipeline,
        record.spec_hash,
        record.status,
        record.failure,
        record.duration_s,
        record.rows,
        record.rows_per_s,
        json.dumps(record.settings, default=str),
        json.dumps(record.data, default=str),
        record.text,
        int(record.embedded),
        record.created_at,
    )


_INSERT = (
    "INSERT INTO memory (kind, fingerprint, schema_hash, uri, run_id, pipeline, "
    "spec_hash, status, failure, duration_s, rows, rows_per_s, settings_json, data_json, text, "
    "embedded, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NEW_SOURCE = _INSERT + " ON CONFLICT DO NOTHING"


class MemoryStore:
    """``store.memory``: write records, look them up exactly or by substring, and track
    which ones the vector index has embedded. Nothing here loads a model."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def remember_source(self, record: MemoryRecord) -> int:
        """Store a source record unless its fingerprint is known; the record's id either way."""
        with self._store._transaction() as con:
            con.execute(_INSERT_NEW_SOURCE, _values(record))
            row = con.execute(
                "SELECT id FROM memory WHERE kind = 'source' AND fingerprint = ?",
                (record.fingerprint,),
            ).fetchone()
        return int(row[0])

    def add(self, record: MemoryRecord) -> int:
        """Store ``record``; its new id."""
        with self._store._transaction() as con:
            row = con.execute(_INSERT + " RETURNING id", _values(record)).fetchone()
        return int(row[0])

    def add_many(self, records: Iterable[MemoryRecord]) -> int:
        """Store many records in one transaction (a benchmark's or an import's); how many."""
        rows = [_values(r) for r in records]
        with self._store._transaction() as con:
            con.executemany(_INSERT, rows)
        return len(rows)

    def _select(self, where: str, params: tuple[Any, ...], limit: int) -> list[MemoryRecord]:
        with self._store._connect() as con:
            rows = con.execute(
                f"SELECT {_COLUMNS} FROM memory {where} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_record(r) for r in rows]

    def get(self, ids: Iterable[int]) -> dict[int, MemoryRecord]:
        """The records of ``ids`` that exist, by id."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        found = self._select(f"WHERE id IN ({marks})", tuple(wanted), len(wanted))
        return {r.id: r for r in found if r.id is not None}

    def by_fingerprint(
        self, fingerprint: str, *, kind: str | None = None, limit: int = 200
    ) -> list[MemoryRecord]:
        """Exact lookup: the records of one source, newest first."""
        if kind is None:
            return self._select("WHERE fingerprint = ?", (fingerprint,), limit)
        return self._select("WHERE fingerprint = ? AND kind = ?", (fingerprint, kind), limit)

    def by_schema(
        self, schema_hash: str, *, kind: str | None = None, limit: int = 200
    ) -> list[MemoryRecord]:
        """Exact lookup: the records of every source with this schema, at any URI."""
        if kind is None:
            return self._select("WHERE schema_hash = ?", (schema_hash,), limit)
        return self._select("WHERE schema_hash = ? AND kind = ?", (schema_hash, kind), limit)

    def search_text(self, text: str, *, limit: int = 20) -> list[MemoryRecord]:
        """Substring lookup, case-insensitive, over each record's text, URI and run id."""
        needle = text.lower()
        return self._select(
            "WHERE instr(lower(text), ?) > 0 OR instr(lower(uri), ?) > 0 "
            "OR instr(lower(coalesce(run_id, '')), ?) > 0",
            (needle, needle, needle),
            limit,
        )

    def entries(
        self,
        *,
        kind: str | None = None,
        fingerprint: str | None = None,
        run_id: str | None = None,
        limit: int = 50,
    ) -> list[MemoryRecord]:
        """Records newest first, filtered by kind, fingerprint (exact) or run id (the id or
        its start, as every command takes a run id)."""
        where, params = _filters(kind, fingerprint, run_id)
        return self._select(where, params, limit)

    def count(
        self,
        *,
        embedded: bool | None = None,
        kind: str | None = None,
        fingerprint: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """How many records match, filtered as :meth:`entries` filters them."""
        where, params = _filters(kind, fingerprint, run_id)
        if embedded is not None:
            where += (" AND " if where else "WHERE ") + "embedded = ?"
            params = (*params, int(embedded))
        with self._store._connect() as con:
            return int(con.execute(f"SELECT count(*) FROM memory {where}", params).fetchone()[0])

    def pending(self, limit: int = 1024) -> list[tuple[int, str]]:
        """(id, text) of records the vector index has not embedded yet, oldest first."""
        with self._store._connect() as con:
            rows = con.execute(
                "SELECT id, text FROM memory WHERE embedded = 0 ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def mark_embedded(self, ids: Iterable[int]) -> None:
        with self._store._transaction() as con:
            con.executemany("UPDATE memory SET embedded = 1 WHERE id = ?", [(i,) for i in ids])

    def reset_embedded(self) -> None:
        """Every record to be embedded again (the vector index was lost or rebuilt)."""
        with self._store._transaction() as con:
            con.execute("UPDATE memory SET embedded = 0 WHERE embedded = 1")


def _filters(
    kind: str | None, fingerprint: str | None, run_id: str | None
) -> tuple[str, tuple[Any, ...]]:
    clauses, params = [], list[Any]()
    for column, value in (("kind", kind), ("fingerprint", fingerprint)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if run_id is not None:
        clauses.append("substr(run_id, 1, ?) = ?")
        params += [len(run_id), run_id]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params)
