"""What the passes found about a column, as the ColumnProfile users read.

A column suspected of personal data keeps counts only (nulls, distinct, lengths, its
semantic type): no value, and nothing computed from few of them (min, max, top values,
quantiles, a histogram whose edges are its min and max, a mean of one row).
"""

from __future__ import annotations

from ..spec import AnomalySpec, Depth
from ._profile_columns import QUANTILES, Col, number, shown, top_values
from ._semantic import category
from .types import ColumnProfile, Histogram


def finish(
    col: Col, rows: int, depth: Depth, anomalies: AnomalySpec, complete: bool
) -> ColumnProfile:
    got = col.got
    values = int(got.get("values") or 0)
    distinct, exact = _distinct(col, depth, complete)
    profile = ColumnProfile(
        name=col.name,
        type=col.type,
        count=rows,
        nulls=rows - values,
        distinct=distinct,
        distinct_exact=exact,
        pii=col.pii,
    )
    if col.kind == "text":
        profile.length_min = _int(got.get("length_min"))
        profile.length_max = _int(got.get("length_max"))
        profile.length_mean = number(got.get("length_mean"))
        judged = col.judged
        profile.semantic, profile.semantic_share = judged.semantic, judged.share
        few = category(distinct, values, anomalies.rare_max_distinct)
        if judged.semantic in ("text", "free_text") and few:
            profile.semantic, profile.semantic_share = "category", 1.0
    if col.pii is not None:
        return profile
    if col.kind in ("numeric", "temporal"):
        _numbers(col, profile, depth)
    elif col.kind == "text":
        profile.min, profile.max = shown(got.get("min_shown")), shown(got.get("max_shown"))
    if col.kind == "bool" and values:
        true = int(got.get("true") or 0)
        col.top, col.top_complete = {True: true, False: values - true}, True
    # Values that each occur once (a key, a small table's names) have no top worth showing.
    unique = col.top is not None and len(col.top) > 1 and max(col.top.values()) == 1
    if col.top is not None and not unique and (col.kind != "numeric" or col.top_complete):
        keep_all = col.top_complete and len(col.top) <= anomalies.rare_max_distinct
        profile.top = top_values(col.top, keep_all)
    return profile


def _distinct(col: Col, depth: Depth, complete: bool) -> tuple[int | None, bool]:
    if col.top_complete and col.top is not None:  # every value counted: exact
        return len([v for v in col.top if v is not None]), True
    if complete:
        return int(col.got["s_distinct"]), True
    if col.got.get("distinct_exact"):  # a confirmed key
        return int(col.got["distinct"]), True
    got = col.got.get("distinct")
    if got is None:
        return None, depth == "deep"
    # HyperLogLog can count more values than the column holds (12,212 of 12,019).
    return min(int(got), int(col.got.get("values") or 0)), depth == "deep"


def _numbers(col: Col, profile: ColumnProfile, depth: Depth) -> None:
    got = col.got
    if col.kind == "temporal":
        profile.min, profile.max = shown(got.get("min_shown")), shown(got.get("max_shown"))
    else:
        profile.min, profile.max = number(got.get("min")), number(got.get("max"))
    profile.mean, profile.std = number(got.get("mean")), number(got.get("std"))
    levels = got.get("q7") or []
    quantiles = {str(q): number(v) for q, v in zip(QUANTILES, levels, strict=False)}
    profile.quantiles = {k: v for k, v in quantiles.items() if v is not None}
    profile.median = profile.quantiles.get("0.5")
    hist = got.get("histogram")
    if isinstance(hist, Histogram):
        profile.histogram = hist
    if col.kind == "numeric":
        profile.mad = number(got.get("mad"))
        profile.outliers_iqr = _int(got.get("iqr"))
        profile.outliers_mad = _int(got.get("mad_outliers"))


def _int(value: object) -> int | None:
    return (
        None
        if value is None
        else int(str(value))
        if isinstance(value, int)
        else round(float(str(value)))
    )
