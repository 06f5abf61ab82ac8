"""Incremental cursor columns: which columns of a table a load could resume from.

Analysis reports them (``ResourceReport.cursors``) and ``aoetl plan`` writes the first as the
table's incremental cursor, so both read the same rule from here.
"""

from __future__ import annotations

from ..connectors import Resource

_CANDIDATE_NAMES = (
    "updated_at",
    "modified_at",
    "last_modified",
    "changed_at",
    "updated",
    "modified",
)
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER")


def cursor_candidates(resource: Resource) -> list[str]:
    """Columns that look like an incremental cursor, best first: an update timestamp, then an
    integer primary key."""
    types = dict(resource.columns)
    found = [
        name
        for name in _CANDIDATE_NAMES
        if name in types and types[name].startswith(("TIMESTAMP", "DATE"))
    ]
    found += [
        n
        for n, t in resource.columns
        if n not in found and n.endswith("_at") and t.startswith("TIMESTAMP")
    ]
    if len(resource.primary_key) == 1:
        (key,) = resource.primary_key
        if types.get(key, "").endswith("INT") or types.get(key) in _INTEGERS:
            found.append(key)
    return found
