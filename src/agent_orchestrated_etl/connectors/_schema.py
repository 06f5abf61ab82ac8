"""Schema evolution policy, shared by every destination.

* A column the target lacks is added (older rows read NULL).
* A column the source lacks is loaded as NULL.
* A type change is widened when no value can be lost: a smaller integer to a larger one, an
  integer or FLOAT to DOUBLE, DECIMAL to a DECIMAL with room for as many digits on both sides
  of the point, and DATE to TIMESTAMP. Values of any type load into a VARCHAR column as text,
  but a typed column is never turned into VARCHAR: that is a conflict.
* Any other change fails the run with SchemaConflictError naming the column and both types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import SchemaConflictError

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
    current = {name.lower(): (name, typ) for name, typ in existing}
    evolution = Evolution()
    for name, new_type in incoming:
        if name.lower() not in current:
            evolution.add.append((name, new_type))
            continue
        col_name, old_type = current[name.lower()]
        if fits(new_type, old_type):
            continue
        # Turning a typed column into text would lose its meaning, though not its values.
        if new_type != "VARCHAR" and fits(old_type, new_type):
            evolution.widen.append((col_name, new_type))
            continue
        raise SchemaConflictError(table, col_name, old_type, new_type)
    return evolution
