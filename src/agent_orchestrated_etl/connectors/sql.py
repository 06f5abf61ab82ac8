"""SQL databases as sources: PostgreSQL, SQLite and DuckDB, read through DuckDB's scanners.

The database is ATTACHed read-only (``TYPE postgres`` or ``TYPE sqlite``, from the PyPI
extension packages, offline). Discovery reads DuckDB's catalog of the attached database:
schemas, tables and views, columns with their types, primary and foreign keys, and row
estimates. A table is read as ``SELECT * FROM src.schema.table``, so a DuckDB destination
moves it in one statement (the postgres extension streams it with binary COPY), and any other
destination streams the same SQL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from urllib.parse import unquote, urlsplit

import duckdb

from ..errors import NotSupportedError, SourceNotFoundError, UserError, redact_uri
from ..secrets import redact, register, resolve
from ..spec import SourceSpec, parse_uri
from ._duck import Relation, connect, quote_ident, quote_literal, unique_name
from .base import Resource, RowFilter

_TYPES = {"postgresql": "postgres", "sqlite": "sqlite", "duckdb": None}
_PG_DEFAULT_PORT = 5432
# Catalogs and aoetl's own bookkeeping (when the database is also an aoetl target) are not data.
_USER_TABLES = (
    "schema_name NOT IN ('pg_catalog', 'information_schema', '_aoetl') "
    "AND NOT starts_with(table_name, '_aoetl_')"
)
_USER_VIEWS = _USER_TABLES.replace("table_name", "view_name")
_PG_FKS = """
SELECT n.nspname, c.relname, array_agg(a.attname::text ORDER BY k.ord) AS cols,
       fc.relname AS ref_table, array_agg(fa.attname::text ORDER BY k.ord) AS ref_cols
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class fc ON fc.oid = con.confrelid
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, fattnum, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum
WHERE con.contype = 'f'
GROUP BY con.oid, n.nspname, c.relname, fc.relname
"""


class SqlSource:
    """A database. ``spec.tables`` picks tables, ``spec.query`` reads one query instead."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        url = resolve(spec.uri)
        parsed = parse_uri(url)
        if parsed.scheme not in _TYPES:
            raise UserError(f"{parsed.display} is not a database URL (postgresql, sqlite, duckdb)")
        self.kind = parsed.scheme
        self.display = redact_uri(spec.uri)
        self.alias = unique_name("src")
        self.notes: list[str] = []
        self.endpoint: str | None = None
        if self.kind == "postgresql":
            parts = urlsplit(url)
            if parts.password:
                register(unquote(parts.password))  # masked wherever it might surface
            self.endpoint = f"{parts.hostname or 'localhost'}:{parts.port or _PG_DEFAULT_PORT}"
            target = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
        else:
            target = parsed.path
        kind = _TYPES[self.kind]
        type_option = f"TYPE {kind}, " if kind else ""
        self.prelude: tuple[str, ...] = (
            *((f"LOAD {kind}",) if kind else ()),
            f"ATTACH IF NOT EXISTS {quote_literal(target)} AS {self.alias} "
            f"({type_option}READ_ONLY)",
        )
        self._con = connect()
        try:
            for statement in self.prelude:
                self._con.execute(statement)
        except duckdb.Error as exc:
            raise UserError(f"cannot connect to {self.display}: {_first_line(exc)}") from None

    # -- discovery ---------------------------------------------------------------------------
    def discover(self) -> list[Resource]:
        if self.spec.query:
            return [self._query_resource()]
        rows = self._con.execute(
            "SELECT schema_name, table_name, estimated_size, 'table' FROM duckdb_tables() "
            f"WHERE database_name = ? AND {_USER_TABLES} "
            "UNION ALL SELECT schema_name, view_name, NULL, 'view' FROM duckdb_views() "
            f"WHERE database_name = ? AND NOT internal AND {_USER_VIEWS} ORDER BY 1, 2",
            [self.alias, self.alias],
        ).fetchall()
        wanted = set(self.spec.tables or ())
        chosen = [r for r in rows if not wanted or r[1] in wanted or f"{r[0]}.{r[1]}" in wanted]
        missing = wanted - {r[1] for r in chosen} - {f"{r[0]}.{r[1]}" for r in chosen}
        if missing:
            known = ", ".join(f"{r[0]}.{r[1]}" for r in rows) or "none"
            raise SourceNotFoundError(
                f"{self.display} has no table {', '.join(sorted(missing))}; tables: {known}"
            )
        if not chosen:
            raise SourceNotFoundError(f"{self.display} has no tables")
        if self.spec.table and len(chosen) > 1:
            raise UserError(
                f"--table names one target table, but {len(chosen)} tables were chosen; "
                f"pick one with 'tables', or leave --table out to keep their names"
            )
        keys = self._constraints()
        estimates = self._pg_estimates() if self.kind == "postgresql" else {}
        names: dict[str, int] = defaultdict(int)
        for _, table, *_ in chosen:
            names[table] += 1
        resources = []
        for schema, table, estimate, kind in chosen:
            estimate = estimates.get((schema, table), estimate)
            # The same table name in two schemas: prefix the schema to keep them apart.
            name = table if names[table] == 1 else f"{schema}_{table}"
            name = self.spec.table or name
            relation = f"{self.alias}.{quote_ident(schema)}.{quote_ident(table)}"
            columns = self._describe(f"SELECT * FROM {relation}")
            decisions = [f"{kind} {schema}.{table} of {self.display}"]
            decisions.extend(keys.get((schema, table), []))
            options: list[tuple[str, str]] = [("relation", relation)]
            ranges = self._partitions(schema, table, dict(columns), decisions)
            if ranges:
                options.append(("ranges", ranges))
            resources.append(
                Resource(
                    name,
                    (f"{schema}.{table}",),
                    "table",
                    tuple(columns),
                    tuple(decisions),
                    0,
                    tuple(options),
                    int(estimate) if estimate is not None else None,
                )
            )
        return resources

    def _query_resource(self) -> Resource:
        assert self.spec.query is not None
        if self.kind != "postgresql":
            raise NotSupportedError(
                "'query' reads from PostgreSQL only (it runs in the server); for SQLite and "
                "DuckDB sources read the tables and add a 'sql' transform step"
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
            (f"query on {self.display}",),
            0,
            (("sql", sql),),
        )

    def _describe(self, sql: str) -> list[tuple[str, str]]:
        try:
            return [(r[0], r[1]) for r in self._con.execute(f"DESCRIBE {sql}").fetchall()]
        except duckdb.Error as exc:
            raise UserError(f"{self.display}: {redact(_first_line(exc))}") from None

    def _partitions(
        self, schema: str, table: str, types: dict[str, str], decisions: list[str]
    ) -> str | None:
        """Key ranges for ``partitions``: 'lo:hi,lo:hi,…' over a single integer primary key."""
        n = self.spec.partitions
        pks = [d.removeprefix("primary key: ") for d in decisions if d.startswith("primary key: ")]
        if not n or not pks or "," in pks[0]:
            return None
        key = pks[0]
        if types.get(key) not in ("SMALLINT", "INTEGER", "BIGINT", "HUGEINT"):
            decisions.append(f"not partitioned: primary key {key} is not an integer")
            return None
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
        low, high = int(row[0]), int(row[1])
        step = max(1, -(-(high - low + 1) // n))
        ranges = [(lo, min(lo + step, high + 1)) for lo in range(low, high + 1, step)]
        decisions.append(f"read as {len(ranges)} key ranges on {key} ({low}..{high}), in parallel")
        return key + "|" + ",".join(f"{lo}:{hi}" for lo, hi in ranges)

    def _pg_estimates(self) -> dict[tuple[str, str], int | None]:
        """Row estimates from PostgreSQL's statistics (None for a table never analysed)."""
        sql = (
            "SELECT n.nspname, c.relname, c.reltuples::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm')"
        )
        rows = self._con.execute(
            f"SELECT * FROM postgres_query({quote_literal(self.alias)}, {quote_literal(sql)})"
        ).fetchall()
        return {(r[0], r[1]): (int(r[2]) if r[2] is not None and r[2] >= 0 else None) for r in rows}

    def _constraints(self) -> dict[tuple[str, str], list[str]]:
        found: dict[tuple[str, str], list[str]] = defaultdict(list)
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
            return found  # not every scanner exposes constraints
        for schema, table, kind, cols, ref_table, ref_cols in rows:
            if kind == "PRIMARY KEY":
                found[(schema, table)].append(f"primary key: {', '.join(cols)}")
            else:
                found[(schema, table)].append(
                    f"foreign key: {', '.join(cols)} -> {ref_table}({', '.join(ref_cols or [])})"
                )
        return found

    # -- reading -----------------------------------------------------------------------------
    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        relation = self._relation(resource)
        return where.apply(relation) if where is not None else relation  # the scanner pushes it

    def _relation(self, resource: Resource) -> Relation:
        options = dict(resource.read_options)
        if "sql" in options:
            return Relation(options["sql"], prelude=self.prelude)
        if "ranges" in options:
            # One scan per key range; DuckDB runs the branches of the UNION ALL in parallel.
            key, _, spans = options["ranges"].partition("|")
            column = quote_ident(key)
            parts = []
            for span in spans.split(","):
                lo, hi = span.split(":")
                parts.append(
                    f"SELECT * FROM {options['relation']} "
                    f"WHERE {column} >= {int(lo)} AND {column} < {int(hi)}"
                )
            return Relation(" UNION ALL ".join(parts), prelude=self.prelude)
        return Relation(f"SELECT * FROM {options['relation']}", prelude=self.prelude)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
