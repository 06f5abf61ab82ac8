"""The Source and Destination protocols every connector implements, and their typed results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..spec import Mode
from ._duck import BadRow, Relation


@dataclass(frozen=True)
class Resource:
    """One table's worth of source data, as discovery found it.

    Attributes:
        name: the table it loads into.
        locations: files (or other units) that make it up.
        format: csv, json, ndjson or parquet for files.
        columns: (name, DuckDB type) pairs as inferred or overridden.
        decisions: what a heuristic decided about this resource, and why.
        size_bytes: bytes on disk, for progress and planning.
    """

    name: str
    locations: tuple[str, ...]
    format: str
    columns: tuple[tuple[str, str], ...] = ()
    decisions: tuple[str, ...] = ()
    size_bytes: int = 0
    read_options: tuple[tuple[str, str], ...] = ()


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
    """Something to read from. It discovers resources and gives each as a Relation."""

    def discover(self) -> list[Resource]:
        """List the resources (tables) this source holds."""
        ...

    def relation(self, resource: Resource) -> Relation:
        """The resource's data as DuckDB SQL (a file scan) or an Arrow stream binding."""
        ...


@runtime_checkable
class Destination(Protocol):
    """Something to load into, atomically: stage every table, then commit once or abort."""

    display: str

    def begin(self, run_id: str) -> None:
        """Start a run: open the transaction or the staging area."""
        ...

    def write(
        self, table: str, relation: Relation, *, mode: Mode, key: tuple[str, ...]
    ) -> LoadResult:
        """Stage one table. Nothing is visible until :meth:`commit`."""
        ...

    def commit(self) -> None:
        """Make every staged table visible at once."""
        ...

    def abort(self) -> None:
        """Drop everything staged; the target stays as it was."""
        ...


@dataclass(frozen=True)
class ConnectorInfo:
    """A registry entry, shown by ``aoetl sources``."""

    name: str
    kind: str  # "source" or "destination"
    schemes: tuple[str, ...]
    formats: tuple[str, ...]
    capabilities: tuple[str, ...]
    description: str


def local_path(path: str) -> Path:
    """Expand ``~`` in a local path."""
    return Path(path).expanduser()
