"""State: run history, the dead-letter queue, quality history (profiles, scores, check
results), and the audit log with the agents' track record, in SQLite under AOETL_HOME."""

from __future__ import annotations

from .audit import AgentStats, AuditEntry, AuditLog
from .quality import ProfileRecord, QualityHistory
from .store import DlqEntry, RunRecord, StateStore

__all__ = [
    "AgentStats",
    "AuditEntry",
    "AuditLog",
    "DlqEntry",
    "ProfileRecord",
    "QualityHistory",
    "RunRecord",
    "StateStore",
]
