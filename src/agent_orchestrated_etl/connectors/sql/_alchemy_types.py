"""SQLAlchemy's column types as DuckDB and Arrow types, and rows as Arrow arrays.

The SQLAlchemy reader (:mod:`.alchemy`) maps each column's SQLAlchemy type to the DuckDB type
it loads as and the Arrow type it is read into (a query's columns, which declare no type, get
one inferred from sampled values), then turns each batch of driver rows into Arrow arrays. A
value that does not fit its column's type is set aside with the reason, so its row can go to
the dead-letter queue while the rest of the batch loads.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...data.duck import quote_literal
from ._catalog import MAX_DECIMAL

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa

# What pyarrow and the converters raise for a value that does not fit its column's type.
_MISFITS = (ArithmeticError, TypeError, ValueError, decimal.DecimalException)


@dataclass(frozen=True)
class Column:
    """A column as the reader reads it: its DuckDB type and how a value becomes Arrow."""

    name: str
    duck: str  # the DuckDB type it loads as
    arrow: pa.DataType  # the Arrow type it is read into
    convert: Callable[[Any], Any] | None = None  # Python value -> what pa.array takes
    cast: str = ""  # a CAST the engine applies after reading (UUID, ENUM)


def arrow_arrays(
    rows: Sequence[Any], columns: list[Column]
) -> tuple[list[pa.Array], dict[int, str]]:
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


def map_column(name: str, kind: sa.types.TypeEngine[Any], sqlite: bool) -> Column:
    """The DuckDB and Arrow types for a column of SQLAlchemy type ``kind``."""
    import pyarrow as pa
    import sqlalchemy as sa

    if isinstance(kind, sa.ARRAY):
        item = map_column(name, kind.item_type, sqlite)
        convert = item.convert
        return Column(
            name,
            f"{item.duck}[]",
            pa.list_(item.arrow),
            (lambda v: [None if x is None else convert(x) for x in v]) if convert else None,
        )
    if isinstance(kind, sa.Boolean):
        return Column(name, "BOOLEAN", pa.bool_())
    if isinstance(kind, sa.SmallInteger) and not sqlite:
        return Column(name, "SMALLINT", pa.int16())
    if isinstance(kind, sa.BigInteger) or (isinstance(kind, sa.Integer) and sqlite):
        return Column(name, "BIGINT", pa.int64())  # SQLite's INTEGER holds 64 bits
    if isinstance(kind, sa.Integer):
        return Column(name, "INTEGER", pa.int32())
    if isinstance(kind, sa.Float):
        if isinstance(kind, sa.REAL) and not sqlite:
            return Column(name, "FLOAT", pa.float32())
        return Column(name, "DOUBLE", pa.float64())
    if isinstance(kind, sa.Numeric):
        precision, scale = kind.precision, kind.scale or 0
        if precision and precision <= MAX_DECIMAL:
            return Column(
                name, f"DECIMAL({precision},{scale})", pa.decimal128(precision, scale), _decimal
            )
        return Column(name, "DOUBLE", pa.float64(), float)
    if isinstance(kind, sa.DateTime):
        if kind.timezone:
            return Column(name, "TIMESTAMP WITH TIME ZONE", pa.timestamp("us", tz="UTC"))
        return Column(name, "TIMESTAMP", pa.timestamp("us"))
    if isinstance(kind, sa.Date):
        return Column(name, "DATE", pa.date32())
    if isinstance(kind, sa.Time):
        return Column(name, "TIME", pa.time64("us"))
    if isinstance(kind, sa.Interval | sa.sql.sqltypes._AbstractInterval):
        return Column(name, "INTERVAL", pa.month_day_nano_interval(), _interval)
    if isinstance(kind, sa.Enum) and kind.enums:
        labels = ", ".join(quote_literal(v) for v in kind.enums)
        return Column(name, f"ENUM({labels})", pa.string(), str, f"ENUM({labels})")
    if isinstance(kind, sa.Uuid):
        return Column(name, "UUID", pa.string(), str, "UUID")
    if isinstance(kind, sa.JSON):
        return Column(name, "VARCHAR", pa.string(), _json)
    if isinstance(kind, sa.types._Binary):
        return Column(name, "BLOB", pa.binary(), bytes)
    if isinstance(kind, sa.String):
        return Column(name, "VARCHAR", pa.string(), _text)
    return Column(name, "VARCHAR", pa.string(), _text)  # a type SQLAlchemy does not know


def _token(value: Any) -> str:
    """The kind of a Python value a driver returned, as :func:`sa_type` reads it."""
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


def infer_kind(values: list[Any]) -> str:
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


def sa_type(token: str) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type a :func:`infer_kind` token stands for."""
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


def python_value(text: str, kind: sa.types.TypeEngine[Any]) -> Any:
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
