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

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...data.duck import BadRow, Relation, guarded, quote_literal, unique_name
from ...errors import FatalError, TransientError, UserError
from ...secrets import redact
from ...spec import SqlSourceSpec
from ..base import Decision, Location, Resource, RowFilter, shape_fingerprint
from ._catalog import (
    MAX_DECIMAL,
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
    import sqlalchemy as sa

BATCH_ROWS = 50_000
SAMPLE_ROWS = 1_000  # rows a query's column types are inferred from
# What pyarrow and the converters raise for a value that does not fit its column's type.
_MISFITS = (ArithmeticError, TypeError, ValueError, decimal.DecimalException)
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


@dataclass(frozen=True)
class _Column:
    name: str
    duck: str  # the DuckDB type it loads as
    arrow: pa.DataType  # the Arrow type it is read into
    convert: Callable[[Any], Any] | None = None  # Python value -> what pa.array takes
    cast: str = ""  # a CAST the engine applies after reading (UUID, ENUM)


@dataclass(frozen=True)
class AlchemyRead:
    """How SQLAlchemy reads a resource: a table (schema, name), or the query's column kinds
    inferred at discovery (see :func:`_infer`)."""

    schema: str = ""
    table: str = ""
    query_types: tuple[str, ...] = ()

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
        note: str | None = None,
    ) -> None:
        sa = self._sa = require("sqlalchemy", "reading through SQLAlchemy", "sql")
        self.spec = spec
        db = database_url(located(spec, where))
        self.display = db.display
        self.endpoint = db.endpoint
        self.notes = [note] if note else []
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
                _map(c["name"], c["type"], self._sqlite)
                for c in inspector.get_columns(f.table, f.schema)
            ]
            keys = self._keys(inspector, f)
            decisions = [
                Decision(f"{f.kind} {f.schema}.{f.table} of {self.display}"),
                Decision(
                    f"read through SQLAlchemy ({self._engine.dialect.name}), "
                    f"{BATCH_ROWS:,} rows a batch from a server-side cursor"
                ),
                *(Decision.said(n) for n in self.notes),
                *keys.decisions(),
            ]
            if self.spec.partitions:
                decisions.append(
                    Decision("not partitioned", "the SQLAlchemy reader reads one stream")
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
        tokens = [_infer([row[i] for row in sample]) for i in range(len(names))]
        columns = [_map(n, _sa_type(t), self._sqlite) for n, t in zip(names, tokens, strict=True)]
        return Resource(
            self.spec.table or "query",
            ("query",),
            "query",
            tuple((c.name, c.duck) for c in columns),
            (
                Decision(f"query on {self.display}"),
                Decision(
                    f"read through SQLAlchemy; column types inferred from the first "
                    f"{len(sample):,} rows (a later value that does not fit is quarantined)"
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
                bound = sa.bindparam("bound", _python_value(where.value, column.type), column.type)
                statement = statement.where(column > bound if where.op == ">" else column >= bound)
            columns = [_map(n, t, self._sqlite) for n, t in types.items()]
        else:
            statement = sa.text(self.spec.query or "")
            columns = [
                _map(n, _sa_type(t), self._sqlite)
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
        columns: list[_Column],
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
                    arrays, rejected = _arrays(rows, columns)
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
        except self._sa.exc.DBAPIError as exc:
            # A dropped connection is worth a retry; anything else is not.
            lost = exc.connection_invalidated or isinstance(exc, self._sa.exc.OperationalError)
            kind = TransientError if lost else FatalError
            message = redact(first_line(exc.orig or exc))
            raise kind(f"{self.display}: reading stopped: {message}") from None


def _arrays(rows: Sequence[Any], columns: list[_Column]) -> tuple[list[pa.Array], dict[int, str]]:
    """Column arrays for a batch of rows, and the rows whose values do not fit, with why."""
    import pyarrow as pa

    arrays: list[pa.Array] = []
    rejected: dict[int, str] = {}
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        try:
            if column.convert is not None:
                values = [None if v is None else column.convert(v) for v in values]
            arrays.append(pa.array(values, column.arrow))
            continue
        except _MISFITS:
            pass
        fitted = []
        for i, value in enumerate(values if column.convert is None else [r[index] for r in rows]):
            try:
                if value is not None and column.convert is not None:
                    value = column.convert(value)
                pa.array([value], column.arrow)
                fitted.append(value)
            except (
                pa.ArrowException,
                TypeError,
                ValueError,
                OverflowError,
                decimal.DecimalException,
            ):
                rejected.setdefault(i, f"column {column.name}: {value!r} is not a {column.duck}")
                fitted.append(None)
        arrays.append(pa.array(fitted, column.arrow))
    return arrays, rejected


def _map(name: str, kind: sa.types.TypeEngine[Any], sqlite: bool) -> _Column:
    """The DuckDB and Arrow types for a column of SQLAlchemy type ``kind``."""
    import pyarrow as pa
    import sqlalchemy as sa

    if isinstance(kind, sa.ARRAY):
        item = _map(name, kind.item_type, sqlite)
        convert = item.convert
        return _Column(
            name,
            f"{item.duck}[]",
            pa.list_(item.arrow),
            (lambda v: [None if x is None else convert(x) for x in v]) if convert else None,
        )
    if isinstance(kind, sa.Boolean):
        return _Column(name, "BOOLEAN", pa.bool_())
    if isinstance(kind, sa.SmallInteger) and not sqlite:
        return _Column(name, "SMALLINT", pa.int16())
    if isinstance(kind, sa.BigInteger) or (isinstance(kind, sa.Integer) and sqlite):
        return _Column(name, "BIGINT", pa.int64())  # SQLite's INTEGER holds 64 bits
    if isinstance(kind, sa.Integer):
        return _Column(name, "INTEGER", pa.int32())
    if isinstance(kind, sa.Float):
        if isinstance(kind, sa.REAL) and not sqlite:
            return _Column(name, "FLOAT", pa.float32())
        return _Column(name, "DOUBLE", pa.float64())
    if isinstance(kind, sa.Numeric):
        precision, scale = kind.precision, kind.scale or 0
        if precision and precision <= MAX_DECIMAL:
            return _Column(
                name, f"DECIMAL({precision},{scale})", pa.decimal128(precision, scale), _decimal
            )
        return _Column(name, "DOUBLE", pa.float64(), float)
    if isinstance(kind, sa.DateTime):
        if kind.timezone:
            return _Column(name, "TIMESTAMP WITH TIME ZONE", pa.timestamp("us", tz="UTC"))
        return _Column(name, "TIMESTAMP", pa.timestamp("us"))
    if isinstance(kind, sa.Date):
        return _Column(name, "DATE", pa.date32())
    if isinstance(kind, sa.Time):
        return _Column(name, "TIME", pa.time64("us"))
    if isinstance(kind, sa.Interval | sa.sql.sqltypes._AbstractInterval):
        return _Column(name, "INTERVAL", pa.month_day_nano_interval(), _interval)
    if isinstance(kind, sa.Enum) and kind.enums:
        labels = ", ".join(quote_literal(v) for v in kind.enums)
        return _Column(name, f"ENUM({labels})", pa.string(), str, f"ENUM({labels})")
    if isinstance(kind, sa.Uuid):
        return _Column(name, "UUID", pa.string(), str, "UUID")
    if isinstance(kind, sa.JSON):
        return _Column(name, "VARCHAR", pa.string(), _json)
    if isinstance(kind, sa.types._Binary):
        return _Column(name, "BLOB", pa.binary(), bytes)
    if isinstance(kind, sa.String):
        return _Column(name, "VARCHAR", pa.string(), _text)
    return _Column(name, "VARCHAR", pa.string(), _text)  # a type SQLAlchemy does not know


def _token(value: Any) -> str:
    """The kind of a Python value a driver returned, as :func:`_sa_type` reads it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        return f"decimal:{max(0, -exponent)}" if isinstance(exponent, int) else "float"
    if isinstance(value, dt.datetime):
        return "datetimetz" if value.tzinfo is not None else "datetime"
    simple = {
        dt.date: "date",
        dt.time: "time",
        dt.timedelta: "interval",
        uuid.UUID: "uuid",
        bytes: "bytes",
        bytearray: "bytes",
        memoryview: "bytes",
        dict: "json",
        list: "json",
    }
    return next((t for kind, t in simple.items() if isinstance(value, kind)), "str")


def _infer(values: list[Any]) -> str:
    """One kind for a column's sampled values; mixed kinds widen to a number, else text."""
    kinds = {_token(v) for v in values if v is not None}
    if len(kinds) == 1:
        return kinds.pop()
    if kinds and kinds <= {"int", "float"}:
        return "float"
    scales = [int(k.split(":")[1]) for k in kinds if k.startswith("decimal:")]
    if scales and kinds <= {"int"} | {f"decimal:{s}" for s in scales}:
        return f"decimal:{max(scales)}"
    return "str"  # no values, or kinds that do not mix


def _sa_type(token: str) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type a :func:`_infer` token stands for."""
    import sqlalchemy as sa

    if token.startswith("decimal:"):
        return sa.Numeric(MAX_DECIMAL, min(int(token.split(":")[1]), MAX_DECIMAL))
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "bool": sa.Boolean(),
        "int": sa.BigInteger(),
        "float": sa.Float(),
        "datetime": sa.DateTime(),
        "datetimetz": sa.DateTime(timezone=True),
        "date": sa.Date(),
        "time": sa.Time(),
        "interval": sa.Interval(),
        "uuid": sa.Uuid(),
        "bytes": sa.LargeBinary(),
        "json": sa.JSON(),
    }
    return types.get(token, sa.String())


def _decimal(value: Any) -> decimal.Decimal:
    return value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))


def _interval(value: dt.timedelta) -> tuple[int, int, int]:
    """A timedelta as (months, days, nanoseconds): days stay days, as PostgreSQL keeps them."""
    return (0, value.days, (value.seconds * 1_000_000 + value.microseconds) * 1000)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _python_value(text: str, kind: sa.types.TypeEngine[Any]) -> Any:
    """An incremental bound (DuckDB's rendering) as the Python value the column's type binds."""
    try:
        python = kind.python_type
    except NotImplementedError:
        return text
    if python is dt.datetime:
        return dt.datetime.fromisoformat(text)
    if python is dt.date:
        return dt.date.fromisoformat(text)
    if python in (int, float, decimal.Decimal):
        return python(text)
    return text
