"""What aoetl remembers of sources and runs, in the state DB (``store.memory``).

Two kinds of record share one table:

* ``source``: a source fingerprint, once per fingerprint: the hash of its schema (tables,
  columns, types) and its URI without secrets;
* ``run``: one per finished run of a source: the plan chosen (its JSON and the spec hash), the
  settings used (workers, timeout, retries, the source's speed settings), and the outcome
  (status, duration, rows, rows/s, and for a failure its kind and cause).

Every record has a ``text``, what substring lookup and the vector index read. Records are
only ever inserted, never changed or deleted, with increasing ids. The vector index (ChromaDB,
in ``agents.memory.index``) keeps its own copy of each record's embedding under the record's
id, on each machine, and works out by itself which records it lacks (:meth:`MemoryStore.after`,
:meth:`MemoryStore.ids`, :meth:`MemoryStore.count` up to an id), so a run only writes here and
never waits for a model. The table's ``embedded`` column, which once said what the index held,
is kept for older databases and no longer read: with a shared store, one flag cannot say what
every machine's index holds.
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
    "duration_s, rows, rows_per_s, settings_json, data_json, text, created_at"
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
        created_at=row[16],
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
        record.created_at,
    )


_INSERT = (
    "INSERT INTO memory (kind, fingerprint, schema_hash, uri, run_id, pipeline, "
    "spec_hash, status, failure, duration_s, rows, rows_per_s, settings_json, data_json, text, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_NEW_SOURCE = _INSERT + " ON CONFLICT DO NOTHING"


class MemoryStore:
    """``store.memory``: write records, look them up exactly or by substring, and list them
    by id for the vector index. Nothing here loads a model."""

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
        kind: str | None = None,
        fingerprint: str | None = None,
        run_id: str | None = None,
        upto: int | None = None,
    ) -> int:
        """How many records match, filtered as :meth:`entries` filters them, and with ``upto``
        those whose id is at most ``upto``."""
        where, params = _filters(kind, fingerprint, run_id)
        if upto is not None:
            where += (" AND " if where else "WHERE ") + "id <= ?"
            params = (*params, upto)
        with self._store._connect() as con:
            return int(con.execute(f"SELECT count(*) FROM memory {where}", params).fetchone()[0])

    def after(self, last: int, limit: int = 1024) -> list[tuple[int, str]]:
        """(id, text) of the records whose id is above ``last``, lowest first: what a vector
        index that holds every record up to ``last`` embeds next."""
        with self._store._connect() as con:
            rows = con.execute(
                "SELECT id, text FROM memory WHERE id > ? ORDER BY id LIMIT ?", (last, limit)
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def ids(self, after: int = 0, limit: int = 2000) -> list[int]:
        """The ids above ``after``, lowest first, at most ``limit``: the state's side of a
        check of the vector index, a chunk at a time."""
        with self._store._connect() as con:
            rows = con.execute(
                "SELECT id FROM memory WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def texts(self, ids: Iterable[int]) -> list[tuple[int, str]]:
        """(id, text) of those of ``ids`` that exist, lowest id first (no other column)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        with self._store._connect() as con:
            rows = con.execute(
                f"SELECT id, text FROM memory WHERE id IN ({marks}) ORDER BY id", tuple(wanted)
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]


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
