"""State: run history, the dead-letter queue, and quality history (profiles, scores, check
results), in SQLite under AOETL_HOME."""

from __future__ import annotations

from .quality import ProfileRecord, QualityHistory
from .store import DlqEntry, RunRecord, StateStore

__all__ = ["DlqEntry", "ProfileRecord", "QualityHistory", "RunRecord", "StateStore"]
