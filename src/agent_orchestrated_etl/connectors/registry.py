"""The connector registry: which class serves a URI scheme or a file format."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

from ..errors import UnknownConnectorError
from ..secrets import resolve
from ..spec import SourceSpec, TargetSpec, parse_uri, target_kind
from .base import ConnectorInfo, Destination, Source
from .files._sniff import FORMATS

CONNECTORS: tuple[ConnectorInfo, ...] = (
    ConnectorInfo(
        "files",
        "source",
        ("file", "(a path)"),
        FORMATS,
        ("discover", "glob", "directory-grouping", "gzip", "zstd", "quarantine", "fused-to-duckdb"),
        "Local files: a path, glob or directory of CSV, JSON, NDJSON or Parquet.",
    ),
    ConnectorInfo(
        "sql",
        "source",
        ("postgresql", "sqlite", "duckdb", "(any SQLAlchemy URL)"),
        ("table", "view", "query"),
        (
            "discover",
            "primary-keys",
            "foreign-keys",
            "row-estimates",
            "fused-to-duckdb",
            "query-pushdown (postgresql)",
            "incremental-pushdown",
            "partitions",
            "readers: duckdb, adbc, sqlalchemy",
        ),
        "A database: PostgreSQL, SQLite and DuckDB through DuckDB's scanners (ADBC or "
        "SQLAlchemy as fallbacks), any other SQLAlchemy URL through a server-side cursor.",
    ),
    ConnectorInfo(
        "duckdb",
        "destination",
        ("duckdb", "(a *.duckdb path)"),
        (),
        ("append", "replace", "merge", "schema-evolution", "atomic-run"),
        "An embedded DuckDB database file; the default target is ./warehouse.duckdb.",
    ),
    ConnectorInfo(
        "sql",
        "destination",
        ("postgresql", "sqlite"),
        (),
        ("append", "replace", "merge", "schema-evolution", "copy", "atomic-run", "exactly-once"),
        "A PostgreSQL or SQLite database: staged by COPY with checkpoints, committed at once.",
    ),
    ConnectorInfo(
        "parquet-dir",
        "destination",
        ("parquet", "(a directory path)"),
        ("parquet",),
        ("append", "replace", "merge", "schema-evolution", "atomic-swap"),
        "A directory with one folder of Parquet files per table.",
    ),
    ConnectorInfo(
        "csv-dir",
        "destination",
        ("csv",),
        ("csv",),
        ("append", "replace", "merge", "schema-evolution", "atomic-swap"),
        "A directory with one folder of CSV files per table.",
    ),
)

SOURCE_SCHEMES = ("file", "postgresql", "sqlite", "duckdb")
TARGET_SCHEMES = ("duckdb", "parquet", "csv", "postgresql", "sqlite")


def known(kind: str) -> str:
    schemes = (
        (*SOURCE_SCHEMES, *_SOURCES) if kind == "source" else (*TARGET_SCHEMES, *_DESTINATIONS)
    )
    return ", ".join(f"{s}://" for s in schemes)


_SOURCES: dict[str, Callable[[SourceSpec], Source]] = {}
_DESTINATIONS: dict[str, Callable[[TargetSpec, Path], Destination]] = {}


def register_source(scheme: str, factory: Callable[[SourceSpec], Source]) -> None:
    """Add a source connector for ``scheme://`` URIs (plugins and test doubles use this)."""
    _SOURCES[scheme] = factory


def register_destination(scheme: str, factory: Callable[[TargetSpec, Path], Destination]) -> None:
    """Add a destination connector for ``scheme://`` URIs."""
    _DESTINATIONS[scheme] = factory


def source_for(spec: SourceSpec) -> Source:
    """The Source for a SourceSpec.

    Raises:
        UnknownConnectorError: the scheme has no connector; the message lists the known ones.
    """
    parsed = parse_uri(resolve(spec.uri))
    if parsed.scheme in _SOURCES:
        return _SOURCES[parsed.scheme](spec)
    if parsed.scheme == "file":
        from .files.source import FileSource

        return FileSource(spec)
    if parsed.scheme.split("+")[0] in ("postgresql", "sqlite", "duckdb") or _sqlalchemy_knows(
        parsed.scheme
    ):
        from .sql.source import open_sql_source

        return open_sql_source(spec)
    raise UnknownConnectorError(
        f"no source connector for '{parsed.scheme}://' in {parsed.display}; "
        f"known source schemes: {known('source')} (or a local path)",
        uri=spec.uri,
    )


def destination_for(spec: TargetSpec, *, home: Path) -> Destination:
    """The Destination for a TargetSpec (see :func:`source_for` for errors)."""
    parsed = target_kind(resolve(spec.uri), spec.format)
    if parsed.scheme in _DESTINATIONS:
        return _DESTINATIONS[parsed.scheme](spec, home)
    if parsed.scheme == "duckdb":
        from .duckdb.target import DuckDBDestination

        return DuckDBDestination(
            parsed.path,
            home=home,
            encryption_key=spec.encryption_key,
            lock_timeout=spec.lock_timeout_s,
        )
    if spec.encryption_key:
        raise UnknownConnectorError(
            f"encryption_key works with DuckDB targets only, not {parsed.scheme}://"
        )
    if parsed.scheme in ("postgresql", "sqlite"):
        from .sql.target import SqlDestination

        if spec.encryption_key:
            raise UnknownConnectorError("encryption_key works with DuckDB targets only")
        return SqlDestination(spec.uri, parsed.scheme, home=home)
    if parsed.scheme in ("parquet", "csv"):
        from .directory.target import DirectoryDestination

        return DirectoryDestination(
            parsed.path, spec.format or parsed.scheme, home=home, lock_timeout=spec.lock_timeout_s
        )
    raise UnknownConnectorError(
        f"no destination connector for '{parsed.scheme}://' in {parsed.display}; "
        f"known target schemes: {known('target')} (or a *.duckdb file or a directory path)",
        uri=spec.uri,
    )


def _sqlalchemy_knows(scheme: str) -> bool:
    """Whether SQLAlchemy (when installed) has a dialect and driver for ``scheme://``."""
    if importlib.util.find_spec("sqlalchemy") is None:
        return False
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(f"{scheme}://").get_dialect()
    except (ArgumentError, NoSuchModuleError, ImportError):
        return False
    return True
