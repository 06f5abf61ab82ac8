"""Which columns of a sample hold personal data, by their values (one DuckDB aggregate) and
by their names.

A column whose values are mostly (:data:`analysis.pii.VALUE_SHARE`) of one kind is that kind
as a whole. The kinds whose pattern almost never matches anything else (:data:`SPECIFIC`:
emails, SSNs, card numbers, IP addresses) need far less: a column where a few in a hundred
values are emails holds emails, and those must not reach the sample. Such a column is
*partial*: only its matching values are replaced, the others ('unknown', '') stay.
"""

from __future__ import annotations

import duckdb

from ..analysis.pii import SPECIFICITY, VALUE_PATTERNS, VALUE_SHARE, by_name, luhn
from ..data.duck import quote_ident, quote_literal

# Kinds whose pattern a value matches by chance almost never (a phone pattern matches many
# codes and numbers: it keeps the full share).
SPECIFIC = ("email", "ssn", "card_number", "ip_address")
FEW_SHARE = 0.05  # the share of a SPECIFIC kind's matches that makes a column partial
_CARD_CHECKS = 20  # distinct matching values whose Luhn sum is checked


def detect(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]]
) -> tuple[dict[str, str | None], set[str]]:
    """The columns suspected of personal data and the kind of each (by the share of values
    that match a pattern, the narrowest wins; else by name), and which of them are partial.
    """
    exprs: list[str] = []
    slots: list[tuple[str, str]] = []
    for name, type_ in columns:
        text = type_ == "VARCHAR"
        if not (text or type_ in ("BIGINT", "HUGEINT", "UBIGINT") or type_.startswith("DECIMAL")):
            continue
        col = quote_ident(name)
        value = col if text else f"CAST({col} AS VARCHAR)"
        exprs.append(f"count({col})")
        slots.append((name, ""))
        for kind, pattern in VALUE_PATTERNS.items():
            if kind != "card_number" and not text:
                continue
            exprs.append(f"count(*) FILTER (WHERE {_matches(value, kind, pattern)})")
            slots.append((name, kind))
    found: dict[str, str | None] = {}
    partial: set[str] = set()
    if exprs:
        counts = con.execute(f"SELECT {', '.join(exprs)} FROM {table}").fetchone() or ()
        shares: dict[str, dict[str, float]] = {}
        filled = 0
        for (name, kind), count in zip(slots, counts, strict=True):
            if not kind:
                filled = int(count)
            elif filled and count / filled >= (FEW_SHARE if kind in SPECIFIC else VALUE_SHARE):
                shares.setdefault(name, {})[kind] = count / filled
        for name, fits in shares.items():
            kinds = [k for k in SPECIFICITY if k in fits]
            if "card_number" in kinds and not _cards(con, table, name):
                kinds.remove("card_number")
            whole = [k for k in kinds if fits[k] >= VALUE_SHARE]
            if whole or kinds:
                found[name] = (whole or kinds)[0]
            if kinds and not whole:
                partial.add(name)
    for name, _ in columns:
        named = by_name(name)
        if named is not None and (name not in found or name in partial):
            # A name that says what the column holds: every value is replaced.
            found[name] = named
            partial.discard(name)
    return found, partial


def _matches(value: str, kind: str, pattern: str) -> str:
    test = f"regexp_full_match({value}, {quote_literal(pattern)})"
    if kind == "phone":
        # Dates and version numbers split like phone numbers; their digits do not.
        digits = f"length(regexp_replace({value}, '[^0-9]', '', 'g'))"
        test += f" AND {digits} BETWEEN 7 AND 15 AND TRY_CAST({value} AS TIMESTAMP) IS NULL"
    return test


def _cards(con: duckdb.DuckDBPyConnection, table: str, name: str) -> bool:
    """Whether most of a few distinct values that look like card numbers pass the Luhn
    check (other values, such as 'unknown', do not count against them)."""
    col = f"CAST({quote_ident(name)} AS VARCHAR)"
    looks = _matches(col, "card_number", VALUE_PATTERNS["card_number"])
    rows = con.execute(
        f"SELECT DISTINCT {col} FROM {table} WHERE {looks} LIMIT {_CARD_CHECKS}"
    ).fetchall()
    passed = sum(luhn(str(r[0])) for r in rows)
    return bool(rows) and passed / len(rows) >= VALUE_SHARE
