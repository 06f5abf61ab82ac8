"""The quality score: five dimensions from 0 to 100, their weighted total, a score per
column, and notes naming what lowered it most. Every formula is in docs/quality.md.

It is computed from a profile, its anomalies and the run's check results only: scoring
never reads the data.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .anomalies import percent
from .types import DIMENSIONS, Anomaly, CheckResult, ColumnProfile, Score, TableProfile

WEIGHTS: dict[str, float] = {
    "completeness": 0.30,
    "uniqueness": 0.20,
    "validity": 0.25,
    "consistency": 0.15,
    "freshness": 0.10,
}
# Text whose values the profile matches by pattern: their share that fits is their validity.
PATTERNED = ("email", "phone", "url", "uuid", "ip_address", "date_string", "numeric_string")
# Numbers or dates stored as text count half towards consistency.
AS_TEXT = ("numeric_string", "date_string")
# Against the previous profile: a column with one of these anomalies is not consistent.
CHANGES = ("drift", "null_rate", "schema")
_CODE_NAME = re.compile(
    r"(^|[^a-z])(id|code|zip|zipcode|postcode|postal|phone|number|no|sku|ref|iban)($|[^a-z])"
)
_TIME_NAMES = ("updated", "modified", "changed", "loaded", "ingested", "event", "created")
_MAX_NOTES = 5


@dataclass
class _Dimension:
    value: float | None = None  # 0..1, None when not measured
    causes: list[tuple[float, str]] = field(default_factory=list)  # (share lost, why)


def score(
    profile: TableProfile,
    anomalies: Sequence[Anomaly],
    *,
    checks: Sequence[CheckResult] = (),
    max_age_s: float | None = None,
    now: float | None = None,
) -> Score:
    """``profile``'s quality score, with its ``anomalies`` (against the previous profile
    too) and the ``checks`` that ran on the same table. ``max_age_s`` is how old the newest
    value of the table's time column may be; freshness is not measured without it and
    without a freshness check."""
    checks = [c for c in checks if c.table == profile.table]
    mine = [a for a in anomalies if a.table == profile.table]
    dims = {
        "completeness": _completeness(profile),
        "uniqueness": _uniqueness(profile, checks),
        "validity": _validity(profile, checks),
        "consistency": _consistency(profile, mine),
        "freshness": _freshness(profile, checks, max_age_s, time.time() if now is None else now),
    }
    measured = {k: d.value for k, d in dims.items() if d.value is not None}
    weight_sum = sum(WEIGHTS[k] for k in measured)
    weights = {k: (WEIGHTS[k] / weight_sum if k in measured else 0.0) for k in DIMENSIONS}
    total = sum(weights[k] * v for k, v in measured.items()) * 100 if measured else 0.0
    notes = _notes(dims, weights)
    if not measured:
        notes = ["nothing could be measured: the table has no rows and no checks"]
    return Score(
        table=profile.table,
        total=_kept(total),
        dimensions={k: _percent_points(d.value) for k, d in dims.items()},
        weights={k: round(w, 4) for k, w in weights.items()},
        columns=_columns(profile, mine),
        notes=notes,
    )


def _percent_points(value: float | None) -> float | None:
    return None if value is None else _kept(value * 100)


def _kept(points: float) -> float:
    """``points`` to one decimal; a score that lost any point never rounds up to 100 (a sum
    of weights that is 1 but for float error has lost nothing)."""
    return min(round(points, 1), 99.9) if points < 100 - 1e-9 else 100.0


def _completeness(profile: TableProfile) -> _Dimension:
    cells = sum(c.count for c in profile.columns)
    if not cells:
        return _Dimension()
    nulls = sum(c.nulls for c in profile.columns)
    causes = [
        (c.nulls / cells, f"{c.name} is {percent(c.null_rate)} null")
        for c in profile.columns
        if c.nulls
    ]
    return _Dimension(1 - nulls / cells, causes)


def _uniqueness(profile: TableProfile, checks: Sequence[CheckResult]) -> _Dimension:
    parts: list[tuple[float, str]] = []  # (unique share, why it is not 1)
    if profile.rows and profile.duplicate_rows is not None:
        dup = profile.duplicate_rows / profile.rows
        parts.append((1 - dup, f"{profile.duplicate_rows:,} duplicate rows ({percent(dup)})"))
    keys = [c for c in checks if c.check == "unique" and c.checked]
    for c in keys:
        why = f"check {c.name}: {c.failing:,} rows repeat a key"
        parts.append((1 - min(c.failing, c.checked) / c.checked, why))
    if not keys and profile.candidate_keys and profile.rows:
        parts.append((1.0, ""))  # a candidate key is unique by definition
    if not parts:
        return _Dimension()
    worst = min(parts, key=lambda p: p[0])
    return _Dimension(worst[0], [(1 - worst[0], worst[1])] if worst[0] < 1 else [])


def _validity(profile: TableProfile, checks: Sequence[CheckResult]) -> _Dimension:
    columns = [(c, v) for c in profile.columns if (v := _column_validity(c)) is not None]
    row_checks = [c for c in checks if c.check not in ("unique", "freshness") and c.checked]
    if not columns and not row_checks and not profile.rejected:
        return _Dimension()
    value = 1.0
    causes: list[tuple[float, str]] = []
    if profile.rejected:  # records the reader could not read at all are the least valid
        read = profile.rejected / (profile.rows + profile.rejected)
        value *= 1 - read
        causes.append(
            (read, f"{profile.rejected:,} of {profile.rows + profile.rejected:,} records "
                   "could not be read (aoetl run would quarantine them)")
        )  # fmt: skip
    if columns:
        mean = sum(v for _, v in columns) / len(columns)
        value *= mean
        causes += [((1 - v) / len(columns), _validity_cause(c, v)) for c, v in columns if v < 1]
    if row_checks:
        passing = [_passing(c) for c in row_checks]
        mean = sum(passing) / len(passing)
        for c, p in zip(row_checks, passing, strict=True):
            if p < 1:
                why = f"check {c.name}: " + (
                    c.message
                    if c.check == "row_count"
                    else f"{c.failing:,} of {c.checked:,} failing"
                )
                causes.append(((1 - p) / len(passing) * value, why))
        value *= mean
    return _Dimension(value, causes)


def _passing(check: CheckResult) -> float:
    """A row check's share of passing rows; a table check (row_count) passes or fails as a
    whole, whatever ``checked`` an older run stored."""
    if check.check == "row_count":
        return 0.0 if check.failing else 1.0
    return 1 - min(check.failing, check.checked) / check.checked


def _column_validity(column: ColumnProfile) -> float | None:
    """The share of a column's values that look valid: text of a patterned type, the share
    that fits it; numbers, the share that are not outliers (robust z, or IQR when the MAD is
    0); None when neither applies."""
    values = column.count - column.nulls
    if values <= 0:
        return None
    if column.semantic in PATTERNED and column.semantic_share is not None:
        return max(0.0, min(1.0, column.semantic_share))
    if column.histogram is not None and column.histogram.kind == "numeric":
        count = column.outliers_mad if column.mad else column.outliers_iqr
        if count is not None:
            return 1 - min(count, values) / values
    return None


def _validity_cause(column: ColumnProfile, valid: float) -> str:
    if column.semantic in PATTERNED:
        kind = column.semantic.replace("_", " ") if column.semantic else ""
        return f"{column.name}: {percent(1 - valid)} of values do not look like {kind}"
    return f"{column.name}: {percent(1 - valid)} of values are outliers"


def _consistency(profile: TableProfile, anomalies: Sequence[Anomaly]) -> _Dimension:
    changed: dict[str, str] = {}
    for a in anomalies:
        if a.kind in CHANGES and a.column is not None:
            changed.setdefault(a.column, a.message)
    names = [c.name for c in profile.columns] + [n for n in changed if not profile.column(n)]
    if not names or (not profile.rows and not changed):
        return _Dimension()
    lost: list[tuple[float, str]] = []
    for name in names:
        column = profile.column(name)
        if name in changed:
            lost.append((1.0, changed[name]))
        elif column is not None and _as_text(column):
            what = "numbers" if column.semantic == "numeric_string" else "dates"
            lost.append((0.5, f"{name} holds {what} stored as text ({column.type})"))
    value = 1 - sum(share for share, _ in lost) / len(names)
    return _Dimension(value, [(share / len(names), why) for share, why in lost])


def _as_text(column: ColumnProfile) -> bool:
    """Numbers or dates stored as text; not codes, whose digits are text by design (a zip
    code or a phone number keeps its leading zeros only as text)."""
    if column.semantic not in AS_TEXT or column.pii:
        return False
    return _CODE_NAME.search(column.name.lower()) is None


def _freshness(
    profile: TableProfile, checks: Sequence[CheckResult], max_age_s: float | None, now: float
) -> _Dimension:
    parts: list[tuple[float, str]] = []
    for c in checks:
        if c.check == "freshness":
            parts.append((1.0 if c.status == "passed" else 0.0, f"check {c.name}: {c.message}"))
    newest = _newest(profile)
    if max_age_s is not None and max_age_s > 0 and newest is not None:
        name, at = newest
        age = max(0.0, now - at)
        # Within max_age it is fresh; past it, freshness falls as max_age / age.
        part = 1.0 if age <= max_age_s else max_age_s / age
        parts.append((part, f"newest {name} is {_duration(age)} old (max {_duration(max_age_s)})"))
    if not parts:
        return _Dimension()
    value = min(p for p, _ in parts)
    return _Dimension(value, [(1 - p, why) for p, why in parts if p < 1])


def _newest(profile: TableProfile) -> tuple[str, float] | None:
    """The table's time column and its newest value (epoch seconds): a temporal column
    named like an update or event time first, then the one with the newest value."""
    found: list[tuple[int, float, str]] = []
    for c in profile.columns:
        at = _max_epoch(c)
        if at is None:
            continue
        lowered = c.name.lower()
        rank = next((i for i, n in enumerate(_TIME_NAMES) if n in lowered), len(_TIME_NAMES))
        found.append((rank, -at, c.name))
    if not found:
        return None
    _, at, name = min(found)
    return name, -at


def _max_epoch(column: ColumnProfile) -> float | None:
    if column.histogram is None or column.histogram.kind != "temporal" or column.pii:
        return None
    if isinstance(column.max, str):
        try:
            parsed = datetime.fromisoformat(column.max)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:  # DuckDB's TIMESTAMP: epoch() reads it as UTC too
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    return column.histogram.edges[-1] if column.histogram.edges else None


def _columns(profile: TableProfile, anomalies: Sequence[Anomaly]) -> dict[str, float]:
    """Each column's score: its completeness (1 - null rate), validity and consistency,
    with the table weights of those three re-normalised over the ones measured."""
    changed = {a.column for a in anomalies if a.kind in CHANGES and a.column}
    scores = {}
    for c in profile.columns:
        if not c.count:
            continue
        parts = {"completeness": 1 - c.null_rate, "validity": _column_validity(c)}
        if c.name in changed:
            parts["consistency"] = 0.0
        else:
            parts["consistency"] = 0.5 if _as_text(c) else 1.0
        measured = {k: v for k, v in parts.items() if v is not None}
        weight = sum(WEIGHTS[k] for k in measured)
        scores[c.name] = round(sum(WEIGHTS[k] * v for k, v in measured.items()) / weight * 100, 1)
    return scores


def _notes(dims: dict[str, _Dimension], weights: dict[str, float]) -> list[str]:
    """What lowered the total most, one line each: the points each cause cost."""
    lines = []
    for name, dim in dims.items():
        for share, why in dim.causes:
            points = share * weights[name] * 100
            if points >= 0.05 and why:
                lines.append((points, f"{name} -{points:.1f}: {why}"))
    lines.sort(key=lambda p: -p[0])
    return [text for _, text in lines[:_MAX_NOTES]]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
