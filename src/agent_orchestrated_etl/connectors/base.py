"""The Source and Destination protocols every connector implements, and their typed results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ..data.duck import BadRow, Relation, quote_ident, quote_literal


@dataclass(frozen=True)
class Decision:
    """What a heuristic decided, and why: a record the plan shows and ``--json`` prints.

    ``str(decision)`` is the sentence users read: "what: value (reason)", e.g. "primary key:
    id" or "encoding: latin-1 (bytes over 0x7f that are not UTF-8)".
    """

    what: str  # what was decided: "primary key", "reader", "encoding", "column amount"…
    value: str = ""  # what it was decided to be
    reason: str = ""  # why, when the value does not say it

    def __str__(self) -> str:
        text = f"{self.what}: {self.value}" if self.value else self.what
        return f"{text} ({self.reason})" if self.reason else text

    def to_dict(self) -> dict[str, str]:
        return {"what": self.what, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of a table refer to ``referenced_columns`` of ``table`` (schema.table)."""

    columns: tuple[str, ...]
    table: str
    referenced_columns: tuple[str, ...]

    def __str__(self) -> str:
        return f"{', '.join(self.columns)} -> {self.table}({', '.join(self.referenced_columns)})"


class ReaderState(Protocol):
    """A source's private note of how to read one resource, pinned at discovery.

    Only the source that made it reads its fields; everyone else sees :meth:`options`.
    """

    def options(self) -> tuple[tuple[str, str], ...]:
        """What it holds, as (name, value) text: covered by fingerprints, kept with each
        dead-letter entry (a replay of CSV rows reads DuckDB's reader options from it)."""
        ...

    def assumptions(self) -> list[str]:
        """What the reader assumes about the data, in words ("delimiter ';'", "a header
        line"), for an error that suggests an assumption was wrong; empty when none."""
        ...


@dataclass(frozen=True)
class Resource:
    """One table's worth of source data, as discovery found it.

    Attributes:
        name: the table it loads into.
        locations: files (or other units) that make it up.
        format: csv, json, ndjson or parquet for files; table, view or query for databases.
        columns: (name, DuckDB type) pairs as inferred or overridden.
        decisions: what a heuristic decided about this resource, and why.
        size_bytes: bytes on disk, for progress and planning.
        state: how the source reads it (the source's own type, pinned at discovery).
        row_estimate: about how many rows, when it is cheap to tell (for progress).
        primary_key: the source's primary key columns (empty: none known).
        foreign_keys: the source's foreign keys.
        follows: the table whose incremental cursor this one's rows follow (a REST
            resource's nested table holds what its top table's read brings): an incremental
            run reads it past that table's mark, and it keeps no mark of its own.
    """

    name: str
    locations: tuple[str, ...]
    format: str
    columns: tuple[tuple[str, str], ...] = ()
    decisions: tuple[Decision, ...] = ()
    size_bytes: int = 0
    state: ReaderState | None = None
    row_estimate: int | None = None
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    follows: str | None = None

    def options(self) -> tuple[tuple[str, str], ...]:
        """The reader state as (name, value) text pairs (empty without one)."""
        return self.state.options() if self.state is not None else ()

    def assumed(self) -> str:
        """What the reader assumed, for an error that suggests it was wrong."""
        parts = [self.format, *(self.state.assumptions() if self.state is not None else ())]
        if self.columns:
            names = [n for n, _ in self.columns]
            shown = ", ".join(names[:6]) + (f" … ({len(names)} in all)" if len(names) > 6 else "")
            parts.append(f"columns {shown}")
        return ", ".join(parts)

    def context(self) -> str:
        """How this resource was read, as JSON: kept with each of its dead-letter entries."""
        return json.dumps(
            {"format": self.format, "columns": self.columns, "read_options": self.options()}
        )


@dataclass(frozen=True)
class RowFilter:
    """Rows whose ``column`` lies past ``value``: what an incremental run reads.

    ``value`` is the bound as DuckDB renders it (any lag already subtracted) and ``kind`` the
    column's DuckDB type. A source pushes the filter into the database when it reads through
    a driver; DuckDB's scanners push :meth:`sql` down themselves.
    """

    column: str
    op: str  # ">" past the last mark, ">=" from an initial value
    value: str
    kind: str

    def sql(self) -> str:
        """The condition as DuckDB SQL."""
        return (
            f"{quote_ident(self.column)} {self.op} CAST({quote_literal(self.value)} AS {self.kind})"
        )

    def apply(self, relation: Relation) -> Relation:
        """``relation`` with only the rows that pass, filtered by the engine."""
        return relation.wrap(f"SELECT * FROM ({relation.sql}) WHERE {self.sql()}")


@dataclass
class LoadResult:
    """What a destination did with one table."""

    table: str
    target: str
    rows_loaded: int
    bad_rows: list[BadRow] = field(default_factory=list)
    fused: bool = False
    columns_added: tuple[str, ...] = ()
    columns_widened: tuple[str, ...] = ()


@runtime_checkable
class Source(Protocol):
    """Something to read from. It discovers resources and gives each as a Relation.

    ``endpoint`` (host:port, None for local files) keys the circuit breaker; ``notes`` say
    what discovery decided about the source as a whole.
    """

    endpoint: str | None
    notes: list[str]

    def discover(self) -> list[Resource]:
        """List the resources (tables) this source holds."""
        ...

    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        """The resource's data as DuckDB SQL (a file scan) or an Arrow stream binding.

        With ``where``, only the rows that pass it (an incremental read).
        """
        ...

    def fingerprint(self, resource: Resource) -> str:
        """Changes whenever what :meth:`relation` would read may have changed (a file's size
        and modification time, an object's ETag, a table's columns); a checkpoint is reused
        only while it holds."""
        ...

    def close(self) -> None:
        """Release connections and scratch files."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    """A table staged durably by a run: the data and this record commit together."""

    table: str
    fingerprint: str
    rows: int
    bad_rows: int
    high_water: str | None = None  # the largest cursor value staged (incremental loads)


@dataclass(frozen=True)
class StagedTable:
    """What the final commit applies for one table."""

    table: str
    mode: str
    key: tuple[str, ...] = ()


@runtime_checkable
class Destination(Protocol):
    """Something to load into, exactly once.

    A run calls :meth:`begin`, then :meth:`write` per table (each staged durably together with
    its checkpoint, so a resumed run skips it), then :meth:`commit` once, which makes every
    table visible at once. Until then the targets are unchanged.
    """

    display: str
    endpoint: str | None  # host:port for circuit breaking; None for local files

    def begin(self, run_id: str, pipeline: str) -> None:
        """Open the destination for this run (a resumed run passes its old id)."""
        ...

    def checkpoints(self) -> dict[str, Checkpoint]:
        """Tables this run has already staged."""
        ...

    def committed(self) -> bool:
        """Whether this run was already committed."""
        ...

    def cursor(self, table: str) -> str | None:
        """The committed high-water mark of an incremental table (None before its first load)."""
        ...

    def write(
        self,
        table: str,
        relation: Relation,
        *,
        mode: str,
        key: tuple[str, ...],
        fingerprint: str,
        record_bad: Callable[[list[BadRow]], None],
        on_cancel: Callable[[Callable[[], None]], None] | None = None,
        cursor_column: str | None = None,
    ) -> LoadResult:
        """Stage one table and its checkpoint; ``record_bad`` runs before they commit.

        With ``cursor_column``, the largest value staged is kept with the checkpoint, and the
        commit makes it the table's new high-water mark in the same transaction.
        """
        ...

    def staged(self, table: str) -> Relation:
        """The rows :meth:`write` staged for ``table`` in this run (for merge, the last row
        per key), readable until :meth:`commit` or :meth:`discard`: a check on a staged table
        runs on it before the commit. Each call gives a fresh Relation; run it once.

        Raises:
            FatalError: nothing is staged for ``table`` in this run.
        """
        ...

    def commit(self, tables: list[StagedTable]) -> dict[str, int]:
        """Make every staged table visible at once; returns rows written per table."""
        ...

    def discard(self) -> None:
        """Drop this run's staging and checkpoints; the targets stay as they were."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class Capability(StrEnum):
    """What a connector can do, as ``aoetl sources`` lists it."""

    DISCOVER = "discover"
    GLOB = "glob"
    DIRECTORY_GROUPING = "directory-grouping"
    GZIP = "gzip"
    ZSTD = "zstd"
    QUARANTINE = "quarantine"
    FUSED_TO_DUCKDB = "fused-to-duckdb"
    PRIMARY_KEYS = "primary-keys"
    FOREIGN_KEYS = "foreign-keys"
    ROW_ESTIMATES = "row-estimates"
    QUERY_PUSHDOWN = "query-pushdown"
    INCREMENTAL_PUSHDOWN = "incremental-pushdown"
    PARTITIONS = "partitions"
    APPEND = "append"
    REPLACE = "replace"
    MERGE = "merge"
    SCHEMA_EVOLUTION = "schema-evolution"
    COPY = "copy"
    ATOMIC_RUN = "atomic-run"
    ATOMIC_SWAP = "atomic-swap"
    EXACTLY_ONCE = "exactly-once"


ConnectorKind = Literal["source", "destination"]


@dataclass(frozen=True)
class ConnectorInfo:
    """A registry entry, shown by ``aoetl sources``."""

    name: str
    kind: ConnectorKind
    schemes: tuple[str, ...]
    formats: tuple[str, ...]
    capabilities: tuple[Capability, ...]
    description: str


@dataclass(frozen=True)
class Location:
    """A source or target URI, its references resolved and parsed once, as a connector gets it.

    Attributes:
        scheme: 'file', 'postgresql', 'sqlite', 'duckdb', a plugin's…
        path: the local path (anchored), or the part after ``scheme://``.
        url: the resolved URI, secrets and all: never log or show it.
        display: the URI as written, password masked: what messages show.
        endpoint: host:port of a server, for the circuit breaker; None for local files.
    """

    scheme: str
    path: str
    url: str
    display: str
    endpoint: str | None = None


def shape_fingerprint(resource: Resource, volatile: tuple[str, ...] = ()) -> str:
    """What every fingerprint covers: where a resource is, its columns and how it is read.

    ``volatile`` names what differs in every process but reads the same data (a source's
    ATTACH alias), left out so a run resumed elsewhere, or one task run in its own process,
    agrees with the fingerprint its checkpoint was staged with.
    """
    text = json.dumps([resource.locations, resource.columns, resource.options()])
    for name in volatile:
        text = text.replace(name, "\0")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def local_path(path: str) -> Path:
    """Expand ``~`` in a local path."""
    return Path(path).expanduser()
