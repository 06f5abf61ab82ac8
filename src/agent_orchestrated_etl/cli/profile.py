"""``aoetl profile``: statistics, anomalies and the quality score of a source's tables."""

from __future__ import annotations
