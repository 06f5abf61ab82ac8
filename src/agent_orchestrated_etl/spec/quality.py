"""Data checks and the quality settings of a pipeline: ``checks:`` and ``quality:``."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import duckdb
from pydantic import Field, field_validator, model_validator

from ..errors import one_line
from ..settings import DUCKDB_OFFLINE
from ._model import Model

CheckKind = Literal[
    "not_null", "unique", "accepted_values", "range", "regex", "row_count", "freshness", "sql"
]
# Checks that judge each row: their failing rows can be quarantined. The others judge a table.
ROW_CHECKS: tuple[str, ...] = ("not_null", "unique", "accepted_values", "range", "regex", "sql")
Severity = Literal["warn", "quarantine", "fail"]
Depth = Literal["quick", "standard", "deep"]
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_s(text: str | float) -> float:
    """Seconds in ``text``: a number of seconds, or a number with s, m, h, d or w (``24h``)."""
    if isinstance(text, int | float):
        return float(text)
    found = _DURATION.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration: write seconds, or e.g. 30m, 24h, 7d")
    return float(found.group(1)) * _UNIT_S[(found.group(2) or "s").lower()]


@lru_cache(maxsize=256)
def _re2_error(pattern: str) -> str | None:
    """Why DuckDB's RE2 (which runs the check) refuses ``pattern``, or None."""
    with duckdb.connect(config=DUCKDB_OFFLINE) as con:
        try:
            con.execute("SELECT regexp_full_match('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            return one_line(str(exc)).split("Error: ", 1)[-1]
    return None


def _positive(age: str | float, what: str) -> float:
    seconds = duration_s(age)
    if seconds <= 0:
        raise ValueError(f"{what}: 'max_age' must be more than 0, not {age!r}; e.g. 24h")
    return seconds


def _order_key(bound: float | str) -> tuple[int, Any] | None:
    """A bound as something to compare with another: a number, or an ISO date or timestamp
    (None: text, or anything else the column's type decides on)."""
    if isinstance(bound, bool):
        return None
    if isinstance(bound, int | float):
        return (0, bound)
    try:
        return (0, float(bound))
    except ValueError:
        pass
    try:
        return (1, datetime.fromisoformat(bound.strip()).replace(tzinfo=None))
    except ValueError:
        return None


def _above(low: float | str | None, high: float | str | None) -> bool:
    """Whether ``low`` is surely above ``high`` (both numbers, or both dates)."""
    if low is None or high is None:
        return False
    a, b = _order_key(low), _order_key(high)
    return a is not None and b is not None and a[0] == b[0] and a[1] > b[1]


class CheckSpec(Model):
    """A data check, run on the rows a run staged, before they are committed.

    Row checks (not_null, unique, accepted_values, range, regex, sql) judge each row; table
    checks (row_count, freshness) judge the staged table as a whole.
    """

    check: CheckKind = Field(description="Which check.")
    name: str | None = Field(
        None,
        description="The check's name in results, events and the DLQ (default: kind, table "
        "and columns, e.g. not_null:orders.id).",
        max_length=200,
    )
    table: str | None = Field(
        None, description="The table it applies to (default: every table of the pipeline)."
    )
    columns: tuple[str, ...] = Field(
        (),
        description="Columns it applies to: each column (not_null, accepted_values, range, "
        "regex), the combination (unique), or the time column (freshness: one).",
    )
    values: tuple[Any, ...] = Field((), description="accepted_values: the values allowed.")
    min: int | float | str | None = Field(
        None, description="range: the smallest value allowed; row_count: the fewest rows."
    )
    max: int | float | str | None = Field(
        None, description="range: the largest value allowed; row_count: the most rows."
    )
    pattern: str | None = Field(
        None, description="regex: a pattern each value matches in full (RE2 syntax)."
    )
    max_age: str | float | None = Field(
        None,
        description="freshness: how old the newest value of the time column may be "
        "(seconds, or 30m, 24h, 7d).",
    )
    sql: str | None = Field(
        None,
        description="sql: a DuckDB SQL predicate every row satisfies, e.g. "
        "\"amount >= 0 OR status = 'refund'\".",
    )
    severity: Severity = Field(
        "fail",
        description="warn: report it; quarantine: failing rows go to the DLQ and the rest "
        "load (row checks only); fail: the run fails and the target is unchanged.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        # `column: id` for one column, `expression:` for `sql:`.
        if isinstance(data, dict):
            data = dict(data)
            if "column" in data and "columns" not in data:
                data["columns"] = [data.pop("column")]
            if "expression" in data and "sql" not in data:
                data["sql"] = data.pop("expression")
            if isinstance(data.get("columns"), str):
                data["columns"] = [c.strip() for c in data["columns"].split(",") if c.strip()]
        return data

    @model_validator(mode="after")
    def _complete(self) -> CheckSpec:
        kind = self.check
        needs_columns = kind in ("not_null", "unique", "accepted_values", "range", "regex")
        if needs_columns and not self.columns:
            raise ValueError(f"check '{kind}' needs 'columns' (or 'column')")
        if kind == "freshness" and len(self.columns) != 1:
            raise ValueError("check 'freshness' needs one time column in 'column'")
        if kind == "accepted_values" and not self.values:
            raise ValueError("check 'accepted_values' needs 'values': the values allowed")
        if kind == "accepted_values" and any(v is None for v in self.values):
            raise ValueError(
                "check 'accepted_values': 'values' holds null: a NULL passes every check but "
                "not_null, so leave it out (and add a not_null check to refuse NULLs)"
            )
        if kind in ("range", "row_count") and self.min is None and self.max is None:
            raise ValueError(f"check '{kind}' needs 'min', 'max' or both")
        if kind == "row_count":
            for bound in (self.min, self.max):
                if bound is not None and (isinstance(bound, str) or bound != int(bound)):
                    raise ValueError("check 'row_count' takes whole numbers for 'min' and 'max'")
        if kind == "regex":
            if not self.pattern:
                raise ValueError("check 'regex' needs 'pattern'")
            error = _re2_error(self.pattern)
            if error is not None:
                raise ValueError(
                    f"check 'regex': pattern {self.pattern!r} is not valid RE2: {error}"
                )
        if kind == "freshness":
            if self.max_age is None:
                raise ValueError("check 'freshness' needs 'max_age', e.g. 24h")
            _positive(self.max_age, "check 'freshness'")
        if kind in ("range", "row_count") and _above(self.min, self.max):
            raise ValueError(
                f"check '{kind}': 'min' ({self.min!r}) is above 'max' ({self.max!r}), so "
                "nothing passes; swap them"
            )
        if kind == "sql" and not (self.sql or "").strip():
            raise ValueError("check 'sql' needs 'sql': a predicate every row satisfies")
        if kind == "sql" and ";" in (self.sql or ""):
            raise ValueError("check 'sql': give one predicate, without ';'")
        if self.severity == "quarantine" and kind not in ROW_CHECKS:
            raise ValueError(
                f"check '{kind}' judges the whole table, so it cannot quarantine rows: "
                "use severity warn or fail"
            )
        return self

    @property
    def label(self) -> str:
        """The check's name: given, or kind:table.columns (``*`` for every table)."""
        if self.name:
            return self.name
        cols = ",".join(self.columns)
        where = self.table or "*"
        return f"{self.check}:{where}.{cols}" if cols else f"{self.check}:{where}"

    def applies_to(self, table: str) -> bool:
        """Whether the check runs on ``table``."""
        return self.table is None or self.table == table


class AnomalySpec(Model):
    """Thresholds for anomalies: per column (outliers, rare categories) and against the
    previous profile of the same table (row count, null rates, distribution drift)."""

    iqr_k: float = Field(
        1.5, gt=0, description="A value outside [Q1 - k*IQR, Q3 + k*IQR] is an outlier."
    )
    robust_z: float = Field(
        3.5,
        gt=0,
        description="A value whose robust z-score (0.6745 * |x - median| / MAD) is over "
        "this is an outlier.",
    )
    outlier_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Report a column's outliers only when more than this share of its "
        "values are outliers (0: any).",
    )
    rare_share: float = Field(
        0.005,
        ge=0,
        le=1,
        description="A category holding less than this share of a column's values is rare.",
    )
    rare_max_distinct: int = Field(
        50, ge=2, description="Only columns with at most this many distinct values have categories."
    )
    row_count_change: float = Field(
        0.5,
        ge=0,
        description="Report when the row count moves by more than this share from the "
        "previous profile.",
    )
    null_rate_change: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Report when a column's null rate moves by more than this (absolute) "
        "from the previous profile.",
    )
    psi: float = Field(
        0.2,
        ge=0,
        description="Report distribution drift when the population stability index against "
        "the previous profile is over this.",
    )


class QualitySpec(Model):
    """Profiling of what each run loads, with anomalies and the quality score."""

    profile: Literal["off", "quick", "standard", "deep"] = Field(
        "off",
        description="Profile each staged table before the commit and store its profile, "
        "anomalies and quality score with the run (off: only checks run).",
    )
    anomalies: AnomalySpec = Field(
        default_factory=AnomalySpec, description="Thresholds for anomalies."
    )
    max_age: str | float | None = Field(
        None,
        description="Score freshness: the newest value of the table's time column may be "
        "this old (seconds, or 30m, 24h, 7d). Unset: freshness is scored only by freshness "
        "checks.",
    )

    @field_validator("max_age")
    @classmethod
    def _age(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            _positive(value, "quality")
        return value
