"""Candidate keys, duplicate keys and foreign keys between tables, from the samples.

A candidate key is unique and non-null in the sample (exact when the sample is the whole
table). Candidates rank by name ('id', then '<table>_id', then '…_id', then 'key'/'code'),
then by type (integers before text), then by width (one column before two). A foreign key
is a column whose distinct values are (almost) all found in another table's primary key,
tried only where the names and types make it plausible: one semi-join each.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import duckdb

from ..data.duck import quote_ident
from ._profile import Column, Sample, kind_of
from .report import Issue, KeyCandidate, Reference

COVERAGE = 0.99
# A plausible pair whose coverage falls short of COVERAGE but reaches this is no foreign key,
# yet likely meant as one with orphans: said as an issue rather than left silent.
NEAR_COVERAGE = 0.8
_PAIR_COLUMNS = 6
_KEYABLE = ("int", "text", "temporal", "decimal")


@dataclass
class Table:
    """A resource as key finding needs it."""

    name: str
    sample: Sample
    key: tuple[str, ...] = ()
    keys_sql: str | None = None  # SQL giving every value of a one-column key


def singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


# Names that say a column identifies a row (beside 'id' and '…_id'): codes, SKUs, numbers.
_KEY_NAMES = ("key", "code", "uuid", "guid", "sku", "isbn", "ean", "upc", "slug")
_KEY_ENDINGS = ("_key", "_code", "_uuid", "_sku", "_number", "_no", "_ref")


def _name_rank(table: str, column: str) -> int:
    col = column.lower()
    if col == "id":
        return 0
    if col in (f"{table}_id", f"{singular(table)}_id", f"{table}id", f"{singular(table)}id"):
        return 1
    if col.endswith("_id") or re.search(r"[a-z]Id$", column):
        return 2
    if col in _KEY_NAMES or col.endswith(_KEY_ENDINGS):
        return 3
    return 5


def key_like(table: str, columns: tuple[str, ...]) -> bool:
    """Whether a name among ``columns`` says they are a key ('id', '<table>_id', '…_id',
    'key', 'code', 'uuid'…)."""
    return any(_name_rank(table, c) < 5 for c in columns)


def _type_rank(column: Column) -> int:
    return {"int": 0, "text": 1, "decimal": 2, "temporal": 3}.get(kind_of(column.type), 4)


def candidate_keys(table: Table, con: duckdb.DuckDBPyConnection) -> list[KeyCandidate]:
    """The table's candidate keys, best first (at most five)."""
    sample = table.sample
    if sample.rows == 0:
        return []
    usable = [
        c
        for c in sample.columns
        if kind_of(c.type) in _KEYABLE and c.fits == sample.rows and c.non_null == sample.rows
    ]
    singles = [c for c in usable if c.distinct == sample.rows]
    ranked: list[tuple[tuple[int, ...], KeyCandidate]] = []
    for i, c in enumerate(singles):
        score = (_name_rank(table.name, c.name), _type_rank(c), 1, i)
        ranked.append((score, KeyCandidate((c.name,), _reason(table, [c], score[0]))))
    if not singles and sample.rows > 1:
        ranked += _pairs(table, usable, con)
    ranked.sort(key=lambda sc: sc[0])
    return [k for _, k in ranked[:5]]


def _pairs(
    table: Table, usable: list[Column], con: duckdb.DuckDBPyConnection
) -> list[tuple[tuple[int, ...], KeyCandidate]]:
    # Two columns: the id-like and most varied ones, all pairs counted in one aggregate.
    picked = sorted(
        usable, key=lambda c: (_name_rank(table.name, c.name) >= 5, -(c.distinct or 0))
    )[:_PAIR_COLUMNS]
    pairs = list(itertools.combinations(picked, 2))
    if not pairs:
        return []
    exprs = [f"count(DISTINCT ({quote_ident(a.name)}, {quote_ident(b.name)}))" for a, b in pairs]
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {table.sample.view}").fetchone() or ()
    out: list[tuple[tuple[int, ...], KeyCandidate]] = []
    for (a, b), distinct in zip(pairs, row, strict=True):
        if distinct == table.sample.rows:
            rank = _name_rank(table.name, a.name) + _name_rank(table.name, b.name)
            score = (rank, _type_rank(a) + _type_rank(b), 2, 0)
            out.append((score, KeyCandidate((a.name, b.name), _reason(table, [a, b], rank))))
    return out


def _reason(table: Table, columns: list[Column], rank: int) -> str:
    names = " and ".join(c.name for c in columns)
    why = f"{names} {'is' if len(columns) == 1 else 'are'} unique and non-null in "
    why += table.sample.where
    if rank <= 1 and len(columns) == 1:
        why += f"; '{columns[0].name}' is the table's id by name"
    elif rank < 5:
        why += "; id-like name" + ("s" if len(columns) > 1 else "")
    if len(columns) == 1 and kind_of(columns[0].type) == "int":
        why += "; an integer"
    return why


def duplicate_keys(table: Table, resource: str) -> list[Issue]:
    """Key-like columns (by name, or nearly unique) whose values repeat in the sample."""
    issues = []
    for c in table.sample.columns:
        if c.distinct is None or c.non_null < 10 or c.distinct >= c.non_null:
            continue
        ratio = c.distinct / c.non_null
        named = _name_rank(table.name, c.name) <= 1
        if (named and ratio >= 0.5) or (ratio >= 0.95 and _name_rank(table.name, c.name) < 5):
            issues.append(
                Issue(
                    "duplicate_key",
                    f"looks like a key but {c.non_null - c.distinct:,} of its "
                    f"{c.non_null:,} values repeat an earlier one in {table.sample.where}",
                    resource=resource,
                    column=c.name,
                )
            )
    return issues


def references(
    tables: list[Table], con: duckdb.DuckDBPyConnection
) -> tuple[dict[str, list[Reference]], dict[str, list[Issue]]]:
    """Foreign keys between ``tables`` (and within one), by table name; and the near misses
    (coverage from :data:`NEAR_COVERAGE` up to :data:`COVERAGE`), as 'orphans' issues."""
    out: dict[str, list[Reference]] = {}
    near: dict[str, list[Issue]] = {}
    for child in tables:
        for parent in tables:
            if len(parent.key) != 1 or parent.keys_sql is None:
                continue
            (key,) = parent.key
            parent_col = next(c for c in parent.sample.columns if c.name == key)
            for c in child.sample.columns:
                if child is parent and c.name == key:
                    continue
                if not _plausible(c, parent.name, parent_col) or not c.distinct:
                    continue
                coverage = _coverage(con, child.sample.view, c.name, parent.keys_sql)
                ref = Reference((c.name,), parent.name, (key,), round(coverage, 4))
                if coverage >= COVERAGE:
                    out.setdefault(child.name, []).append(ref)
                elif coverage >= NEAR_COVERAGE:
                    near.setdefault(child.name, []).append(_orphans(ref, child, coverage))
    return out, near


def _orphans(ref: Reference, child: Table, coverage: float) -> Issue:
    # Floor the share found, so 99.6 % is never shown as a round 100 % that is not a key.
    found = int(coverage * 100)
    return Issue(
        "orphans",
        f"{ref}: {found}% of its distinct values are found there; {100 - found}% are "
        f"orphans (in {child.sample.where}), so it is no foreign key",
        resource=child.name,
        column=ref.columns[0],
        severity="info",
    )


def _plausible(column: Column, parent: str, key: Column) -> bool:
    a, b = kind_of(column.type), kind_of(key.type)
    if a != b or a not in ("int", "text"):
        return False
    name, key_name = column.name.lower(), key.name.lower()
    stems = {parent, singular(parent)}
    if name == key_name and key_name != "id":
        return True
    return any(name in (f"{s}_{key_name}", f"{s}{key_name}") for s in stems) or (
        key_name == "id" and any(name == f"{s}_id" for s in stems)
    )


def _coverage(con: duckdb.DuckDBPyConnection, view: str, column: str, keys_sql: str) -> float:
    col = quote_ident(column)
    row = con.execute(
        f"SELECT count(DISTINCT {col}), count(DISTINCT {col}) FILTER "
        f"(WHERE {col} IN (SELECT k FROM ({keys_sql}) AS keys(k))) FROM {view}"
    ).fetchone()
    if not row or not row[0]:
        return 0.0
    return float(row[1]) / float(row[0])
