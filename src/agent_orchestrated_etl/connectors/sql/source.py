"""SQL databases as sources: PostgreSQL, SQLite and DuckDB, read through DuckDB's scanners.

The database is ATTACHed read-only (``TYPE postgres`` or ``TYPE sqlite``, from the PyPI
extension packages, offline). Discovery reads DuckDB's catalog of the attached database:
schemas, tables and views, columns with their types, primary and foreign keys, and row
estimates. A table is read as ``SELECT * FROM src.schema.table``, so a DuckDB destination
moves it in one statement (the postgres extension streams it with binary COPY), and any other
destination streams the same SQL.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ...data.duck import Relation, connect, quote_ident, quote_literal, unique_name
from ...errors import FatalError, NotSupportedError, SourceNotFoundError, UserError
from ...secrets import redact
from ...spec import SqlSourceSpec
from ..base import Decision, Location, Resource, RowFilter, Source, shape_fingerprint
from ._catalog import (
    Found,
    KeyRanges,
    Keys,
    cannot_connect,
    choose,
    database_url,
    first_line,
    is_user_table,
    key_ranges,
    located,
    partition_key,
    table_keys,
    table_resource,
)

_TYPES = {"postgresql": "postgres", "sqlite": "sqlite", "duckdb": None}
_DEFAULT_PAGES_PER_TASK = 1000  # DuckDB's postgres scanner
_PG_FKS = """
SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY k.ord) AS cols,
       fn.nspname || '.' || fc.relname AS ref_table,
       array_agg(fa.attname::text ORDER BY k.ord) AS ref_cols
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class fc ON fc.oid = con.confrelid
JOIN pg_namespace fn ON fn.oid = fc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, fattnum, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum
WHERE con.contype = 'f'
GROUP BY con.oid, n.nspname, c.relname, fn.nspname, fc.relname
"""


class ExtensionUnavailable(FatalError):
    """DuckDB's scanner for the database did not load; another reader takes over."""


@dataclass(frozen=True)
class ScanRead:
    """How DuckDB's scanner reads a resource: a relation of the attached database (in key
    ranges, with a PostgreSQL scan task size), or a query PostgreSQL runs."""

    relation: str = ""
    sql: str = ""
    ranges: KeyRanges | None = None
    pages_per_task: int | None = None

    def assumptions(self) -> list[str]:
        return []  # a database says what its columns are: nothing is assumed

    def options(self) -> tuple[tuple[str, str], ...]:
        if self.sql:
            return (("sql", self.sql),)
        found = [("relation", self.relation)]
        if self.ranges is not None:
            found.append(("ranges", self.ranges.encoded()))
        if self.pages_per_task is not None:
            found.append(("pages_per_task", str(self.pages_per_task)))
        return tuple(found)


class SqlSource:
    """A database. ``spec.tables`` picks tables, ``spec.query`` reads one query instead."""

    def __init__(
        self, spec: SqlSourceSpec, where: Location | None = None, home: Path | None = None
    ) -> None:
        self.spec = spec
        db = database_url(located(spec, where))
        if db.kind not in _TYPES:
            raise UserError(f"{db.display} is not a database URL (postgresql, sqlite, duckdb)")
        self.kind = db.kind
        self.display = db.display
        self.endpoint = db.endpoint
        self.notes: list[str] = []
        self.alias = unique_name("src")
        kind = _TYPES[self.kind]
        self.reader = Decision("reader", f"DuckDB's {kind or 'duckdb'} scanner")
        target = db.url if self.kind == "postgresql" else db.path
        type_option = f"TYPE {kind}, " if kind else ""
        self.prelude: tuple[str, ...] = (
            *((f"LOAD {kind}",) if kind else ()),
            f"ATTACH IF NOT EXISTS {quote_literal(target)} AS {self.alias} "
            f"({type_option}READ_ONLY)",
        )
        self._con = connect(home=home)
        if kind:
            try:
                self._con.execute(self.prelude[0])
            except duckdb.Error as exc:
                raise ExtensionUnavailable(f"{kind} extension: {first_line(exc)}") from None
        try:
            self._con.execute(self.prelude[-1])
        except duckdb.Error as exc:
            raise cannot_connect(self.display, exc) from None

    # -- discovery ---------------------------------------------------------------------------
    def discover(self) -> list[Resource]:
        if self.spec.query:
            return [self._query_resource()]
        rows = self._con.execute(
            "SELECT schema_name, table_name, estimated_size, 'table' FROM duckdb_tables() "
            "WHERE database_name = ? "
            "UNION ALL SELECT schema_name, view_name, NULL, 'view' FROM duckdb_views() "
            "WHERE database_name = ? AND NOT internal ORDER BY 1, 2",
            [self.alias, self.alias],
        ).fetchall()
        found = [Found(r[0], r[1], r[3], r[2]) for r in rows if is_user_table(r[0], r[1])]
        chosen = choose(found, self.spec, self.display)
        keys = self._constraints()
        estimates = self._pg_estimates() if self.kind == "postgresql" else {}
        resources = []
        for f, name in chosen:
            estimate, pages = estimates.get((f.schema, f.table), (f.estimate, None))
            relation = f"{self.alias}.{quote_ident(f.schema)}.{quote_ident(f.table)}"
            columns = self._describe(f"SELECT * FROM {relation}")
            table_keys_ = keys.get((f.schema, f.table), Keys())
            decisions = [
                Decision(f.kind, f"{f.schema}.{f.table}", f"of {self.display}"),
                self.reader,
                *table_keys_.decisions(),
            ]
            ranges = self._partitions(f, dict(columns), table_keys_.primary, decisions)
            per_task = None
            if self.kind == "postgresql":  # set for every table: the setting outlives a scan
                per_task = _pages_per_task(pages)
                if per_task > _DEFAULT_PAGES_PER_TASK:
                    decisions.append(
                        Decision("pages per task", f"{per_task:,}", f"{pages:,} pages in all")
                    )
            state = ScanRead(relation, ranges=ranges, pages_per_task=per_task)
            estimate = int(estimate) if estimate is not None else None
            resources.append(
                table_resource(f, name, columns, decisions, state, estimate, table_keys_)
            )
        return resources

    def _query_resource(self) -> Resource:
        assert self.spec.query is not None
        if self.kind != "postgresql":
            raise NotSupportedError(
                "'query' reads from PostgreSQL only with reader 'duckdb' (it runs in the "
                "server); for SQLite and DuckDB sources read the tables and add a 'sql' "
                "transform step, or set reader 'sqlalchemy'"
            )
        # The query runs inside PostgreSQL: filters and joins happen where the data is.
        sql = (
            f"SELECT * FROM postgres_query({quote_literal(self.alias)}, "
            f"{quote_literal(self.spec.query)})"
        )
        columns = self._describe(sql)
        name = self.spec.table or "query"
        return Resource(
            name,
            ("query",),
            "query",
            tuple(columns),
            (Decision("query", "source.query", f"run on {self.display}"),),
            0,
            ScanRead(sql=sql),
        )

    def _describe(self, sql: str) -> list[tuple[str, str]]:
        try:
            return [(r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall()]
        except duckdb.Error as exc:
            raise UserError(f"{self.display}: {redact(first_line(exc))}") from None

    def _partitions(
        self,
        found: Found,
        types: dict[str, str],
        primary_key: tuple[str, ...],
        decisions: list[Decision],
    ) -> KeyRanges | None:
        """Key ranges for ``partitions`` over a single integer primary key."""
        n = self.spec.partitions
        key = partition_key(n, types, primary_key, decisions)
        if not n or key is None:
            return None
        schema, table = found.schema, found.table
        bounds = f"SELECT min({quote_ident(key)}), max({quote_ident(key)}) FROM "
        if self.kind == "postgresql":  # runs in PostgreSQL, on the key's index
            inner = bounds + f"{quote_ident(schema)}.{quote_ident(table)}"
            sql = (
                f"SELECT * FROM postgres_query({quote_literal(self.alias)}, {quote_literal(inner)})"
            )
        else:
            sql = bounds + f"{self.alias}.{quote_ident(schema)}.{quote_ident(table)}"
        row = self._con.execute(sql).fetchone()
        if not row or row[0] is None:
            return None
        return key_ranges(key, int(row[0]), int(row[1]), n, decisions)

    def _pg_estimates(self) -> dict[tuple[str, str], tuple[int | None, int | None]]:
        """(rows, pages) from PostgreSQL's statistics (rows None for a table never analysed)."""
        sql = (
            "SELECT n.nspname, c.relname, c.reltuples::bigint, c.relpages FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm')"
        )
        rows = self._con.execute(
            f"SELECT * FROM postgres_query({quote_literal(self.alias)}, {quote_literal(sql)})"
        ).fetchall()
        return {
            (r[0], r[1]): (int(r[2]) if r[2] is not None and r[2] >= 0 else None, r[3])
            for r in rows
        }

    def _constraints(self) -> dict[tuple[str, str], Keys]:
        try:
            rows = self._con.execute(
                "SELECT schema_name, table_name, constraint_type, constraint_column_names, "
                "referenced_table, referenced_column_names FROM duckdb_constraints() "
                "WHERE database_name = ? AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') "
                "AND schema_name NOT IN ('pg_catalog', 'information_schema')",
                [self.alias],
            ).fetchall()
            if self.kind == "postgresql":  # the scanner lists primary keys, not foreign keys
                rows = [r for r in rows if r[2] == "PRIMARY KEY"]
                rows += self._con.execute(
                    f"SELECT nspname, relname, 'FOREIGN KEY', cols, ref_table, ref_cols "
                    f"FROM postgres_query({quote_literal(self.alias)}, {quote_literal(_PG_FKS)})"
                ).fetchall()
        except duckdb.Error:
            return {}  # not every scanner exposes constraints
        return table_keys((r[0], r[1], r[2] == "PRIMARY KEY", *r[3:]) for r in rows)

    def fingerprint(self, resource: Resource) -> str:
        """The table and its columns: a database table has no cheap change marker, so a
        resumed run trusts what it staged while the table's shape holds."""
        return shape_fingerprint(resource, volatile=(self.alias,))

    def close(self) -> None:
        self._con.close()

    # -- reading -----------------------------------------------------------------------------
    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        relation = self._relation(resource)
        return where.apply(relation) if where is not None else relation  # the scanner pushes it

    def _relation(self, resource: Resource) -> Relation:
        state = resource.state
        assert isinstance(state, ScanRead), f"{resource.name} was not discovered by a SqlSource"
        if state.sql:
            return Relation(state.sql, prelude=self.prelude)
        prelude = self.prelude
        if state.pages_per_task is not None:
            prelude = (*prelude, f"SET pg_pages_per_task = {int(state.pages_per_task)}")
        if state.ranges is not None:
            # One scan per key range; DuckDB runs the branches of the UNION ALL in parallel.
            parts = [
                f"SELECT * FROM {state.relation} WHERE {condition}"
                for condition in state.ranges.conditions()
            ]
            return Relation(" UNION ALL ".join(parts), prelude=prelude)
        return Relation(f"SELECT * FROM {state.relation}", prelude=prelude)


def _pages_per_task(pages: int | None) -> int:
    """Pages per parallel scan task for a table of ``pages``: never fewer than the default.

    DuckDB's postgres scanner splits a table into tasks of 1,000 pages (8 MB), each its own
    COPY query. For a large table that is hundreds of queries; about two tasks per core does
    the same work with less overhead (2M rows, 25,000 pages, 2 cores: 1.95 s instead of 2.14 s,
    median of 5 each way). A small table keeps the default.
    """
    per_task = -(-(pages or 0) // (2 * (os.cpu_count() or 1)))
    return max(per_task, _DEFAULT_PAGES_PER_TASK)


_LABELS = {"sqlite": "SQLite", "duckdb": "DuckDB"}


def open_sql_source(
    spec: SqlSourceSpec, where: Location | None = None, home: Path | None = None
) -> Source:
    """The reader ``spec.reader`` asks for; with 'auto', the fastest that works here."""
    where = located(spec, where)
    db = database_url(where)
    file = db.kind in _LABELS and db.path not in ("", ":memory:")
    if file and not Path(db.path).is_file():
        # Opening it would create an empty database (SQLite's default) or fail obscurely.
        raise SourceNotFoundError(
            f"no {_LABELS[db.kind]} database at {db.path}; check the path "
            f"({db.kind}:///relative/file or {db.kind}:////absolute/file)"
        )
    native = db.kind in _TYPES
    if spec.reader == "sqlalchemy" or (not native and spec.reader == "auto"):
        from .alchemy import AlchemySource

        return AlchemySource(spec, where)
    if not native:
        raise UserError(
            f"reader '{spec.reader}' reads postgresql, sqlite and duckdb URLs; "
            f"read {db.display} with reader 'sqlalchemy'"
        )
    if spec.reader == "adbc":
        from .adbc import AdbcSource

        return AdbcSource(spec, where, home)
    try:
        return SqlSource(spec, where, home)
    except ExtensionUnavailable as exc:
        if spec.reader == "duckdb" or db.kind == "duckdb":
            raise UserError(
                f"DuckDB cannot read {db.display}: {exc}; install the extension with "
                f"pip install 'agent-orchestrated-etl[{db.kind}]', or choose another reader"
            ) from None
        return _fallback(spec, where, home, db.kind, f"DuckDB's {exc}")


def _fallback(
    spec: SqlSourceSpec, where: Location, home: Path | None, kind: str, why: str
) -> Source:
    """ADBC for PostgreSQL when its driver is installed, else SQLAlchemy."""
    if kind == "postgresql" and importlib.util.find_spec("adbc_driver_postgresql") is not None:
        from .adbc import AdbcSource

        return AdbcSource(spec, where, home, fallback=f"instead of DuckDB's scanner: {why}")
    from .alchemy import AlchemySource

    return AlchemySource(spec, where, fallback=f"instead of DuckDB's scanner: {why}")
