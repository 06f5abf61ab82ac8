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
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from ...data.duck import quote_ident
from ...errors import SourceNotFoundError, UserError, redact_uri
from ...secrets import redact, register_url, resolve
from ...spec import SourceSpec, parse_uri
from ..base import Resource

# Catalogs and aoetl's own bookkeeping (when the database is also an aoetl target) are not data.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "_aoetl")
BOOKKEEPING_PREFIX = "_aoetl_"
INTEGER_TYPES = ("SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
MAX_DECIMAL = 38  # DuckDB's widest DECIMAL; wider numbers load as DOUBLE


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


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


def database_url(uri: str) -> DatabaseUrl:
    """Resolve ``uri``'s secret references and register its password for masking."""
    url = resolve(uri)
    parsed = parse_uri(url)
    scheme = parsed.scheme
    kind = scheme.split("+", 1)[0]
    endpoint = None
    if kind not in ("sqlite", "duckdb"):
        register_url(url)  # its password, in the userinfo or the query, is masked everywhere
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        endpoint = f"{host}:{parts.port or _DEFAULT_PORTS.get(kind, 0)}"
    if kind == "postgresql":
        url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    return DatabaseUrl(kind, scheme, url, parsed.path, redact_uri(uri), endpoint)


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


def choose(found: list[Found], spec: SourceSpec, display: str) -> list[tuple[Found, str]]:
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
    decisions: list[str],
    options: list[tuple[str, str]],
    estimate: int | None = None,
) -> Resource:
    """The Resource for one chosen table."""
    return Resource(
        name,
        (f"{found.schema}.{found.table}",),
        found.kind,
        tuple(columns),
        tuple(decisions),
        0,
        tuple(options),
        estimate,
    )


def cast_select(columns: list[tuple[str, str]]) -> str:
    """A select list of (name, DuckDB type to CAST to, or '' to keep the column as it is)."""
    return ", ".join(
        f"CAST({quote_ident(n)} AS {cast}) AS {quote_ident(n)}" if cast else quote_ident(n)
        for n, cast in columns
    )


def key_decisions(
    rows: Iterable[tuple[str, str, bool, list[str], str | None, list[str] | None]],
) -> dict[tuple[str, str], list[str]]:
    """Discovery's wording of keys, per (schema, table), from rows of
    (schema, table, is primary key, columns, referenced table, referenced columns)."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for schema, table, primary, cols, ref_table, ref_cols in rows:
        if primary:
            found[(schema, table)].append(f"primary key: {', '.join(cols)}")
        else:
            found[(schema, table)].append(
                f"foreign key: {', '.join(cols)} -> {ref_table}({', '.join(ref_cols or [])})"
            )
    return found


def partition_key(n: int | None, types: dict[str, str], decisions: list[str]) -> str | None:
    """The column to split into ``n`` key ranges: a single integer primary key, if any."""
    keys = [d.removeprefix("primary key: ") for d in decisions if d.startswith("primary key: ")]
    if not n or not keys or "," in keys[0]:
        return None
    if types.get(keys[0]) not in INTEGER_TYPES:
        decisions.append(f"not partitioned: primary key {keys[0]} is not an integer")
        return None
    return keys[0]


def key_ranges(key: str, low: int, high: int, n: int, decisions: list[str]) -> str:
    """``n`` half-open ranges covering [low, high], encoded 'key|lo:hi,lo:hi,…'."""
    step = max(1, -(-(high - low + 1) // n))
    ranges = [(lo, min(lo + step, high + 1)) for lo in range(low, high + 1, step)]
    decisions.append(f"read as {len(ranges)} key ranges on {key} ({low}..{high}), in parallel")
    return key + "|" + ",".join(f"{lo}:{hi}" for lo, hi in ranges)


def split_ranges(encoded: str) -> tuple[str, list[tuple[int, int]]]:
    """The key and its ranges, from :func:`key_ranges`'s encoding."""
    key, _, spans = encoded.partition("|")
    return key, [(int(lo), int(hi)) for lo, hi in (s.split(":") for s in spans.split(","))]


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


_CONNECT_HINTS = (
    (
        ("password authentication failed", "authentication failed", "no password supplied"),
        "check the user and the password (in the URL, or the ${…} reference that gives it)",
    ),
    (
        ("connection refused", "could not translate host name", "timeout expired", "timed out"),
        "check that the server is running and that the host and port are right",
    ),
    (("does not exist",), "check the database name at the end of the URL"),
    (("unable to open database file",), "check that the file's folder exists and is writable"),
)


def cannot_connect(display: str, exc: BaseException) -> UserError:
    """A connection failure as one line: what the server said, and what to check."""
    message = redact(first_line(exc))
    lowered = message.lower()
    hint = next((h for needles, h in _CONNECT_HINTS if any(n in lowered for n in needles)), None)
    return UserError(f"cannot connect to {display}: {message}" + (f"; {hint}" if hint else ""))
