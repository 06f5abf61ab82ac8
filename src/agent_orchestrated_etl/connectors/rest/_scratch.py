"""Pages of records written to a scratch NDJSON file, which DuckDB then reads as a table.

A page's records go to the file as they arrive, one JSON object a line, so memory holds about
one page whatever the API's size. Each line gets the record's 1-based position in the
resource (``_aoetl_row``): a row number stable within the file, for tables without a key and
for reading parents in the order they came. A record that is not an object, or whose primary
key is null or missing, is not written: it becomes a :class:`BadRow` naming the page (its
masked URL) and its 1-based index there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
from duckdb.sqltypes import DuckDBPyType

from ...data.duck import BadRow, quote_literal
from ._flatten import ROW_FIELD, SEP, columns_arg

# Largest record DuckDB's JSON reader takes (its default is 16 MB).
MAX_OBJECT = 1 << 26
_KINDS = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}


@dataclass
class Scratch:
    """A resource's records on disk, and what did not make it there.

    Attributes:
        path: the NDJSON file.
        rows: records written.
        bad: records left out, as dead-letter rows (their table is the resource's top table).
        fields: the columns and types DuckDB infers over the whole file (every page), empty
            when no record was written.
    """

    path: Path
    rows: int = 0
    bad: list[BadRow] = field(default_factory=list)
    fields: list[tuple[str, DuckDBPyType]] = field(default_factory=list)

    def scan(self) -> str:
        """``read_json`` of the file with its inferred types pinned (no second inference)."""
        return (
            f"read_json({quote_literal(str(self.path))}, format='newline_delimited', "
            f"columns={columns_arg(self.fields)}, maximum_object_size={MAX_OBJECT})"
        )


def infer(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, DuckDBPyType]]:
    """Columns and types over every record of an NDJSON file (types widen across pages)."""
    rel = con.sql(
        f"SELECT * FROM read_json({quote_literal(str(path))}, format='newline_delimited', "
        f"sample_size=-1, maximum_object_size={MAX_OBJECT})"
    )
    return list(zip(rel.columns, rel.types, strict=True))


class Writer:
    """Appends records to a scratch file; thread-safe, though pages arrive in order."""

    def __init__(self, path: Path, table: str, key: Sequence[str]) -> None:
        self.scratch = Scratch(path)
        self._table, self._key = table, tuple(key)
        self._file: IO[bytes] = path.open("wb")
        self._lock = threading.Lock()

    def page(
        self, url: str, records: Iterable[Any], extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write one page's records (``extra`` fields first in each: a child's parent key)."""
        lines: list[bytes] = []
        bad: list[BadRow] = []
        with self._lock:
            row = self.scratch.rows + len(self.scratch.bad)
        for index, record in enumerate(records, 1):
            row += 1
            why = problem(record, self._key)
            if why is not None:
                bad.append(BadRow(self._table, url, index, why, orjson.dumps(record).decode()))
                continue
            if extra:
                record = {**extra, **record}
            line = orjson.dumps(record)
            lines.append(
                line[:-1] + (b',"%s":%d}' % (ROW_FIELD.encode(), row))
                if record
                else (b'{"%s":%d}' % (ROW_FIELD.encode(), row))
            )
        with self._lock:
            self._file.write(b"\n".join(lines) + b"\n" if lines else b"")
            self.scratch.rows += len(lines)
            self.scratch.bad.extend(bad)

    def finish(self, con: duckdb.DuckDBPyConnection) -> Scratch:
        """Close the file and infer its types."""
        self._file.close()
        if self.scratch.rows:
            self.scratch.fields = infer(con, self.scratch.path)
        return self.scratch

    def abandon(self) -> None:
        """Close and remove a file whose fetch failed."""
        self._file.close()
        self.scratch.path.unlink(missing_ok=True)


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
    """A flattened column's value in a record ('address__city' is address.city)."""
    if column in record:
        return record[column]
    value: Any = record
    for part in column.split(SEP):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def has(record: Mapping[str, Any], column: str) -> bool:
    if column in record:
        return True
    value: Any = record
    for part in column.split(SEP):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return True
