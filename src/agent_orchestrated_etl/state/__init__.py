"""State: run history, the dead-letter queue, quality history (profiles, scores, check
results), the audit log with the agents' track record, and memory (sources and runs
remembered): in SQLite under AOETL_HOME, or in the PostgreSQL database AOETL_STATE_URL names,
which workers on several machines share (see docs/state.md)."""

from __future__ import annotations

from .audit import AgentStats, AuditEntry, AuditLog, CallRecord
from .memory import MemoryRecord, MemoryStore
from .quality import ProfileRecord, QualityHistory
from .store import DlqEntry, RunRecord, StateStore

__all__ = [
    "AgentStats",
    "AuditEntry",
    "AuditLog",
    "CallRecord",
    "DlqEntry",
    "MemoryRecord",
    "MemoryStore",
    "ProfileRecord",
    "QualityHistory",
    "RunRecord",
    "StateStore",
]
