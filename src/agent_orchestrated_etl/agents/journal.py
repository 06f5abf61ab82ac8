"""Writes the Coordinator's decisions and call records to the state DB off the work's path.

A selection is recorded after its work, and a failing call is recorded before its error
reaches the executor's retry and breaker: waiting there on the state DB (a transaction, an
fsync, another process's lock) would delay the retry's view of the endpoint's health. So the
records are queued and a writer thread stores them, a batch per transaction, at most
``interval`` seconds after they were made; :meth:`flush` (at the end of a run or a task)
waits until everything queued is stored.
"""

from __future__ import annotations

import logging
import threading

from ..state import AuditEntry, CallRecord, StateStore

log = logging.getLogger("aoetl.audit")


class AuditJournal:
    """Queues audit entries and call records for ``store``; a daemon thread writes them."""

    def __init__(self, store: StateStore, *, interval: float = 0.25) -> None:
        self.store = store
        self.interval = interval
        self._entries: list[AuditEntry] = []
        self._calls: list[CallRecord] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._writing = False
        self._thread: threading.Thread | None = None

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._start()

    def record_call(self, agent: str, action: str, *, ok: bool, rows: int, seconds: float) -> None:
        with self._lock:
            self._calls.append(CallRecord(agent, action, ok, rows, seconds))
            self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="aoetl-audit", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._write():
                return  # nothing left: the thread ends; the next record starts another

    def _write(self) -> bool:
        with self._lock:
            entries, calls = self._entries, self._calls
            if not entries and not calls:
                self._idle.notify_all()
                self._thread = None
                return False
            self._entries, self._calls = [], []
            self._writing = True
        try:
            self.store.audit.record_many(entries, calls)
        except Exception as exc:  # the audit must never fail the work it describes
            log.warning("could not write %d audit records: %s", len(entries) + len(calls), exc)
        finally:
            with self._lock:
                self._writing = False
                self._idle.notify_all()
        return True

    def flush(self, timeout: float = 30.0) -> None:
        """Store everything recorded so far (from this thread if the writer is not running)."""
        with self._lock:
            pending = bool(self._entries or self._calls or self._writing)
        if not pending:
            return
        self._wake.set()
        with self._lock:
            self._idle.wait_for(
                lambda: not (self._entries or self._calls or self._writing), timeout=timeout
            )
