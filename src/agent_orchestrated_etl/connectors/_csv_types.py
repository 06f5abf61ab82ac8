"""Column types for CSV files: what nearly all of a column's values are.

DuckDB's sniffer types a column VARCHAR when a single value does not parse. This pass types a
column by what nearly all of its sampled values are, so a few bad values are quarantined
instead of turning the whole column into text. Every decision is returned as a sentence.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ._duck import quote_ident, quote_literal

# Read as NULL in every column unless the spec's null_values replaces the list: what pandas and
# readr read as missing, plus a lone '-'.
DEFAULT_NULL_VALUES = (
    "",
    "NA",
    "N/A",
    "n/a",
    "#N/A",
    "#NA",
    "<NA>",
    "NaN",
    "nan",
    "-NaN",
    "-nan",
    "null",
    "NULL",
    "Null",
    "None",
    "-",
)
# Narrower types tried for a VARCHAR column, in order, with the share of values that must parse.
_CANDIDATE_TYPES = ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN")
DOMINANT_SHARE = 0.95
_MIN_VALUES = 20
_PROBE_ROWS = 5_000  # enough to tell a 95 % numeric column; a quarter of the sniff's cost


def dominant_types(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    options: dict[str, str],
    cols: list[tuple[str, str]],
    sample: int,
    decisions: list[str],
    null_tokens: tuple[str, ...] = DEFAULT_NULL_VALUES,
) -> list[tuple[str, str]]:
    text_cols = [name for name, typ in cols if typ == "VARCHAR"]
    if not text_cols:
        return cols
    probes = []
    for name in text_cols:
        q = quote_ident(name)
        probes.append(f"count({q})")
        for t in _CANDIDATE_TYPES:
            # TRY_CAST('1.5' AS BIGINT) rounds, so integers must look like integers.
            guard = f"regexp_full_match(trim({q}), '[-+]?[0-9]+') AND " if t == "BIGINT" else ""
            probes.append(f"count(*) FILTER (WHERE {guard}TRY_CAST({q} AS {t}) IS NOT NULL)")
        probes.append(f"count(*) FILTER (WHERE regexp_matches({q}, '^0[0-9]'))")
    args = ", ".join(f"{k}={v}" for k, v in options.items())
    sql = (
        f"SELECT {', '.join(probes)} FROM (SELECT * FROM read_csv({quote_literal(str(path))}, "
        f"{args}, all_varchar=true, ignore_errors=true, buffer_size={1 << 21}) "
        f"LIMIT {min(sample, _PROBE_ROWS)})"
    )
    try:
        counts = con.execute(sql).fetchone()
    except duckdb.Error:
        return cols  # the probe is an optimisation; DuckDB's own types stand
    assert counts is not None
    chosen: dict[str, str] = {}
    width = len(_CANDIDATE_TYPES) + 2
    for i, name in enumerate(text_cols):
        total, *parsed, leading_zero = counts[i * width : (i + 1) * width]
        if total < _MIN_VALUES or leading_zero:
            continue
        for typ, ok in zip(_CANDIDATE_TYPES, parsed, strict=True):
            if ok < total and ok / total >= DOMINANT_SHARE:
                chosen[name] = typ
                decisions.append(
                    f"column {name}: {typ}, since {ok / total:.1%} of {total} sampled values "
                    f"parse as {typ}; rows whose value does not are quarantined"
                )
                break
    return [(name, chosen.get(name, typ)) for name, typ in cols]
