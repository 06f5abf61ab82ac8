"""What every database reader shares: picking tables, naming them, and splitting key ranges.

The readers (DuckDB's scanners, ADBC, SQLAlchemy) each list a database's tables their own way;
from that list on, the choice of tables, the names they load into, the ``partitions`` key
ranges and the wording of errors are the same, and live here.
"""

from __future__ import annotations

import importlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ...data.duck import quote_ident
from ...errors import AoetlError, SourceNotFoundError, UserError, classify
from ...spec import SqlSourceSpec
from ..base import Decision, ForeignKey, Location, ReaderState, Resource

# Catalogs and aoetl's own bookkeeping (when the database is also an aoetl target) are not data.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "_aoetl")
BOOKKEEPING_PREFIX = "_aoetl_"
INTEGER_TYPES = ("SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
MAX_DECIMAL = 38  # DuckDB's widest DECIMAL; wider numbers load as DOUBLE


@dataclass(frozen=True)
class DatabaseUrl:
    """A database URL with its secrets resolved, and what may be shown of it.

    Attributes:
        kind: postgresql, sqlite, duckdb, or another SQLAlchemy dialect name (mysql…).
        url: the resolved URL; PostgreSQL's in libpq form (postgresql://…). Never log it.
        path: the file of a SQLite or DuckDB database.
        display: the URL with its password masked.
        endpoint: host:port of a server, for circuit breaking; None for a file.
    """

    kind: str
    scheme: str
    url: str
    path: str
    display: str
    endpoint: str | None


def database_url(where: Location) -> DatabaseUrl:
    """The database a resolved location names (the registry resolved and parsed it once)."""
    kind = where.scheme.split("+", 1)[0]
    url = where.url
    if kind == "postgresql":
        url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    return DatabaseUrl(kind, where.scheme, url, where.path, where.display, where.endpoint)


def located(spec: SqlSourceSpec, where: Location | None) -> Location:
    """``where``, or ``spec.uri`` resolved now (a reader made directly, not by the registry)."""
    if where is not None:
        return where
    from ..registry import locate

    return locate(spec.uri, spec.base_dir)


@dataclass(frozen=True, order=True)
class Found:
    """A table or view as a reader listed it."""

    schema: str
    table: str
    kind: str  # "table" or "view"
    estimate: int | None = None


def is_user_table(schema: str, table: str) -> bool:
    return (
        schema not in SYSTEM_SCHEMAS
        and not schema.startswith("pg_toast")
        and not table.startswith(BOOKKEEPING_PREFIX)
    )


def choose(found: list[Found], spec: SqlSourceSpec, display: str) -> list[tuple[Found, str]]:
    """The tables ``spec.tables`` names (every one by default), each with its target name.

    Raises:
        SourceNotFoundError: a named table is not there (the message lists those that are).
        UserError: ``table`` names one target for several source tables.
    """
    picked = {w: _picks(found, w) for w in spec.tables or ()}
    every = {f for fs in picked.values() for f in fs}
    chosen = [f for f in found if not picked or f in every]
    missing = {w for w, fs in picked.items() if not fs}
    if missing:
        known = ", ".join(_qualified(f) for f in found) or "none"
        raise SourceNotFoundError(
            f"{display} has no table {', '.join(sorted(missing))}; tables: {known}"
        )
    if not chosen:
        raise SourceNotFoundError(f"{display} has no tables")
    if spec.table and len(chosen) > 1:
        raise UserError(
            f"--table names one target table, but {len(chosen)} tables were chosen; "
            f"pick one with 'tables', or leave --table out to keep their names"
        )
    count: dict[str, int] = defaultdict(int)
    for f in chosen:
        count[f.table] += 1
    # The same table name in two schemas: prefix the schema to keep them apart.
    return [
        (f, spec.table or (f.table if count[f.table] == 1 else f"{f.schema}_{f.table}"))
        for f in chosen
    ]


def _qualified(f: Found) -> str:
    return f"{f.schema}.{f.table}"


def _picks(found: list[Found], wanted: str) -> list[Found]:
    """The tables ``wanted`` names (``table`` or ``schema.table``), else those it matches as a
    glob. A name that exists as written is never read as a glob."""
    exact = [f for f in found if wanted in (f.table, _qualified(f))]
    if exact or not any(c in wanted for c in "*?["):
        return exact
    return [f for f in found if fnmatchcase(_qualified(f), wanted) or fnmatchcase(f.table, wanted)]


def table_resource(
    found: Found,
    name: str,
    columns: list[tuple[str, str]],
    decisions: list[Decision],
    state: ReaderState,
    estimate: int | None = None,
    keys: Keys | None = None,
) -> Resource:
    """The Resource for one chosen table."""
    keys = keys or Keys()
    return Resource(
        name,
        (f"{found.schema}.{found.table}",),
        found.kind,
        tuple(columns),
        tuple(decisions),
        0,
        state,
        estimate,
        keys.primary,
        tuple(keys.foreign),
    )


def cast_select(columns: list[tuple[str, str]]) -> str:
    """A select list of (name, DuckDB type to CAST to, or '' to keep the column as it is)."""
    return ", ".join(
        f"CAST({quote_ident(n)} AS {cast}) AS {quote_ident(n)}" if cast else quote_ident(n)
        for n, cast in columns
    )


@dataclass
class Keys:
    """A table's primary key and foreign keys, as the database declares them."""

    primary: tuple[str, ...] = ()
    foreign: list[ForeignKey] = field(default_factory=list)

    def decisions(self) -> list[Decision]:
        """How discovery words them in the plan."""
        found = [Decision("primary key", ", ".join(self.primary))] if self.primary else []
        return found + [Decision("foreign key", str(fk)) for fk in self.foreign]


def table_keys(
    rows: Iterable[tuple[str, str, bool, list[str], str | None, list[str] | None]],
) -> dict[tuple[str, str], Keys]:
    """Keys per (schema, table), from rows of (schema, table, is primary key, columns,
    referenced table, referenced columns)."""
    found: dict[tuple[str, str], Keys] = defaultdict(Keys)
    for schema, table, primary, cols, ref_table, ref_cols in rows:
        keys = found[(schema, table)]
        if primary:
            keys.primary = tuple(cols)
        else:
            keys.foreign.append(ForeignKey(tuple(cols), ref_table or "", tuple(ref_cols or ())))
    return found


def partition_key(
    n: int | None, types: dict[str, str], primary_key: tuple[str, ...], decisions: list[Decision]
) -> str | None:
    """The column to split into ``n`` key ranges: a single integer primary key, if any."""
    if not n or len(primary_key) != 1:
        return None
    (key,) = primary_key
    if types.get(key) not in INTEGER_TYPES:
        decisions.append(Decision("partitions", "none", f"primary key {key} is not an integer"))
        return None
    return key


@dataclass(frozen=True)
class KeyRanges:
    """Half-open ranges [low, high) of an integer key, read in parallel."""

    key: str
    spans: tuple[tuple[int, int], ...]

    def encoded(self) -> str:
        """'key|lo:hi,lo:hi,…', for a reader state's options."""
        return self.key + "|" + ",".join(f"{lo}:{hi}" for lo, hi in self.spans)

    def conditions(self) -> list[str]:
        """One SQL condition per range."""
        column = quote_ident(self.key)
        return [f"{column} >= {lo} AND {column} < {hi}" for lo, hi in self.spans]


def key_ranges(key: str, low: int, high: int, n: int, decisions: list[Decision]) -> KeyRanges:
    """``n`` half-open ranges covering [low, high]."""
    step = max(1, -(-(high - low + 1) // n))
    spans = tuple((lo, min(lo + step, high + 1)) for lo in range(low, high + 1, step))
    decisions.append(
        Decision("partitions", f"{len(spans)} key ranges on {key}", f"{low}..{high}, in parallel")
    )
    return KeyRanges(key, spans)


def require(module: str, what: str, extra: str) -> Any:
    """Import ``module``, or say which extra to install for ``what``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"{what} needs {module.split('.')[0]}: pip install 'agent-orchestrated-etl[{extra}]'"
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def cannot_connect(display: str, exc: BaseException) -> AoetlError:
    """A connection failure as one line: what the server said, and what to check.

    Classified by the driver's family (:func:`errors.classify`): a refused, reset or timed-out
    connection is transient (the run retries it); a wrong password, database or host name is
    bad input.
    """
    return classify(exc, f"cannot connect to {display}")
