"""State: run history and the dead-letter queue, in SQLite under AOETL_HOME."""

from __future__ import annotations

from .store import DlqEntry, RunRecord, StateStore

__all__ = ["DlqEntry", "RunRecord", "StateStore"]
