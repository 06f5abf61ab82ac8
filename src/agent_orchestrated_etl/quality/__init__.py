"""Data quality: profiles, anomalies, the quality score, checks, the HTML report, and
anonymised samples (``aoetl profile``, ``aoetl sample``, ``checks:`` and ``quality:``).

Everything is computed in DuckDB over a :class:`~..data.Relation`, so it works alike on a
source (files, S3, databases, REST) and on the rows a run staged.
"""

from __future__ import annotations

from .types import (
    DIMENSIONS,
    SEMANTIC_TYPES,
    Anomaly,
    CheckResult,
    ColumnProfile,
    Correlation,
    Histogram,
    QualityReport,
    SampleResult,
    Score,
    ScorePoint,
    TableProfile,
    ValueCount,
)

__all__ = [
    "DIMENSIONS",
    "SEMANTIC_TYPES",
    "Anomaly",
    "CheckResult",
    "ColumnProfile",
    "Correlation",
    "Histogram",
    "QualityReport",
    "SampleResult",
    "Score",
    "ScorePoint",
    "TableProfile",
    "ValueCount",
]
