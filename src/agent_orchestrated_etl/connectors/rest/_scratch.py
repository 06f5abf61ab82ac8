"""Pages of records written to scratch NDJSON files, which DuckDB then reads as a table.

A page's records go to a file as they arrive, one JSON object a line, so memory holds about
one page whatever the API's size. Each line gets the record's 1-based position in the
resource (``_aoetl_row``): a row number stable across the files, for tables without a key and
for reading parents in the order they came (a resource with a key and no child resource goes
without, and its records are written with no copy). A record that is not an object, or whose
primary key is null or missing, is not written: it becomes a :class:`BadRow` naming the page
(its masked URL) and its 1-based index there.

The records go to a chunk file until it holds :data:`CHUNK_BYTES`; then the next chunk starts
and DuckDB infers the finished chunk's types on a background thread while pages still arrive
(DuckDB releases the GIL), so only the last chunk's inference is left when the last page is
in. Chunks that agree on every column they share are the answer as they are; otherwise DuckDB
reads the chunks' schemas again as one (``union_by_name``), so the types are exactly those of
one inference over every record, by DuckDB's own rules.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
from duckdb.sqltypes import DuckDBPyType

from ...data.duck import BadRow, quote_literal
from ._detect import MISSING, get_path
from ._flatten import ROW_FIELD, SEP, columns_arg

# Largest record DuckDB's JSON reader takes (its default is 16 MB).
MAX_OBJECT = 1 << 26
# A chunk this big takes DuckDB ~0.05 s to infer: the only inference left after the last page.
CHUNK_BYTES = 2 << 20
_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}

Fields = list[tuple[str, DuckDBPyType]]


@dataclass
class Scratch:
    """A resource's records on disk, and what did not make it there.

    Attributes:
        paths: the NDJSON chunk files, in the order their records came.
        rows: records written.
        bad: records left out, as dead-letter rows (their table is the resource's top table).
        fields: the columns and types DuckDB infers over every record (every page), empty
            when no record was written.
    """

    paths: list[Path] = field(default_factory=list)
    rows: int = 0
    bad: list[BadRow] = field(default_factory=list)
    fields: Fields = field(default_factory=list)

    def scan(self) -> str:
        """``read_json`` of the files with their inferred types pinned (no second inference)."""
        return (
            f"read_json({_files(self.paths)}, format='newline_delimited', "
            f"columns={columns_arg(self.fields)}, maximum_object_size={MAX_OBJECT})"
        )


def infer(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> Fields:
    """Columns and types over every record of NDJSON files (types widen across records)."""
    # execute() rather than sql(): it lets go of the GIL while DuckDB reads.
    con.execute(
        f"SELECT * FROM read_json({_files(paths)}, format='newline_delimited', "
        f"sample_size=-1, union_by_name=true, maximum_object_size={MAX_OBJECT}) LIMIT 0"
    )
    return [(d[0], d[1]) for d in con.description or []]


def merge(schemas: Iterable[Fields]) -> Fields | None:
    """The chunks' columns as one schema, or None when a column's type differs between chunks.

    A column missing from a chunk says nothing about its type there, so it does not clash;
    columns come in the order they first appear, as in one inference over every chunk.
    """
    out: dict[str, DuckDBPyType] = {}
    for schema in schemas:
        for name, kind in schema:
            seen = out.setdefault(name, kind)
            if str(seen) != str(kind):
                return None
    return list(out.items())


class Writer:
    """Appends records to scratch chunk files; thread-safe, though pages arrive in order.

    With ``con`` given, each finished chunk's types are inferred on a background thread with
    a cursor of its own; without it, every chunk is inferred in :meth:`finish`. With
    ``numbered`` false, records get no ``_aoetl_row``.
    """

    def __init__(
        self,
        path: Path,
        table: str,
        key: Sequence[str],
        con: duckdb.DuckDBPyConnection | None = None,
        chunk_bytes: int | None = None,
        numbered: bool = True,
    ) -> None:
        self.scratch = Scratch()
        self._base, self._table, self._key = path, table, tuple(key)
        self._numbered = numbered
        self._chunk_bytes = chunk_bytes or CHUNK_BYTES
        self._lock = threading.Lock()
        self._con = con
        # One thread and its own cursor infer the closed chunks, in order.
        self._background: tuple[ThreadPoolExecutor, duckdb.DuckDBPyConnection] | None = None
        self._inferred: list[Future[Fields]] = []  # the closed chunks' types, in chunk order
        self._later: list[Path] = []  # closed chunks left for finish() (no ``con``)
        self._file = self._open()
        self._size = self._chunk_rows = 0

    def page(
        self, url: str, records: Iterable[Any], extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write one page's records (``extra`` fields first in each: a child's parent key)."""
        records = records if isinstance(records, list) else list(records)
        extra = extra or {}
        with self._lock:
            first = self.scratch.rows + len(self.scratch.bad) + 1
        bad: list[BadRow] = []
        # The key's parent columns come with ``extra``; the record holds the rest of it.
        key = tuple(k for k in self._key if k not in extra) if extra else self._key
        # New dicts, not the page's own: the paginator may still compare the page's records.
        if _all_good(records, key):  # the common case: nothing to check one by one
            if self._numbered:
                good = [{**extra, **r, ROW_FIELD: n} for n, r in enumerate(records, first)]
            else:
                good = [{**extra, **r} for r in records] if extra else records
        else:
            good = []
            for index, record in enumerate(records, 1):
                why = problem(record, key)
                if why is None:
                    row = {ROW_FIELD: first + index - 1} if self._numbered else {}
                    good.append({**extra, **record, **row})
                    continue
                payload = orjson.dumps(record).decode()
                bad.append(BadRow(self._table, url, index, why, payload))
        data = b"\n".join(map(orjson.dumps, good)) + b"\n" if good else b""
        with self._lock:
            self._file.write(data)
            self._size += len(data)
            self._chunk_rows += len(good)
            self.scratch.rows += len(good)
            self.scratch.bad.extend(bad)
            if self._size >= self._chunk_bytes:
                self._next_chunk()

    def finish(self, con: duckdb.DuckDBPyConnection) -> Scratch:
        """Close the last chunk and settle the types of every record."""
        with self._lock:
            last = self._close_chunk()
        try:
            found = [f.result() for f in self._inferred]
        finally:
            self._shutdown()
        found += [infer(con, [p]) for p in [*self._later, *([last] if last else [])]]
        if self.scratch.rows:
            merged = merge(found)
            self.scratch.fields = merged if merged is not None else infer(con, self.scratch.paths)
        return self.scratch

    def abandon(self) -> None:
        """Close and remove the files of a fetch that failed."""
        with self._lock:
            self._file.close()
        self._shutdown()
        for path in self.scratch.paths:
            path.unlink(missing_ok=True)

    # -- chunks ----------------------------------------------------------------------------
    def _open(self) -> IO[bytes]:
        n = len(self.scratch.paths)
        path = self._base if not n else self._base.with_name(f"{self._base.stem}.{n}.ndjson")
        self.scratch.paths.append(path)
        # A buffer the size of a chunk: one write a chunk. A write a page lets go of the GIL
        # and then waits up to 5 ms for the page fetchers to give it back, each time.
        return path.open("wb", buffering=max(self._chunk_bytes, 1 << 16))

    def _close_chunk(self) -> Path | None:
        """Close the open chunk: its path, or None when it holds no record (then removed)."""
        self._file.close()
        if not self._chunk_rows:  # only bad records, or none: nothing to read there
            self.scratch.paths.pop().unlink(missing_ok=True)
            return None
        return self.scratch.paths[-1]

    def _next_chunk(self) -> None:
        done = self._close_chunk()
        if done is not None and self._con is not None:
            if self._background is None:
                pool = ThreadPoolExecutor(1, thread_name_prefix="aoetl-rest-infer")
                self._background = (pool, self._con.cursor())
            pool, cursor = self._background
            self._inferred.append(pool.submit(infer, cursor, [done]))
        elif done is not None:
            self._later.append(done)
        self._file, self._size, self._chunk_rows = self._open(), 0, 0

    def _shutdown(self) -> None:
        if self._background is not None:
            pool, cursor = self._background
            pool.shutdown(wait=True, cancel_futures=True)
            cursor.close()
            self._background = None


def problem(record: Any, key: Sequence[str]) -> str | None:
    """Why a record cannot be loaded, or None."""
    if not isinstance(record, dict):
        kind = "null" if record is None else _KINDS.get(type(record), type(record).__name__)
        return f"the record is {kind}, not a JSON object"
    for column in key:
        value = lookup(record, column)
        if value is None:
            state = "missing" if not has(record, column) else "null"
            return f"primary key {column} is {state}"
    return None


def lookup(record: Mapping[str, Any], column: str) -> Any:
    """A flattened column's value in a record ('address__city' is address.city); None when
    it is not there."""
    value = _walk(record, column)
    return None if value is MISSING else value


def has(record: Mapping[str, Any], column: str) -> bool:
    """Whether a record has a flattened column, null or not."""
    return _walk(record, column) is not MISSING


def _walk(record: Mapping[str, Any], column: str) -> Any:
    if column in record:
        return record[column]
    return get_path(record, column.replace(SEP, "."))


def _all_good(records: list[Any], key: tuple[str, ...]) -> bool:
    """Every record an object with its (top-level) key set: nothing to check one by one."""
    # map() keeps the loop over records in C: this runs for every page.
    if records and set(map(type, records)) != {dict}:
        return False
    return not any(None in map(dict.get, records, repeat(column)) for column in key)


def _files(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(quote_literal(str(p)) for p in paths) + "]"


def scratch_prefix() -> str:
    """The name a process's scratch folder starts with: this host and process, so a shared
    AOETL_HOME never loses a live run's folder to another host's clean-up."""
    return f"rest-{socket.gethostname().replace('-', '_')}-{os.getpid()}-"


def remove_orphans(root: Path) -> None:
    """Remove this host's scratch folders of processes that are gone (a run killed before
    its close)."""
    host = socket.gethostname().replace("-", "_")
    for folder in root.glob(f"rest-{host}-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
