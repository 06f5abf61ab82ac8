"""Any database SQLAlchemy can reach, read through a server-side cursor in batches.

This is the reader for URLs DuckDB has no scanner for (``mysql+pymysql://``,
``mssql+pyodbc://``, …, with their driver installed) and the last fallback for PostgreSQL and
SQLite. Discovery uses SQLAlchemy's inspector. Rows are read with ``stream_results`` (a named
cursor on PostgreSQL) ``BATCH_ROWS`` at a time and turned into Arrow record batches column by
column, with the Arrow type each column's SQLAlchemy type maps to, so memory stays bounded and
types are kept. A value that does not fit its column's type (SQLite stores anything anywhere)
sends its row to the dead-letter queue with the reason, and the rest of the batch loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...data.duck import BadRow, Relation, guarded, unique_name
from ...errors import UserError, classify
from ...secrets import redact
from ...spec import SqlSourceSpec
from ..base import Decision, Location, Resource, RowFilter, shape_fingerprint
from ._alchemy_types import Column, arrow_arrays, infer_kind, map_column, python_value, sa_type
from ._catalog import (
    Found,
    Keys,
    cannot_connect,
    cast_select,
    choose,
    database_url,
    first_line,
    is_user_table,
    located,
    require,
    table_keys,
    table_resource,
)

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 50_000
SAMPLE_ROWS = 1_000  # rows a query's column types are inferred from
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


@dataclass(frozen=True)
class AlchemyRead:
    """How SQLAlchemy reads a resource: a table (schema, name), or the query's column kinds
    inferred at discovery (see :func:`._alchemy_types.infer_kind`)."""

    schema: str = ""
    table: str = ""
    query_types: tuple[str, ...] = ()

    def assumptions(self) -> list[str]:
        return []  # a database says what its columns are: nothing is assumed

    def options(self) -> tuple[tuple[str, str], ...]:
        if self.table:
            return (("schema", self.schema), ("table", self.table))
        return (("query_types", json.dumps(self.query_types)),)


class AlchemySource:
    """A database read through SQLAlchemy Core."""

    stream_via = "SQLAlchemy"

    def __init__(
        self,
        spec: SqlSourceSpec,
        where: Location | None = None,
        home: Path | None = None,  # for the registry's one signature: no DuckDB here
        *,
        fallback: str | None = None,
    ) -> None:
        sa = self._sa = require("sqlalchemy", "reading through SQLAlchemy", "sql")
        self.spec = spec
        db = database_url(located(spec, where))
        self.display = db.display
        self.endpoint = db.endpoint
        self.fallback = fallback or ""  # why this reader, when DuckDB's scanner could not
        self.notes = [f"SQLAlchemy {fallback}"] if fallback else []
        scheme, _, rest = db.url.partition("://")
        url = f"{_DRIVERS.get(scheme, scheme)}://{rest}"
        try:
            self._engine = sa.create_engine(url, pool_pre_ping=True)
            with self._engine.connect():
                pass
        except ImportError as exc:
            raise UserError(
                f"SQLAlchemy has no driver for {db.display} here ({exc.name} is missing): "
                f"pip install {exc.name}"
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise cannot_connect(self.display, getattr(exc, "orig", None) or exc) from None
        self._sqlite = self._engine.dialect.name == "sqlite"

    # -- discovery ---------------------------------------------------------------------------
    def discover(self) -> list[Resource]:
        if self.spec.query:
            return [self._query_resource()]
        inspector = self._sa.inspect(self._engine)
        found = []
        for schema in inspector.get_schema_names():
            for table in inspector.get_table_names(schema):
                found.append(Found(schema, table, "table"))
            for view in inspector.get_view_names(schema):
                found.append(Found(schema, view, "view"))
        found = sorted(
            (f for f in found if is_user_table(f.schema, f.table)),
            key=lambda f: (f.schema, f.table),
        )
        resources = []
        for f, name in choose(found, self.spec, self.display):
            columns = [
                map_column(c["name"], c["type"], self._sqlite)
                for c in inspector.get_columns(f.table, f.schema)
            ]
            keys = self._keys(inspector, f)
            decisions = [
                Decision(f.kind, f"{f.schema}.{f.table}", f"of {self.display}"),
                Decision(
                    "reader",
                    f"SQLAlchemy ({self._engine.dialect.name}), {BATCH_ROWS:,} rows a batch from "
                    "a server-side cursor",
                    self.fallback,
                ),
                *keys.decisions(),
            ]
            if self.spec.partitions:
                decisions.append(
                    Decision("partitions", "none", "the SQLAlchemy reader reads one stream")
                )
            types = [(c.name, c.duck) for c in columns]
            state = AlchemyRead(f.schema, f.table)
            estimate = self._estimate(f)
            resources.append(table_resource(f, name, types, decisions, state, estimate, keys))
        return resources

    def _estimate(self, f: Found) -> int | None:
        """PostgreSQL's row estimate for a table (for progress); None where none is cheap."""
        if self._engine.dialect.name != "postgresql" or f.kind != "table":
            return None
        sql = self._sa.text(
            "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relname = :t"
        )
        with self._engine.connect() as con:
            value = con.execute(sql, {"s": f.schema, "t": f.table}).scalar()
        return int(value) if value is not None and value >= 0 else None

    def _keys(self, inspector: Any, f: Found) -> Keys:
        if f.kind != "table":
            return Keys()
        pk = inspector.get_pk_constraint(f.table, f.schema).get("constrained_columns") or []
        rows: list[tuple[str, str, bool, list[str], str | None, list[str] | None]]
        rows = [(f.schema, f.table, True, pk, None, None)] if pk else []
        rows += [
            (
                f.schema,
                f.table,
                False,
                k["constrained_columns"],
                f"{k.get('referred_schema') or f.schema}.{k['referred_table']}",
                k["referred_columns"],
            )
            for k in inspector.get_foreign_keys(f.table, f.schema)
        ]
        return table_keys(rows).get((f.schema, f.table), Keys())

    def _query_resource(self) -> Resource:
        assert self.spec.query is not None
        with self._engine.connect() as con:
            try:  # a server-side cursor: only the sample is fetched
                result = con.execution_options(stream_results=True).execute(
                    self._sa.text(self.spec.query)
                )
                names = list(result.keys())
                sample = result.fetchmany(SAMPLE_ROWS)
                result.close()
            except self._sa.exc.SQLAlchemyError as exc:
                raise UserError(f"{self.display}: {redact(first_line(exc))}") from None
        # A query's result declares no types: infer each column's from the values sampled.
        tokens = [infer_kind([row[i] for row in sample]) for i in range(len(names))]
        columns = [
            map_column(n, sa_type(t), self._sqlite) for n, t in zip(names, tokens, strict=True)
        ]
        return Resource(
            self.spec.table or "query",
            ("query",),
            "query",
            tuple((c.name, c.duck) for c in columns),
            (
                Decision("query", "source.query", f"run on {self.display}"),
                Decision(
                    "column types",
                    f"inferred from the first {len(sample):,} rows",
                    "read through SQLAlchemy; a later value that does not fit is quarantined",
                ),
            ),
            0,
            AlchemyRead(query_types=tuple(tokens)),
        )

    def fingerprint(self, resource: Resource) -> str:
        """The table and its columns: a database table has no cheap change marker, so a
        resumed run trusts what it staged while the table's shape holds."""
        return shape_fingerprint(resource)

    def close(self) -> None:
        self._engine.dispose()

    # -- reading -----------------------------------------------------------------------------
    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        import pyarrow as pa

        sa = self._sa
        state = resource.state
        assert isinstance(state, AlchemyRead), f"{resource.name} was not discovered by SQLAlchemy"
        if state.table:
            table = sa.Table(state.table, sa.MetaData(), schema=state.schema)
            types = {
                c["name"]: c["type"]
                for c in sa.inspect(self._engine).get_columns(state.table, state.schema)
            }
            for name, kind in types.items():
                table.append_column(sa.Column(name, kind))
            statement: Any = sa.select(*table.columns)
            if where is not None:
                column = table.c[where.column]
                bound = sa.bindparam("bound", python_value(where.value, column.type), column.type)
                statement = statement.where(column > bound if where.op == ">" else column >= bound)
            columns = [map_column(n, t, self._sqlite) for n, t in types.items()]
        else:
            statement = sa.text(self.spec.query or "")
            columns = [
                map_column(n, sa_type(t), self._sqlite)
                for (n, _), t in zip(resource.columns, state.query_types, strict=True)
            ]
            if where is not None:
                raise UserError("an incremental 'query' needs reader 'duckdb' or 'adbc'")
        schema = pa.schema([pa.field(c.name, c.arrow) for c in columns])
        bad: list[BadRow] = []
        errors: list[BaseException] = []
        rows_read = [0]
        batches = self._batches(statement, columns, schema, resource, bad)
        reader = pa.RecordBatchReader.from_batches(schema, guarded(batches, errors, rows_read))
        name = unique_name("sqla")
        select = cast_select([(c.name, c.cast) for c in columns])
        return Relation(
            f"SELECT {select} FROM {name}",
            {name: reader},
            extra_bad_rows=bad,
            stream_errors=errors,
            rows_read=rows_read,
        )

    def _batches(
        self,
        statement: Any,
        columns: list[Column],
        schema: pa.Schema,
        resource: Resource,
        bad: list[BadRow],
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        offset = 0
        try:
            with self._engine.connect() as con:
                result = con.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
                    statement
                )
                for rows in result.partitions():
                    arrays, rejected = arrow_arrays(rows, columns)
                    if rejected:
                        keep = pa.array([i not in rejected for i in range(len(rows))])
                        arrays = [a.filter(keep) for a in arrays]
                        bad.extend(
                            BadRow(
                                resource.name,
                                resource.locations[0],
                                offset + i + 1,
                                reason,
                                repr(tuple(rows[i])),
                            )
                            for i, reason in sorted(rejected.items())
                        )
                    offset += len(rows)
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except self._sa.exc.SQLAlchemyError as exc:
            # The one rule for SQLAlchemy's errors: a dropped connection is worth a retry.
            raise classify(exc, f"{self.display}: reading stopped") from None
