"""Anomalies in a profile: outliers and rare categories per column, and, against the
previous profile of the same resource, row count and null rate changes, distribution drift
(PSI, with the KS statistic as evidence) and schema changes.

Everything is read from the profiles (counts, quantiles, histograms, top values): detection
never reads the data again. A message never holds a value of a PII column.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..spec import AnomalySpec
from . import _drift
from .types import Anomaly, ColumnProfile, TableProfile

# How many rare categories a message names before it says "and N more".
_NAMED = 5


def detect(
    profile: TableProfile, previous: TableProfile | None, settings: AnomalySpec
) -> list[Anomaly]:
    """The anomalies of ``profile``: per column, then against ``previous`` (an earlier
    profile of the same resource, or None for the first one)."""
    found: list[Anomaly] = []
    for column in profile.columns:
        found += outliers(profile.table, column, settings)
        found += rare_categories(profile.table, column, settings)
    if previous is not None:
        found += against(profile, previous, settings)
    return found


def outliers(table: str, column: ColumnProfile, settings: AnomalySpec) -> list[Anomaly]:
    """A column's outliers by IQR fences and by robust z-score (MAD), each reported when
    their share of the non-null values is over ``settings.outlier_share``."""
    values = column.count - column.nulls
    if values <= 0:
        return []
    found = []
    for method, count in (("iqr", column.outliers_iqr), ("mad", column.outliers_mad)):
        share = (count or 0) / values
        if not count or share <= settings.outlier_share:
            continue
        rule = _iqr_rule(column, settings) if method == "iqr" else _mad_rule(column, settings)
        found.append(
            Anomaly(
                kind="outliers",
                table=table,
                column=column.name,
                method=method,
                value=share,
                threshold=settings.outlier_share,
                message=f"{column.name}: {count:,} of {values:,} values ({percent(share)}) "
                f"are outliers {rule}",
            )
        )
    return found


def _iqr_rule(column: ColumnProfile, settings: AnomalySpec) -> str:
    k = f"{settings.iqr_k:g}"
    q1, q3 = column.quantiles.get("0.25"), column.quantiles.get("0.75")
    if column.pii or q1 is None or q3 is None:  # the fences would tell a PII column's values
        return f"outside the IQR fences (Q1 - {k}*IQR, Q3 + {k}*IQR)"
    low, high = q1 - settings.iqr_k * (q3 - q1), q3 + settings.iqr_k * (q3 - q1)
    return f"outside the IQR fences [{_num(column, low)}, {_num(column, high)}] (k = {k})"


def _mad_rule(column: ColumnProfile, settings: AnomalySpec) -> str:
    z = f"{settings.robust_z:g}"
    if column.pii or column.median is None or column.mad is None:
        return f"by robust z-score over {z}"
    return (
        f"by robust z-score over {z} (median {_num(column, column.median)}, MAD {column.mad:.4g})"
    )


def rare_categories(table: str, column: ColumnProfile, settings: AnomalySpec) -> list[Anomaly]:
    """The categories of a column with few distinct values (at most
    ``settings.rare_max_distinct``) that hold less than ``settings.rare_share`` of its
    values: one anomaly per column, naming them (never for a PII column)."""
    values = column.count - column.nulls
    distinct = column.distinct if column.distinct is not None else len(column.top)
    if column.pii or values <= 0 or not 2 <= distinct <= settings.rare_max_distinct:
        return []
    rare = [v for v in column.top if v.count / values < settings.rare_share]
    if not rare:
        return []
    share = sum(v.count for v in rare) / values
    named = ", ".join(f"{v.value!r} ({v.count:,})" for v in rare[:_NAMED])
    more = f" and {len(rare) - _NAMED} more" if len(rare) > _NAMED else ""
    categories = "category" if len(rare) == 1 else "categories"
    return [
        Anomaly(
            kind="rare_category",
            table=table,
            column=column.name,
            method="share",
            value=share,
            threshold=settings.rare_share,
            message=f"{column.name}: {len(rare)} rare {categories} (each under "
            f"{percent(settings.rare_share)} of {values:,} values): {named}{more}",
        )
    ]


def against(profile: TableProfile, previous: TableProfile, settings: AnomalySpec) -> list[Anomaly]:
    """Row count, schema, null rate and drift anomalies of ``profile`` against
    ``previous``."""
    table = profile.table
    found = _row_count(profile, previous, settings)
    before = {c.name: c for c in previous.columns}
    now = {c.name: c for c in profile.columns}
    for name in before.keys() - now.keys():
        found.append(_schema(table, name, f"column {name} was removed"))
    for column in profile.columns:
        old = before.get(column.name)
        if old is None:
            found.append(_schema(table, column.name, f"column {column.name} is new"))
            continue
        if old.type != column.type:
            found.append(
                _schema(
                    table,
                    column.name,
                    f"column {column.name} changed type from {old.type} to {column.type}",
                )
            )
            continue  # values of another type: their rates and distribution do not compare
        if profile.rows and previous.rows:
            found += _null_rate(table, column, old, settings)
            # A key's values are new ones by design (ids counting up): they always drift.
            if [column.name] not in profile.candidate_keys:
                found += _distribution(table, column, old, settings)
    return found


def _row_count(
    profile: TableProfile, previous: TableProfile, settings: AnomalySpec
) -> list[Anomaly]:
    # Against an empty table every new row is a change: measured against one row.
    change = abs(profile.rows - previous.rows) / max(previous.rows, 1)
    if change <= settings.row_count_change:
        return []
    when = datetime.fromtimestamp(previous.taken_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        Anomaly(
            kind="row_count",
            table=profile.table,
            method="change",
            value=change,
            threshold=settings.row_count_change,
            message=f"{profile.rows:,} rows, {percent(change)} "
            f"{'more' if profile.rows > previous.rows else 'fewer'} than the "
            f"{previous.rows:,} of the previous profile ({when})",
        )
    ]


def _schema(table: str, column: str, message: str) -> Anomaly:
    return Anomaly(
        kind="schema",
        table=table,
        column=column,
        method="columns",
        value=1.0,
        threshold=0.0,
        message=message,
    )


def _null_rate(
    table: str, column: ColumnProfile, old: ColumnProfile, settings: AnomalySpec
) -> list[Anomaly]:
    change = column.null_rate - old.null_rate
    if abs(change) <= settings.null_rate_change:
        return []
    return [
        Anomaly(
            kind="null_rate",
            table=table,
            column=column.name,
            method="change",
            value=abs(change),
            threshold=settings.null_rate_change,
            message=f"{column.name}: {percent(column.null_rate)} null, was "
            f"{percent(old.null_rate)}",
        )
    ]


def _distribution(
    table: str, column: ColumnProfile, old: ColumnProfile, settings: AnomalySpec
) -> list[Anomaly]:
    what: str
    if column.histogram is not None and old.histogram is not None:
        buckets = _drift.histogram_buckets(column.histogram, old.histogram)
        if buckets is None:
            return []
        actual, expected = buckets
        what = f"{len(old.histogram.counts)} bins of the previous histogram"
        extra = f"; KS D = {_drift.ks(actual, expected):.3f}"
    else:
        categories = _drift.category_buckets(column, old)
        if categories is None:
            return []
        _, actual, expected = categories
        what = f"{len(actual) - 1} top values and the rest"
        extra = ""
    value = _drift.psi(actual, expected)
    if value <= settings.psi:
        return []
    return [
        Anomaly(
            kind="drift",
            table=table,
            column=column.name,
            method="psi",
            value=value,
            threshold=settings.psi,
            message=f"{column.name}: its distribution drifted from the previous profile "
            f"(PSI {value:.3f} over {settings.psi:g}, over {what}{extra})",
        )
    ]


def percent(share: float) -> str:
    """A share as people read it: '<0.1%', '4.2%', '37%'."""
    if share == 0:
        return "0%"
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"


def _num(column: ColumnProfile, value: float) -> str:
    """A fence or median as the user reads the column: a date for a temporal column."""
    if column.histogram is not None and column.histogram.kind == "temporal":
        try:
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, OSError, ValueError):
            return f"{value:.6g}"
    return f"{value:.6g}"
