"""Nested JSON records as flat tables: the DuckDB SQL that reads them, from DuckDB's types.

The naming rule (the same as dlt's, so tables look familiar):

- A nested object (STRUCT) becomes columns named ``parent__child``, recursively:
  ``address.geo.lat`` is the column ``address__geo__lat``.
- An array of objects becomes a child table ``<table>__<field>`` (a field inside an object
  adds its path: ``users__address__phones``), recursively: ``users.orders[].items[]`` is the
  table ``users__orders__items``. Its own objects are flattened the same way.
- An array of scalars (or of arrays) becomes a child table with one ``value`` column (an
  array's value is its JSON text).
- A child table has its parent's key as ``_parent_<column>`` (leading underscores of the
  parent's column dropped: the parent's ``_index`` is ``_parent_index``), then ``_index``, the
  0-based position in the array; those columns are its primary key, so merge works on it.
- The top table's key is the resource's primary key; without one it gets a ``_row`` column
  (the record's 1-based position in what was read, written with each record) as the key its
  child tables point at.
- A timestamp with an offset (``10:00:00+02:00``, ``…Z``) is loaded as the UTC time it names
  (``08:00:00``), as DuckDB's own JSON reader does; one without an offset as written. The
  scan reads TIMESTAMP values as text (a pinned TIMESTAMP column would drop the offset) and
  each is converted by what it holds, whatever the session's time zone.
- A value whose type varies (a number on one page, a string on another), an object with many
  keys DuckDB reads as a MAP, and any other value without a column type is loaded as VARCHAR:
  a string as itself, anything else as its JSON text.

Everything here is pure: a DuckDB type in, SQL text and column types out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from duckdb.sqltypes import DuckDBPyType

from ...data.duck import quote_ident, quote_literal
from ...errors import UserError

SEP = "__"
INDEX = "_index"
ROW = "_row"
ROW_FIELD = "_aoetl_row"  # the field the source writes into each record for ROW
VALUE = "value"
_ELEMENT = "__v"  # the array element in a child table's inner query


@dataclass(frozen=True)
class Table:
    """One flat table of a resource.

    Attributes:
        name: the table's name.
        path: the array fields from the record to this table's elements (``()`` for the top
            table, ``("orders", "items")`` for ``users__orders__items``).
        columns: (name, DuckDB type) of what :attr:`sql` returns, in order.
        key: the table's primary key columns.
        sql: a SELECT over the records, with ``{source}`` where the records' scan goes.
    """

    name: str
    path: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    sql: str

    def select(self, source: str) -> str:
        """The SQL with ``source`` (a scan such as ``read_json(…)``) as its input."""
        return self.sql.replace("{source}", source)


def flatten(
    name: str,
    fields: Sequence[tuple[str, DuckDBPyType]],
    key: tuple[str, ...],
    as_text: frozenset[tuple[str, ...]] = frozenset(),
) -> list[Table]:
    """The top table ``name`` and every child table of records typed ``fields``.

    ``key`` names top-table columns (flattened names); empty, the top table gets ``_row``.
    ``as_text`` holds the paths (:attr:`Table.path`) of arrays to keep as a JSON text column
    of their parent table instead of a child table (arrays discovery did not see).

    Raises:
        UserError: a key column is not a column, or two columns flatten to one name.
    """
    _check_case(name, [field for field, _ in fields])
    top = _Columns()
    children: list[_List] = []
    for field, kind in fields:
        if field == ROW_FIELD:
            continue
        _columns(top, children, f"r.{quote_ident(field)}", field, kind, (field,), name, (), as_text)
    exprs = dict(top.exprs)
    types = dict(top.types)
    if key:
        missing = [k for k in key if k not in exprs]
        if missing:
            raise UserError(
                f"table {name}: primary key {', '.join(missing)} is not a column "
                f"(columns: {', '.join(exprs) or 'none'}); set the resource's primary_key"
            )
        keys = tuple((k, exprs[k], types[k]) for k in key)
    else:
        row = f"r.{quote_ident(ROW_FIELD)}"
        top.add(ROW, row, "BIGINT", name)
        keys = ((ROW, row, "BIGINT"),)
    tables = [
        Table(
            name,
            (),
            tuple(top.types),
            tuple(k for k, _, _ in keys),
            f"SELECT {top.select()} FROM {{source}} AS r",
        )
    ]
    for child in children:
        tables.extend(_child(name, child, "{source} AS r", keys, as_text))
    return tables


def _check_case(table: str, names: Sequence[str]) -> None:
    """Fail on fields that differ only in case ('Name' and 'name'): DuckDB's JSON reader
    matches keys ignoring case and renames the second to 'name_1', which then reads as NULL.

    Raises:
        UserError: naming the two fields.
    """
    exact = set(names)
    lower = {n.lower(): n for n in names if not re.fullmatch(r".+_[0-9]+", n)}
    for name in names:
        match = re.fullmatch(r"(.+)_[0-9]+", name)
        other = lower.get(match.group(1).lower()) if match else None
        if match and other is not None and match.group(1) not in exact:
            raise UserError(
                f"table {table}: the records have fields that differ only in case ({other!r} "
                f"and {match.group(1)!r}), which the JSON reader cannot keep apart; select "
                "records without them with the resource's 'records', or ask the API for "
                "one spelling"
            )


@dataclass(frozen=True)
class _List:
    """An array met while flattening: where it is and what it holds."""

    expr: str  # the array's expression in the enclosing query
    names: tuple[str, ...]  # the field path that names its table
    path: tuple[str, ...]  # the array fields from the record (Table.path)
    element: DuckDBPyType


class _Columns:
    """Output columns as they are found: (name, SQL expression, type)."""

    def __init__(self) -> None:
        self.exprs: list[tuple[str, str]] = []
        self.types: list[tuple[str, str]] = []

    def add(self, name: str, expr: str, kind: str, table: str) -> None:
        if any(n == name for n, _ in self.exprs):
            raise UserError(
                f"table {table}: two fields flatten to the column {name!r} (a nested field "
                f"and a field named with '{SEP}'); rename one in a transform or select records "
                "further down with the resource's 'records'"
            )
        self.exprs.append((name, expr))
        self.types.append((name, kind))

    def select(self) -> str:
        return ", ".join(f"{expr} AS {quote_ident(name)}" for name, expr in self.exprs)


def _columns(
    out: _Columns,
    lists: list[_List],
    expr: str,
    name: str,
    kind: DuckDBPyType,
    path: tuple[str, ...],
    table: str = "",
    array_path: tuple[str, ...] = (),
    as_text: frozenset[tuple[str, ...]] = frozenset(),
) -> None:
    """Add the columns (or child arrays) of one field to ``out`` (or ``lists``)."""
    if kind.id == "struct" and _fields(kind):
        for child, child_kind in _fields(kind):
            _columns(
                out,
                lists,
                f"{expr}.{quote_ident(child)}",
                f"{name}{SEP}{child}",
                child_kind,
                (*path, child),
                table,
                array_path,
                as_text,
            )
        return
    if kind.id == "list" and (*array_path, SEP.join(path)) not in as_text:
        lists.append(_List(expr, path, (*array_path, SEP.join(path)), _fields(kind)[0][1]))
        return
    sql, typed = scalar(expr, kind)
    out.add(name, sql, typed, table)


def _fields(kind: DuckDBPyType) -> list[tuple[str, DuckDBPyType]]:
    """A STRUCT's fields, or a LIST's element as ('child', type)."""
    return [(n, t) for n, t in kind.children if isinstance(t, DuckDBPyType)]


# A timestamp's text that ends in an offset or Z: it names an instant, converted to UTC.
_OFFSET = r"([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"


def scalar(expr: str, kind: DuckDBPyType) -> tuple[str, str]:
    """The SQL and type of a value with no nested columns (see the module's rule for JSON)."""
    text = str(kind)
    if text == "TIMESTAMP":  # scanned as text (see scan_type)
        return (
            f"CASE WHEN regexp_matches({expr}, '{_OFFSET}') "
            f"THEN timezone('UTC', CAST({expr} AS TIMESTAMPTZ)) "
            f"ELSE CAST({expr} AS TIMESTAMP) END",
            text,
        )
    if text == "JSON":
        as_text = f"CASE json_type({expr}) WHEN 'VARCHAR' THEN {expr} ->> '$' "
        return f"{as_text}ELSE CAST({expr} AS VARCHAR) END", "VARCHAR"
    if text == "NULL":
        return f"CAST({expr} AS VARCHAR)", "VARCHAR"
    if kind.id in ("map", "union", "list", "struct", "array"):
        return f"CAST(to_json({expr}) AS VARCHAR)", "VARCHAR"
    return expr, text


def _child(
    parent: str,
    found: _List,
    source: str,
    parent_keys: tuple[tuple[str, str, str], ...],
    as_text: frozenset[tuple[str, ...]] = frozenset(),
) -> list[Table]:
    """The child table of one array (and, recursively, its own child tables).

    ``source`` is the FROM clause of the enclosing query and ``parent_keys`` the parent's
    key as (column, expression there, type).
    """
    name = f"{parent}{SEP}{SEP.join(found.names)}"
    keys = tuple(
        (f"_parent_{column.lstrip('_')}", expr, kind) for column, expr, kind in parent_keys
    )
    inner = (
        "SELECT "
        + ", ".join(f"{expr} AS {quote_ident(column)}" for column, expr, _ in keys)
        + f", generate_subscripts({found.expr}, 1) - 1 AS {INDEX}"
        + f", unnest({found.expr}) AS {_ELEMENT} FROM {source}"
    )
    out = _Columns()
    for column, _, typed in keys:
        out.add(column, f"c.{quote_ident(column)}", typed, name)
    out.add(INDEX, f"c.{INDEX}", "BIGINT", name)
    element = f"c.{_ELEMENT}"
    lists: list[_List] = []
    if found.element.id == "struct" and _fields(found.element):
        for field, kind in _fields(found.element):
            _columns(
                out,
                lists,
                f"{element}.{quote_ident(field)}",
                field,
                kind,
                (field,),
                name,
                found.path,
                as_text,
            )
    else:
        sql, typed = scalar(element, found.element)
        out.add(VALUE, sql, typed, name)
    key = (*(column for column, _, _ in keys), INDEX)
    tables = [
        Table(name, found.path, tuple(out.types), key, f"SELECT {out.select()} FROM ({inner}) AS c")
    ]
    own_keys = tuple(
        (column, f"c.{quote_ident(column)}", dict(out.types)[column]) for column in key
    )
    for nested in lists:
        tables.extend(_child(name, nested, f"({inner}) AS c", own_keys, as_text))
    return tables


def compare(
    table: str, pinned: Sequence[tuple[str, str]], now: Sequence[tuple[str, str]]
) -> list[str]:
    """What changed between the columns discovery pinned and those of every page, as notes."""
    before = dict(pinned)
    notes = []
    for column, kind in now:
        old = before.get(column)
        if old is None:
            if before:
                notes.append(
                    f"column {table}.{column} ({kind}) appears only after the first page; "
                    "added to the table"
                )
        elif old != kind:
            notes.append(
                f"column {table}.{column}: {old} on the first page, {kind} across all pages; "
                f"loaded as {kind}"
            )
    seen = {c for c, _ in now}
    for column, kind in pinned:
        if column not in seen:
            notes.append(
                f"column {table}.{column} ({kind}) from the first page has no values of that "
                "shape across all pages; loaded as NULL"
            )
    return notes


def column_expr(alias: str, fields: Sequence[tuple[str, DuckDBPyType]], column: str) -> str | None:
    """The SQL of top-table column ``column`` (a flattened name) over the records' scan
    aliased ``alias``; None when no scalar field has that name."""
    kinds = dict(fields)
    parts = column.split(SEP)
    for split in range(1, len(parts) + 1):  # a field's own name may hold the separator
        head = SEP.join(parts[:split])
        if head not in kinds:
            continue
        expr, kind = f"{alias}.{quote_ident(head)}", kinds[head]
        for part in parts[split:]:
            inner = dict(_fields(kind)) if kind.id == "struct" else {}
            if part not in inner:
                break
            expr, kind = f"{expr}.{quote_ident(part)}", inner[part]
        else:
            if kind.id not in ("struct", "list"):
                return scalar(expr, kind)[0]
    return None


def columns_arg(fields: Sequence[tuple[str, DuckDBPyType]]) -> str:
    """``read_json``'s ``columns`` argument that pins ``fields``' types (TIMESTAMPs as text,
    which :func:`scalar` converts)."""
    return (
        "{"
        + ", ".join(f"{quote_literal(n)}: {quote_literal(scan_type(t))}" for n, t in fields)
        + "}"
    )


def scan_type(kind: DuckDBPyType) -> str:
    """The type to scan a field as: ``kind`` with every TIMESTAMP in it read as VARCHAR."""
    if str(kind) == "TIMESTAMP":
        return "VARCHAR"
    if kind.id == "struct" and _fields(kind):
        inner = ", ".join(f"{quote_ident(n)} {scan_type(t)}" for n, t in _fields(kind))
        return f"STRUCT({inner})"
    if kind.id == "list" and _fields(kind):
        return f"{scan_type(_fields(kind)[0][1])}[]"
    return str(kind)
