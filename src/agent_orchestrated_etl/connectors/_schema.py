"""Schema evolution policy, shared by every destination.

* A column the target lacks is added (older rows read NULL).
* A column the source lacks is loaded as NULL.
* A type change is widened when no value can be lost: a smaller integer to a larger one, an
  integer or FLOAT to DOUBLE, DECIMAL to a DECIMAL with room for as many digits on both sides
  of the point, and DATE to TIMESTAMP. Values of any type load into a VARCHAR column as text,
  but a typed column is never turned into VARCHAR: that is a conflict.
* Any other change fails the run with SchemaConflictError naming the column and both types.

Names are checked before anything is written: a target that would cut a name (PostgreSQL keeps
63 bytes) or see two names as one (DuckDB and SQLite ignore the case of ASCII letters) must
refuse it, or the load lands in another table or column than the one reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..data.duck import fold
from ..errors import SchemaConflictError, UserError

_INT_RANK = {
    "TINYINT": 1,
    "UTINYINT": 1,
    "SMALLINT": 2,
    "USMALLINT": 2,
    "INTEGER": 3,
    "UINTEGER": 3,
    "BIGINT": 4,
    "UBIGINT": 5,
    "HUGEINT": 5,
}
_INT_DIGITS = {1: 3, 2: 5, 3: 10, 4: 19, 5: 39}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_TEMPORAL = {"DATE": 1, "TIMESTAMP": 2, "TIMESTAMP_NS": 3}


def _decimal(t: str) -> tuple[int, int] | None:
    m = _DECIMAL.match(t)
    return (int(m.group(1)), int(m.group(2))) if m else None


def fits(value_type: str, column_type: str) -> bool:
    """True when every value of ``value_type`` can be stored in ``column_type`` without loss."""
    if value_type == column_type or column_type == "VARCHAR":
        return True
    if value_type in _INT_RANK:
        if column_type in _INT_RANK:
            return _INT_RANK[value_type] <= _INT_RANK[column_type] and (
                value_type.startswith("U") or not column_type.startswith("U")
            )
        if column_type == "DOUBLE":
            return True
        dec = _decimal(column_type)
        return dec is not None and dec[0] - dec[1] >= _INT_DIGITS[_INT_RANK[value_type]]
    if value_type == "FLOAT":
        return column_type == "DOUBLE"
    src_dec = _decimal(value_type)
    if src_dec is not None:
        if column_type == "DOUBLE":
            return src_dec[0] <= 15
        dst_dec = _decimal(column_type)
        return (
            dst_dec is not None
            and dst_dec[1] >= src_dec[1]
            and dst_dec[0] - dst_dec[1] >= src_dec[0] - src_dec[1]
        )
    if value_type in _TEMPORAL and column_type in _TEMPORAL:
        return _TEMPORAL[value_type] <= _TEMPORAL[column_type]
    return False


@dataclass
class Evolution:
    """What a load must change in the target before it can insert."""

    add: list[tuple[str, str]] = field(default_factory=list)
    widen: list[tuple[str, str]] = field(default_factory=list)


def plan_evolution(
    table: str, existing: list[tuple[str, str]], incoming: list[tuple[str, str]]
) -> Evolution:
    """Compare the target's columns with the incoming ones under the policy above.

    Raises:
        SchemaConflictError: a column changed type in a way that cannot be widened safely.
    """
    current = {fold(name): (name, typ) for name, typ in existing}
    evolution = Evolution()
    for name, new_type in incoming:
        if fold(name) not in current:
            evolution.add.append((name, new_type))
            continue
        col_name, old_type = current[fold(name)]
        if fits(new_type, old_type):
            continue
        # Turning a typed column into text would lose its meaning, though not its values.
        if new_type != "VARCHAR" and fits(old_type, new_type):
            evolution.widen.append((col_name, new_type))
            continue
        raise SchemaConflictError(table, col_name, old_type, new_type)
    return evolution


RESERVED_PREFIX = "_aoetl_"  # staging and (in SQLite) bookkeeping tables


def shown(name: str, limit: int = 40) -> str:
    """A name quoted for a one-line message, cut if very long (its length is said elsewhere)."""
    return repr(name if len(name) <= limit else name[:limit] + "…")


def names_list(names: Iterable[str], limit: int = 12) -> str:
    items = [shown(n, 30) for n in names]
    return ", ".join(items[:limit]) + (
        f" and {len(items) - limit} more" if len(items) > limit else ""
    )


def check_table_name(table: str, *, max_bytes: int | None, target: str) -> None:
    """Refuse a table name the target would store under another name, or that is aoetl's own.

    Raises:
        UserError: the name is empty, holds a NUL byte, is longer than the target keeps, or
            starts with aoetl's reserved prefix.
    """
    _check_name(table, "table name", max_bytes, target, "choose another --table")
    if fold(table).startswith(RESERVED_PREFIX):
        raise UserError(
            f"table name {shown(table)} starts with {RESERVED_PREFIX!r}, which aoetl keeps for "
            "its own tables; choose another --table"
        )


def check_column_names(
    table: str, columns: Iterable[str], *, max_bytes: int | None, target: str
) -> None:
    """Refuse column names the target would cut, or two names DuckDB would take for one.

    Raises:
        UserError: naming the column and the rename step that fixes it.
    """
    fix = "rename it with a step (transforms: - rename: {old: new})"
    seen: dict[str, str] = {}
    for name in columns:
        _check_name(name, f"table {shown(table)}: column", max_bytes, target, fix)
        other = seen.setdefault(fold(name), name)
        if other != name:
            raise UserError(
                f"table {shown(table)}: columns {shown(other)} and {shown(name)} differ only in "
                f"case, and {target} would store them as one name; {fix}"
            )


def check_key(table: str, key: tuple[str, ...], columns: list[str], where: str) -> None:
    """Refuse a merge key that is not among ``columns`` (of the data, or of the target table).

    Raises:
        UserError: naming the table, the missing key and the columns there are.
    """
    have = {fold(c) for c in columns}
    missing = [k for k in key if fold(k) not in have]
    if missing:
        raise UserError(
            f"table {shown(table)}: merge key {names_list(missing)} is not a column of {where} "
            f"(columns: {names_list(columns)}); choose --key from these"
        )


def _check_name(name: str, what: str, max_bytes: int | None, target: str, fix: str) -> None:
    if not name:
        raise UserError(f"{what} is empty; {fix}")
    if "\x00" in name:
        raise UserError(f"{what} {shown(name)} contains a NUL byte; {fix}")
    size = len(name.encode())
    if max_bytes is not None and size > max_bytes:
        raise UserError(
            f"{what} {shown(name)} is {size} bytes long, and {target} keeps only {max_bytes} "
            f"bytes of a name, so it would load under a cut name; {fix}"
        )


@dataclass(frozen=True)
class Rules:
    """What a database target can store: for messages, name length, case, type changes."""

    kind: str  # "DuckDB", "PostgreSQL", …
    max_bytes: int | None  # the longest name it keeps whole
    folds_case: bool  # "Sales" and "sales" are one table
    alter_type: bool  # a column's type can be widened in place


def check_load(
    table: str,
    incoming: list[tuple[str, str]],
    existing: list[tuple[str, str]],
    mode: str,
    key: tuple[str, ...],
    rules: Rules,
    tables: Callable[[], list[str]],
) -> Evolution:
    """Check a load before it stages anything; the schema changes it will make at commit.

    ``existing`` is the target table's columns ([] if it is new, or for a replace); ``tables``
    lists the target's tables, asked only where names fold.

    Raises:
        UserError: a name the target would store otherwise, a missing merge key, a table whose
            name differs only in case from the one given, a type change the target cannot make.
        SchemaConflictError: a type change no widening covers.
    """
    names = [n for n, _ in incoming]
    check_column_names(table, names, max_bytes=rules.max_bytes, target=rules.kind)
    if mode == "merge":
        check_key(table, key, names, "the loaded data")
    if not existing:
        if rules.folds_case:
            _refuse_folded(table, tables(), rules.kind)
        return Evolution()
    if mode == "merge":
        check_key(table, key, [n for n, _ in existing], f"the existing table {shown(table)}")
    evolution = plan_evolution(table, existing, incoming)
    if evolution.widen and not rules.alter_type:
        name, wider = evolution.widen[0]
        raise UserError(
            f"table {shown(table)}: column {shown(name)} is {dict(existing)[name]} in the target "
            f"and {wider} in the data, and aoetl cannot change a column's type in {rules.kind}; "
            "change it yourself (ALTER TABLE … ALTER COLUMN … TYPE …), or cast the data in a step"
        )
    return evolution


def _refuse_folded(table: str, tables: list[str], kind: str) -> None:
    """A load must not land on (or replace) a table whose name differs only in case."""
    for name in tables:
        if name != table and fold(name) == fold(table):
            raise UserError(
                f"table {shown(table)}: the target has a table {shown(name)}, and {kind} "
                f"takes the two names for one; use --table {name!r}, or another name"
            )
