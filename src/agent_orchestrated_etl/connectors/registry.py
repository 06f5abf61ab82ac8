"""The connector registry: one table of URI schemes, each with a lazily imported factory.

Built-in connectors register here exactly as a plugin does, with :func:`register_source` and
:func:`register_destination`. A URI is resolved (its ``${…}`` references) and parsed once, by
:func:`locate`, and the connector gets the result as a :class:`Location`.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SpecError, UnknownConnectorError, redact_uri
from ..secrets import register_url, resolve
from ..spec import PipelineSpec, SourceSpec, TargetSpec, parse_uri, target_kind
from ..spec.loader import validate_spec
from ..spec.uri import LOCAL_SCHEMES, ParsedUri, anchored
from .base import Capability as C
from .base import ConnectorInfo, Destination, Location, Source
from .files import FORMATS

SourceFactory = Callable[[SourceSpec, Location, Path], Source]
"""Makes a source from its spec, its resolved location and AOETL_HOME."""
DestinationFactory = Callable[[TargetSpec, Location, Path], Destination]
"""Makes a destination from its spec, its resolved location and AOETL_HOME."""


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Any]
    kind: str | None  # the kind of SourceSpec the factory reads (None: any)
    claims: Callable[[str], bool] | None = None  # schemes served beyond the named ones


_SOURCES: dict[str, _Entry] = {}
_DESTINATIONS: dict[str, _Entry] = {}
_SOURCE_CLAIMS: list[_Entry] = []
CONNECTORS: list[ConnectorInfo] = []
"""Every registered connector that describes itself, for ``aoetl sources``."""


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A factory that imports ``module`` (and its drivers) only when first called."""

    def factory(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    factory.__qualname__ = f"lazy({module}:{name})"
    return factory


def register_source(
    schemes: str | tuple[str, ...],
    factory: SourceFactory,
    *,
    kind: str | None = None,
    info: ConnectorInfo | None = None,
    claims: Callable[[str], bool] | None = None,
) -> None:
    """Serve ``scheme://`` source URIs with ``factory(spec, location, home)``.

    ``kind`` is the SourceSpec kind the factory reads (a spec whose kind was inferred is
    validated again as that kind); ``claims`` takes further schemes (any SQLAlchemy URL);
    ``info`` lists the connector in ``aoetl sources``.
    """
    entry = _Entry(factory, kind, claims)
    for scheme in (schemes,) if isinstance(schemes, str) else schemes:
        _SOURCES[scheme] = entry
    if claims is not None:
        _SOURCE_CLAIMS.append(entry)
    if info is not None:
        CONNECTORS.append(info)


def register_destination(
    schemes: str | tuple[str, ...],
    factory: DestinationFactory,
    *,
    info: ConnectorInfo | None = None,
) -> None:
    """Serve ``scheme://`` target URIs with ``factory(spec, location, home)``."""
    for scheme in (schemes,) if isinstance(schemes, str) else schemes:
        _DESTINATIONS[scheme] = _Entry(factory, None)
    if info is not None:
        CONNECTORS.append(info)


def known(kind: str) -> str:
    """The registered schemes of sources or destinations, as a user would write them."""
    table = _SOURCES if kind == "source" else _DESTINATIONS
    return ", ".join(f"{s}://" for s in table)


_DEFAULT_PORTS = {
    "postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "mssql": 1433,
    "http": 80,
    "https": 443,
}


def locate(
    uri: str, base_dir: str | None = None, parse: Callable[[str], ParsedUri] = parse_uri
) -> Location:
    """Resolve ``uri``'s references and ``parse`` it, once.

    A relative local path that a reference resolved to is anchored at ``base_dir``, the
    pipeline file's folder (the loader anchored literal ones). A password the URL holds is
    registered for masking.
    """
    url = resolve(uri)
    parsed = parse(url)
    if base_dir is not None and url != uri:  # a literal path was anchored when loaded
        parsed = anchored(parsed, Path(base_dir))
    display = redact_uri(uri)
    if parsed.scheme.split("+")[0] in LOCAL_SCHEMES:
        return Location(parsed.scheme, parsed.path, parsed.raw, display)
    register_url(url)  # its password, in the userinfo or the query, is masked everywhere
    return Location(parsed.scheme, parsed.path, url, display, _endpoint(url, parsed.scheme))


def _endpoint(url: str, scheme: str) -> str | None:
    """host:port of a server URL (the driver's default port if none is given)."""
    if scheme == "s3":
        return None  # s3://bucket/…: the store is in the s3: block or AWS_ENDPOINT_URL
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not host:port (a plugin's own syntax)
        return None
    default = _DEFAULT_PORTS.get(scheme.split("+")[0], 0)
    return f"{parts.hostname or 'localhost'}:{port or default}"


def source_for(
    spec: SourceSpec, *, home: Path | None = None, where: Location | None = None
) -> Source:
    """The connected Source for a SourceSpec; ``home`` is AOETL_HOME (for DuckDB's extensions).
    ``where`` is the spec's URI already located (its endpoint keys the breaker before connecting).

    Raises:
        UnknownConnectorError: the scheme has no connector; the message lists the known ones.
        SpecError: the spec's kind does not fit the connector that reads its URI.
    """
    where = where or locate(spec.uri, spec.base_dir)
    entry = _source_entry(where.scheme)
    if entry is None:
        raise UnknownConnectorError(
            f"no source connector for '{where.scheme}://' in {where.display}; "
            f"known source schemes: {known('source')} (or a local path, or any SQLAlchemy URL "
            f"whose driver is installed)",
            uri=spec.uri,
        )
    source: Source = entry.factory(_as_kind(spec, entry.kind, where), where, home or _home())
    return source


def _source_entry(scheme: str) -> _Entry | None:
    entry = _SOURCES.get(scheme) or _SOURCES.get(scheme.split("+", 1)[0])
    return entry or next((e for e in _SOURCE_CLAIMS if e.claims and e.claims(scheme)), None)


def _as_kind(spec: SourceSpec, kind: str | None, where: Location) -> SourceSpec:
    """``spec`` as the kind its connector reads: a kind inferred from a URI that was a
    reference as a whole is inferred again from what it resolved to."""
    if kind is None or spec.kind == kind:
        return spec
    if "kind" in spec.model_fields_set:
        raise SpecError(
            f"kind '{spec.kind}' does not fit {where.display}, which the {kind} connector "
            f"reads; set kind '{kind}' or give a {spec.kind} URI",
            field="source.kind",
        )
    data = {**spec.model_dump(exclude_unset=True), "kind": kind, "base_dir": spec.base_dir}
    return validate_spec({"name": "source", "source": data}).source


def destination_for(spec: TargetSpec, *, home: Path) -> Destination:
    """The Destination for a TargetSpec (see :func:`source_for` for errors)."""
    where = locate(spec.uri, spec.base_dir, lambda url: target_kind(url, spec.format))
    destination: Destination = _destination_entry(where.scheme, spec).factory(spec, where, home)
    return destination


def check_targets(spec: PipelineSpec) -> None:
    """Raise what :func:`destination_for` raises for a target of ``spec`` (its own, or a
    route's) that no connector writes, before anything is read: without resolving a
    reference or connecting (a scheme that is itself a reference is left to the run)."""
    for target in spec.all_targets():
        if "${" not in target.uri.split("://", 1)[0]:
            _destination_entry(target_kind(target.uri, target.format).scheme, target)


def _destination_entry(scheme: str, spec: TargetSpec) -> _Entry:
    entry = _DESTINATIONS.get(scheme) or _DESTINATIONS.get(scheme.split("+", 1)[0])
    if entry is None:
        raise UnknownConnectorError(
            f"no destination connector for '{scheme}://' in {redact_uri(spec.uri)}; "
            f"known target schemes: {known('target')} (or a *.duckdb file or a directory path)",
            uri=spec.uri,
        )
    return entry


def _home() -> Path:
    from ..data.duck import default_home

    return default_home()


# -- the built-in connectors, registered as a plugin would be ------------------------------


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


def _no_key(spec: TargetSpec, where: Location) -> None:
    if spec.encryption_key:
        raise UnknownConnectorError(
            f"encryption_key works with DuckDB targets only, not {where.scheme}://"
        )


def _not_s3(spec: TargetSpec, where: Location) -> None:
    """Settings only an S3 target reads are refused elsewhere, not silently ignored."""
    given = [name for name in ("partition_by", "s3") if getattr(spec, name)]
    if given:
        fields = " and ".join(f"target.{name}" for name in given)
        verb, them = ("is", "it") if len(given) == 1 else ("are", "them")
        raise SpecError(
            f"{fields} {verb} for s3:// targets only, and {where.display} is a "
            f"{where.scheme} target; remove {them}"
        )


def _duckdb_target(spec: TargetSpec, where: Location, home: Path) -> Destination:
    from .duckdb.target import DuckDBDestination

    _not_s3(spec, where)
    return DuckDBDestination(
        where.path, home=home, encryption_key=spec.encryption_key, lock_timeout=spec.lock_timeout_s
    )


def _sql_target(spec: TargetSpec, where: Location, home: Path) -> Destination:
    from .sql.target import SqlDestination

    _no_key(spec, where)
    _not_s3(spec, where)
    return SqlDestination(where, home=home)


def _directory_target(spec: TargetSpec, where: Location, home: Path) -> Destination:
    from .directory.target import DirectoryDestination

    _no_key(spec, where)
    _not_s3(spec, where)
    return DirectoryDestination(
        where.path, spec.format or where.scheme, home=home, lock_timeout=spec.lock_timeout_s
    )


_ADAPT = (C.APPEND, C.REPLACE, C.MERGE, C.SCHEMA_EVOLUTION)
register_source(
    "file",
    lazy(f"{__package__}.files.source", "FileSource"),
    kind="files",
    info=ConnectorInfo(
        "files",
        "source",
        ("file", "(a path)"),
        FORMATS,
        (C.DISCOVER, C.GLOB, C.DIRECTORY_GROUPING, C.GZIP, C.ZSTD, C.QUARANTINE, C.FUSED_TO_DUCKDB),
        "Local files: a path, glob or directory of CSV, JSON, NDJSON or Parquet.",
    ),
)
register_source(
    "s3",
    lazy(f"{__package__}.s3.source", "S3Source"),
    kind="s3",
    info=ConnectorInfo(
        "s3",
        "source",
        ("s3",),
        FORMATS,
        (
            C.DISCOVER,
            C.GLOB,
            C.DIRECTORY_GROUPING,
            C.GZIP,
            C.ZSTD,
            C.QUARANTINE,
            C.FUSED_TO_DUCKDB,
            C.PARTITIONS,
        ),
        "Objects under an S3 prefix or glob (AWS or any S3-compatible store), read as files "
        "are: CSV, JSON, NDJSON or Parquet, streamed by DuckDB's httpfs; key=value/ folders "
        "become columns.",
    ),
)
register_source(
    ("postgresql", "sqlite", "duckdb"),
    lazy(f"{__package__}.sql.source", "open_sql_source"),
    kind="sql",
    claims=_sqlalchemy_knows,
    info=ConnectorInfo(
        "sql",
        "source",
        ("postgresql", "sqlite", "duckdb", "(any SQLAlchemy URL)"),
        ("table", "view", "query"),
        (
            C.DISCOVER,
            C.PRIMARY_KEYS,
            C.FOREIGN_KEYS,
            C.ROW_ESTIMATES,
            C.FUSED_TO_DUCKDB,
            C.QUERY_PUSHDOWN,
            C.INCREMENTAL_PUSHDOWN,
            C.PARTITIONS,
        ),
        "A database: PostgreSQL, SQLite and DuckDB through DuckDB's scanners (ADBC or "
        "SQLAlchemy as fallbacks; reader: duckdb, adbc or sqlalchemy), any other SQLAlchemy "
        "URL through a server-side cursor. A query is pushed down to PostgreSQL.",
    ),
)
register_source(
    ("http", "https"),
    lazy(f"{__package__}.rest", "RestSource"),
    kind="rest",
    info=ConnectorInfo(
        "rest",
        "source",
        ("http", "https"),
        ("json",),
        (
            C.DISCOVER,
            C.PRIMARY_KEYS,
            C.ROW_ESTIMATES,
            C.INCREMENTAL_PUSHDOWN,
            C.QUARANTINE,
            C.FUSED_TO_DUCKDB,
        ),
        "A REST API: declared resources (or the URI as one collection, probed), every common "
        "paginator, auth, rate limits; nested JSON flattened into child tables.",
    ),
)
register_destination(
    "duckdb",
    _duckdb_target,
    info=ConnectorInfo(
        "duckdb",
        "destination",
        ("duckdb", "(a *.duckdb path)"),
        (),
        (*_ADAPT, C.ATOMIC_RUN),
        "An embedded DuckDB database file; the default target is ./warehouse.duckdb.",
    ),
)
for _format, _schemes, _name in (
    ("parquet", ("parquet", "(a directory path)"), "Parquet"),
    ("csv", ("csv",), "CSV"),
):
    register_destination(
        _format,
        _directory_target,
        info=ConnectorInfo(
            f"{_format}-dir",
            "destination",
            _schemes,
            (_format,),
            (*_ADAPT, C.ATOMIC_SWAP),
            f"A directory with one folder of {_name} files per table.",
        ),
    )


def _s3_target(spec: TargetSpec, where: Location, home: Path) -> Destination:
    from .s3.target import S3Destination

    _no_key(spec, where)
    return S3Destination(spec, where, home=home)


register_destination(
    "s3",
    _s3_target,
    info=ConnectorInfo(
        "s3",
        "destination",
        ("s3",),
        ("parquet", "csv"),
        (*_ADAPT, C.ATOMIC_SWAP),
        "Parquet (or CSV) files under an S3 prefix, optionally partitioned by columns; staged "
        "under a private prefix and published by a manifest.",
    ),
)
register_destination(
    ("postgresql", "sqlite"),
    _sql_target,
    info=ConnectorInfo(
        "sql",
        "destination",
        ("postgresql", "sqlite"),
        (),
        (*_ADAPT, C.COPY, C.ATOMIC_RUN, C.EXACTLY_ONCE),
        "A PostgreSQL or SQLite database: staged by COPY with checkpoints, committed at once.",
    ),
)
