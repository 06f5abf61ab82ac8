"""What profiling, anomaly detection, scoring, checks and sampling return: typed, and plain
JSON through ``model_dump(mode="json")`` (stored in the state DB, printed by ``--json``,
embedded in the HTML report) and back through ``model_validate``.

A profile never holds a value of a column suspected of personal data: its ``top`` values,
``min`` and ``max`` are left empty, so a report, an event or the state DB does not leak the
data it describes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..spec import Depth

# What a text column's values look like, by the share of sampled values matching a pattern
# (the first five are matched by pattern; the others by length and cardinality).
SEMANTIC_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "url",
    "uuid",
    "ip_address",
    "date_string",  # text that parses as a date or timestamp
    "numeric_string",  # text that parses as a number
    "category",  # few distinct values
    "free_text",  # long, varied text (words and spaces)
    "text",  # none of the above
)
DIMENSIONS: tuple[str, ...] = ("completeness", "uniqueness", "validity", "consistency", "freshness")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Histogram(_Model):
    """Equal-width bins: ``edges`` has one more entry than ``counts``. A temporal column's
    edges are epoch seconds."""

    edges: list[float]
    counts: list[int]
    kind: Literal["numeric", "temporal"] = "numeric"


class ValueCount(_Model):
    """One of a column's most frequent values, as text, with how often it occurs."""

    value: str
    count: int


class ColumnProfile(_Model):
    """One column's statistics. Numbers are None where they do not apply to its type."""

    name: str
    type: str  # the DuckDB type
    count: int  # rows
    nulls: int
    distinct: int | None = None
    distinct_exact: bool = False
    # Numbers as numbers; dates, timestamps and text as ISO or plain text. Empty for PII.
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    median: float | None = None
    # "0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99" -> value (numeric columns;
    # temporal columns in epoch seconds).
    quantiles: dict[str, float] = Field(default_factory=dict)
    histogram: Histogram | None = None
    top: list[ValueCount] = Field(default_factory=list)  # most frequent first; empty for PII
    length_min: int | None = None  # text columns: lengths in characters
    length_max: int | None = None
    length_mean: float | None = None
    semantic: str | None = None  # one of SEMANTIC_TYPES, for text columns
    semantic_share: float | None = None  # share of sampled non-null values that fit it
    pii: str | None = None  # the kind of personal data suspected (analysis.pii), or None
    # Outliers (numeric columns): by IQR fences and by robust z-score (MAD), with the
    # settings used; counts over every non-null value.
    mad: float | None = None
    outliers_iqr: int | None = None
    outliers_mad: int | None = None

    @property
    def null_rate(self) -> float:
        return self.nulls / self.count if self.count else 0.0

    @property
    def numeric(self) -> bool:
        return self.histogram is not None and self.histogram.kind == "numeric"


class Correlation(_Model):
    """Pearson's r between two numeric columns (deep profiles)."""

    a: str
    b: str
    r: float


class TableProfile(_Model):
    """A table's profile: what ``aoetl profile`` prints and the state DB keeps per run."""

    resource: str  # the history key: '<source or target display>#<table>'
    table: str
    source: str  # where it was read (redacted display)
    depth: Depth
    rows: int
    columns: list[ColumnProfile]
    # Records the source's reader could not read (a ragged or undecodable line): not in
    # ``rows`` and not profiled; ``aoetl run`` would quarantine them.
    rejected: int = 0
    duplicate_rows: int | None = None  # rows beyond the first of each identical group
    duplicates_exact: bool = False
    candidate_keys: list[list[str]] = Field(default_factory=list)
    correlations: list[Correlation] | None = None  # deep only
    taken_at: float  # epoch seconds
    duration_s: float = 0.0
    run_id: str | None = None  # the run whose staged rows were profiled, if any

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)


class Anomaly(_Model):
    """Something unusual: in one column (outliers, rare categories) or against the previous
    profile of the same resource (row count, null rate, drift). One line, no PII value."""

    kind: Literal["outliers", "rare_category", "row_count", "null_rate", "drift", "schema"]
    table: str
    column: str | None = None
    method: str  # iqr | mad | share | change | psi | ks | columns
    value: float  # what was measured (a count, a share, a PSI)
    threshold: float  # the setting it was compared with
    message: str


class Score(_Model):
    """The quality score, 0 to 100, with its breakdown. A dimension that could not be
    measured is None and its weight is shared among the others (docs/quality.md)."""

    table: str
    total: float
    dimensions: dict[str, float | None]  # each of DIMENSIONS -> 0..100 or None
    weights: dict[str, float]  # the weights used, summing to 1 over measured dimensions
    columns: dict[str, float] = Field(default_factory=dict)  # per column, 0..100
    notes: list[str] = Field(default_factory=list)  # what lowered it, one line each


class ScorePoint(_Model):
    """One earlier score of the same resource: the trend."""

    taken_at: float
    total: float
    run_id: str | None = None


class QualityReport(_Model):
    """One table's profile, its anomalies and score, and the scores before it."""

    profile: TableProfile
    anomalies: list[Anomaly] = Field(default_factory=list)
    score: Score
    history: list[ScorePoint] = Field(default_factory=list)  # oldest first, this one last


class CheckResult(_Model):
    """How one check did on one table of a run."""

    name: str
    check: str
    table: str
    columns: list[str] = Field(default_factory=list)
    severity: Literal["warn", "quarantine", "fail"]
    status: Literal["passed", "warned", "quarantined", "failed"]
    failing: int = 0  # rows that failed it (a table check: 1 when it failed)
    checked: int = 0  # rows it looked at
    message: str  # one line: what was found, and what happened


class SampleResult(_Model):
    """What ``aoetl sample`` wrote."""

    output: str
    table: str
    rows: int
    method: Literal["random", "head", "stratified"]
    seed: int | None = None
    rows_seen: int | None = None  # rows of the source read to draw it (None: not counted)
    # column -> how it was anonymised: 'hash', 'mask' or 'fake' (with the PII kind)
    anonymized: dict[str, str] = Field(default_factory=dict)
    irreversible: bool = False  # True when every anonymised column was masked
