"""A table's profile in as few scans as its depth allows (each aggregate a scan, run as
SELECTs of at most CHUNK columns).

1. A sample of at most SAMPLE_ROWS rows (a reservoir over the whole table): semantic types,
   personal data, and which values to count exactly for ``top``.
2. One aggregate over every column: counts, nulls, distinct (approximate but at deep),
   min/max, mean, std, quantiles (a t-digest but at deep), lengths, the counts of the
   sample's frequent values. A quick profile stops here (but for an integer key's bitmap
   and text the sample showed few values of): its histograms are estimated from 1,001
   quantiles, or binned on the previous profile's edges where the values stay within them,
   and a key is confirmed only if the sample pointed to it.
3. One aggregate with what needs the first: histograms on the min/max (the previous
   profile's edges, extended to them), outliers by IQR and by robust z (the MAD estimated
   from the quantiles), keys confirmed exactly, every value of a column with few,
   duplicate rows by hash (none when a key is confirmed), correlations (deep).
4. Deep only: outliers by robust z on the exact MAD, exact top values and duplicates, keys
   of two columns.
"""

from __future__ import annotations

import itertools
from typing import Any

import duckdb

from ..spec import AnomalySpec, Depth
from ._profile_columns import (
    QUANTILES,
    QUICK_LEVELS,
    TOP,
    Agg,
    Col,
    binned,
    bins_sql,
    edges_for,
    estimate_spread,
    estimated,
    histogram,
    id_like,
    indexed,
    kind_of,
    lit,
    number,
    outlier_distance,
    scale_huge,
)
from ._profile_sample import SAMPLE_ROWS, distinct_exactly, keys, quick_keys, sample
from .types import TableProfile

MAX_CORRELATED = 20  # numeric columns a deep profile correlates (pairs grow as n^2)
_MAX_ID_COLUMNS = 6


def profile_columns(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    depth: Depth,
    anomalies: AnomalySpec,
    previous: TableProfile | None,
    pii: dict[str, str],
) -> tuple[int, list[Col], dict[str, Any]]:
    """Profile ``name``: its rows, its columns with what the passes found, and the table-wide
    findings (``keys``, ``duplicates``, ``duplicates_exact``, ``correlations``)."""
    cols = [Col(r[0], r[1], kind_of(r[1])) for r in con.execute(f"DESCRIBE {name}").fetchall()]
    rows = int((con.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,))[0])
    complete = sample(con, name, rows, cols, anomalies, pii)
    found: dict[str, Any] = {"keys": [], "duplicates": None, "duplicates_exact": False}
    if not rows or not cols:
        found.update(duplicates=0, duplicates_exact=True)
        return rows, cols, found
    edges = {
        c.name: old.histogram
        for c in cols
        if previous is not None and (old := previous.column(c.name)) is not None
    }
    first = _first(con, name, cols, depth, complete, edges)
    if depth == "quick":
        _quick_follow_up(con, name, cols)
    if "hashed" in first:
        found.update(duplicates=rows - int(first["hashed"]), duplicates_exact=False)
    sure, unsure = keys(cols, rows, depth, complete)
    second = _second(con, name, cols, depth, anomalies, sure, unsure, edges, complete)
    confirmed = set(sure) | {c for c in unsure if second.get(f"key:{c}") == rows}
    found["keys"] = [[c.name] for c in cols if c.name in confirmed]
    if found["keys"]:
        found.update(duplicates=0, duplicates_exact=True)  # a unique column: no row repeats
    if "hashed" in second:
        found.update(duplicates=rows - int(second["hashed"]), duplicates_exact=False)
    found["correlations"] = second.get("correlations")
    _third(con, name, cols, rows, depth, anomalies, found)
    return rows, cols, found


def _first(
    con: duckdb.DuckDBPyConnection,
    name: str,
    cols: list[Col],
    depth: Depth,
    complete: bool,
    edges: dict[str, Any],
) -> dict[str, Any]:
    try:
        found = _first_agg(cols, depth, complete, edges).run(con, name)
    except duckdb.OutOfRangeException:
        # A std of values near 1e308 passes a double's range: scale those columns, again.
        if not scale_huge(con, name, cols):
            raise
        found = _first_agg(cols, depth, complete, edges).run(con, name)
    for col in cols:
        if col.scale != 1.0:  # a float division past the range is inf, shown as None
            for key in ("mean", "std"):
                got = number(col.got.get(key))
                col.got[key] = None if got is None else got / col.scale
        if col.got.get("quantiles"):
            estimate_spread(col, depth)
        if "bins" in col.got and not _within(col):
            del col.got["bins"], col.got["edges"]
        if "bins" in col.got:
            bins = indexed(col.got["edges"], col.got["bins"], col.kind)
            col.got["histogram"] = histogram(col.got["edges"], bins, col.kind)
        if "top" in col.got:
            col.top = {k: int(v) for k, v in (col.got["top"] or {}).items()}
            col.top_complete = sum(col.top.values()) == col.got["values"]
            if col.few and col.kind == "text" and "distinct" not in col.got:
                _from_top(col)
        if depth == "quick" and col.got.get("quantiles") and "histogram" not in col.got:
            low, high = number(col.got["min"]), number(col.got["max"])
            if low is not None and high is not None:
                middle = (col.got["q7"][0], col.got["q7"][-1])
                bounds = edges_for(low, high, col.got.get("old_edges"), col.kind, middle)
                if col.integer and col.top_complete and col.top:
                    hist = histogram(bounds, binned(col.top, bounds), col.kind)
                else:
                    hist = estimated(bounds, col.got["quantiles"], col.got["values"], col.kind)
                col.got["histogram"] = hist
    return found


def _first_agg(cols: list[Col], depth: Depth, complete: bool, edges: dict[str, Any]) -> Agg:
    agg = Agg()
    # Approximate quantiles come from one t-digest per column, read at 1,001 levels (no
    # dearer than 7): the quick histograms and the MAD are estimated from them, which saves
    # a t-digest of |x - median| over every row (it took longer than the rest of pass two).
    levels = list(QUANTILES if depth == "deep" else QUICK_LEVELS)
    for col in cols:
        value, ident = col.value, col.ident
        agg.add(col, "values", f"count({ident})")
        # Text the sample shows few values of is counted per value (below); its distinct
        # count, lengths, min and max follow from those counts when they cover every row.
        deferred = col.few and col.kind == "text" and depth != "deep"
        distinct = "count(DISTINCT {})" if depth == "deep" else "approx_count_distinct({})"
        if not deferred:
            agg.add(col, "distinct", distinct.format(col.countable))
        if col.kind in ("numeric", "temporal") and col.pii is None:
            if col.kind == "temporal":
                agg.add(col, "min_shown", f"min({ident})")
                agg.add(col, "max_shown", f"max({ident})")
            if col.bitmapped:
                agg.add(col, "int_min", f"min({ident})")
                agg.add(col, "int_max", f"max({ident})")
            agg.add(col, "min", f"min({value})")
            agg.add(col, "max", f"max({value})")
            agg.add(col, "mean", f"avg({col.moment})")
            agg.add(col, "std", f"stddev_samp({col.moment})")
            if depth == "deep":
                quantiles = f"quantile_cont({value}, {levels!r})"
            else:
                quantiles = f"approx_quantile({value}, {levels!r})"
            agg.add(col, "quantiles", quantiles)
            old = edges.get(col.name)
            if depth == "quick" and old is not None and old.kind == col.kind and old.edges:
                # The min and max come from this same pass: bin on the previous edges as they
                # are, and if the values now reach past them, estimate (below) on edges
                # extended to the new min and max.
                col.got["edges"] = list(old.edges)
                col.got["old_edges"] = old
                agg.add(col, "bins", bins_sql(col, col.got["edges"]))
        if col.kind == "text" and not deferred:
            _text_stats(agg, col)
        if col.kind == "bool" and col.pii is None:
            agg.add(col, "true", f"count_if({ident})")
        if col.candidates:
            within = f"{col.counted} IN ({', '.join(col.candidates)})"
            agg.add(col, "top", f"histogram({col.counted}) FILTER (WHERE {within})")
    if depth == "quick" and not complete:
        keys = quick_keys(cols)
        for col in keys:
            if col.bitmapped:  # counted as bits once its range is known (_quick_follow_up)
                col.got["bitmap_key"] = True
            else:
                agg.add(col, "key", f"count(DISTINCT {col.countable})")
        if not keys:
            every = ", ".join(c.ident for c in cols)
            agg.add(None, "hashed", f"count(DISTINCT hash({every}))")
    return agg


def _within(col: Col) -> bool:
    """Whether a column's values all lie within the edges it was binned on."""
    low, high, edges = number(col.got.get("min")), number(col.got.get("max")), col.got["edges"]
    return low is None or high is None or (edges[0] <= low and high <= edges[-1])


def _quick_follow_up(con: duckdb.DuckDBPyConnection, name: str, cols: list[Col]) -> None:
    """What a quick profile's one pass could not take: an integer key's bitmap (it needs the
    range) and the lengths of text whose few sampled values were not all of them. Most
    tables need nothing here, or one integer column."""
    agg = Agg()
    for col in cols:
        if col.got.get("bitmap_key"):
            agg.add(col, "key", distinct_exactly(col))
        if col.got.get("deferred"):
            _text_stats(agg, col, distinct=True)
    agg.run(con, name)


def _text_stats(agg: Agg, col: Col, *, distinct: bool = False) -> None:
    value = col.value
    if distinct:
        agg.add(col, "distinct", f"approx_count_distinct({value})")
    agg.add(col, "length_min", f"min(length({value}))")
    agg.add(col, "length_max", f"max(length({value}))")
    agg.add(col, "length_mean", f"avg(length({value}))")
    if col.pii is None:
        agg.add(col, "min_shown", f"min({value})")
        agg.add(col, "max_shown", f"max({value})")


def _from_top(col: Col) -> None:
    """A text column's distinct count, lengths, min and max from the counts of every value
    (DuckDB's length counts characters, as len does; its order is by code point, as str's)."""
    if not col.top_complete or col.top is None:
        col.got["deferred"] = True  # the second pass measures them
        return
    counted = {str(k): n for k, n in col.top.items()}
    total = sum(counted.values())
    col.got["distinct"] = len(counted)
    if counted:
        col.got["length_min"] = min(len(k) for k in counted)
        col.got["length_max"] = max(len(k) for k in counted)
        col.got["length_mean"] = sum(len(k) * n for k, n in counted.items()) / total
        col.got["min_shown"], col.got["max_shown"] = min(counted), max(counted)


def _second(
    con: duckdb.DuckDBPyConnection,
    name: str,
    cols: list[Col],
    depth: Depth,
    anomalies: AnomalySpec,
    sure: list[str],
    unsure: list[str],
    edges: dict[str, Any],
    complete: bool,
) -> dict[str, Any]:
    agg = Agg()
    by_name = {c.name: c for c in cols}
    for key in unsure:
        agg.add(None, f"key:{key}", distinct_exactly(by_name[key]))
    if depth == "standard" and not sure and not unsure and not complete:
        # Rows hashed: two different rows share a 64-bit hash about once in 10^19 pairs.
        every = ", ".join(c.ident for c in cols)
        agg.add(None, "hashed", f"count(DISTINCT hash({every}))")
    if depth != "quick":
        for col in cols:
            _second_column(agg, col, depth, anomalies, edges.get(col.name))
    numeric = [c for c in cols if c.kind == "numeric" and c.pii is None and c.got["values"]]
    pairs = list(itertools.combinations(numeric[:MAX_CORRELATED], 2)) if depth == "deep" else []
    for a, b in pairs:
        agg.add(None, f"corr:{a.name}\x00{b.name}", f"corr({a.moment}, {b.moment})")
    found = agg.run(con, name)
    for col in cols:
        if "bins" in col.got and "edges" in col.got:
            bins = indexed(col.got["edges"], col.got["bins"], col.kind)
            col.got["histogram"] = histogram(col.got["edges"], bins, col.kind)
        if "all" in col.got:
            col.top = {k: int(v) for k, v in (col.got["all"] or {}).items()}
            col.top_complete = True
    if depth == "deep":
        found["correlations"] = [
            (key[5:].split("\x00")[0], key[5:].split("\x00")[1], number(r))
            for key, r in found.items()
            if key.startswith("corr:") and number(r) is not None
        ]
    return found


def _second_column(agg: Agg, col: Col, depth: Depth, anomalies: AnomalySpec, old: Any) -> None:
    if col.got.get("deferred"):  # the sample's few values were not all of them
        _text_stats(agg, col, distinct=True)
    elif col.topped and not col.top_complete:
        distinct = int(col.got["distinct"] or 0)
        if distinct <= anomalies.rare_max_distinct:
            agg.add(col, "all", f"histogram({col.counted})")
    if col.kind not in ("numeric", "temporal") or col.pii is not None or not col.got["values"]:
        return
    low, high = number(col.got["min"]), number(col.got["max"])
    if low is None or high is None:
        return
    value = col.value
    q7 = col.got.get("q7") or [None]
    edges = edges_for(low, high, old, col.kind, (q7[0], q7[-1]))
    col.got["edges"] = edges
    if col.integer and col.top_complete and col.top:
        # Every value counted already: the bins follow from the counts, binned as in SQL.
        col.got["histogram"] = histogram(edges, binned(col.top, edges), col.kind)
    else:
        agg.add(col, "bins", bins_sql(col, edges))
    if col.kind != "numeric":
        return
    q1, median, q3 = col.got["q7"][2], col.got["q7"][3], col.got["q7"][4]
    if q1 is None or q3 is None or median is None:
        return
    col.got["median"] = median
    fence = anomalies.iqr_k * (q3 - q1)
    outside = f"{value} < {lit(q1 - fence)} OR {value} > {lit(q3 + fence)}"
    agg.add(col, "iqr", f"count_if({outside})")
    spread = f"abs({value} - {lit(median)})"
    if depth == "deep":
        agg.add(col, "mad", f"median({spread})")
        agg.add(col, "mean_ad", f"avg({spread})")
        return
    beyond = outlier_distance(col, anomalies)
    if beyond is None:
        col.got["mad_outliers"] = 0
    else:
        agg.add(col, "mad_outliers", f"count_if({spread} > {lit(beyond)})")


def _third(
    con: duckdb.DuckDBPyConnection,
    name: str,
    cols: list[Col],
    rows: int,
    depth: Depth,
    anomalies: AnomalySpec,
    found: dict[str, Any],
) -> None:
    agg = Agg()
    for col in cols:
        if col.got.get("deferred") and int(col.got["distinct"] or 0) <= anomalies.rare_max_distinct:
            agg.add(col, "all", f"histogram({col.counted})")  # values the sample missed
        median = col.got.get("median")
        if depth != "deep" or median is None or "mad" not in col.got:
            continue
        beyond = outlier_distance(col, anomalies)
        if beyond is None:
            col.got["mad_outliers"] = 0
            continue
        agg.add(
            col,
            "mad_outliers",
            f"count_if(abs({col.value} - {lit(median)}) > {lit(beyond)})",
        )
    if depth == "standard" and found["duplicates"] is None and rows > SAMPLE_ROWS:
        every = ", ".join(c.ident for c in cols)
        agg.add(None, "hashed", f"count(DISTINCT hash({every}))")
    third = agg.run(con, name)
    for col in cols:
        if col.got.get("deferred") and "all" in col.got:
            col.top = {k: int(v) for k, v in (col.got["all"] or {}).items()}
            col.top_complete = True
    if "hashed" in third:
        found.update(duplicates=rows - int(third["hashed"]), duplicates_exact=False)
    if depth == "deep":
        _deep(con, name, cols, rows, found)
    elif found["duplicates"] is None and rows <= SAMPLE_ROWS:  # small: count them exactly
        _duplicates(con, name, rows, found)


def _duplicates(
    con: duckdb.DuckDBPyConnection, name: str, rows: int, found: dict[str, Any]
) -> None:
    distinct = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT * FROM {name})").fetchone()
    found.update(duplicates=rows - int((distinct or (rows,))[0]), duplicates_exact=True)


def _deep(
    con: duckdb.DuckDBPyConnection, name: str, cols: list[Col], rows: int, found: dict[str, Any]
) -> None:
    """Exact top values, exact duplicates, and keys of two id-like columns."""
    for col in cols:
        if col.topped and not col.top_complete:
            top = con.execute(
                f"SELECT {col.counted}, count(*) FROM {name} WHERE {col.ident} IS NOT NULL "
                f"GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT {TOP}"
            ).fetchall()
            col.top = {r[0]: int(r[1]) for r in top}
    if found["keys"]:
        return
    _duplicates(con, name, rows, found)
    ids = [c for c in cols if id_like(c.name) and c.kind != "other" and c.got["values"] == rows]
    pairs = list(itertools.combinations(ids[:_MAX_ID_COLUMNS], 2))
    if not pairs or rows < 2:
        return
    agg = Agg()
    for a, b in pairs:
        agg.add(None, f"{a.name}\x00{b.name}", f"count(DISTINCT ({a.ident}, {b.ident}))")
    for key, count in agg.run(con, name).items():
        if int(count) == rows:
            found["keys"].append(key.split("\x00"))
