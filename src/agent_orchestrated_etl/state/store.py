"""Run history and the dead-letter queue, in SQLite under AOETL_HOME.

The standard library's sqlite3, not SQLAlchemy: importing SQLAlchemy cost 0.16 s on every
CLI run, a sixth of the recovery-time budget. The SQL here is plain; a shared Postgres state
store, when it comes, can take the same statements through psycopg.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import redact_uri
from ._masking import masked, masked_spec
from .audit import SCHEMA as AUDIT_SCHEMA
from .audit import AuditLog
from .memory import SCHEMA as MEMORY_SCHEMA
from .memory import MemoryStore
from .quality import SCHEMA as QUALITY_SCHEMA
from .quality import QualityHistory

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    duration_s REAL,
    rows_loaded INTEGER DEFAULT 0,
    rows_rejected INTEGER DEFAULT 0,
    target TEXT,
    error TEXT,
    result_json TEXT,
    spec_json TEXT,
    spec_hash TEXT,
    pid INTEGER,
    host TEXT,
    attempts INTEGER DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_pipeline ON runs (pipeline, started_at);
CREATE TABLE IF NOT EXISTS dlq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,          -- 'row' (quarantined row) or 'task' (failed task)
    table_name TEXT,
    source_file TEXT,
    line INTEGER,
    reason TEXT NOT NULL,
    payload BLOB,                -- the row's bytes as read (text in older DBs), or the task
    context TEXT,                -- JSON: what replay needs to read the payload again
    status TEXT NOT NULL DEFAULT 'open',   -- open | replayed
    attempts INTEGER NOT NULL DEFAULT 0,
    replay_run_id TEXT,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS dlq_identity
    ON dlq (run_id, kind, table_name, ifnull(source_file, ''), ifnull(line, -1));
"""

_RUN_COLUMNS = (
    "run_id, pipeline, status, started_at, duration_s, rows_loaded, rows_rejected, target, "
    "error, spec_json, spec_hash, pid, host, attempts"
)
_DLQ_COLUMNS = (
    "table_name, source_file, line, reason, payload, kind, context, id, run_id, status, "
    "attempts, replay_run_id"
)


@dataclass(frozen=True)
class DlqEntry:
    """One quarantined row or failed task, with where it came from and why.

    ``payload`` is a row's bytes exactly as read from its file, so a replay with a corrected
    encoding or dialect reads it again. It is text for rows from a database, for a failed
    task's JSON, and for rows that older versions stored as decoded text. SQLite keeps bytes
    as a BLOB even in the column older versions declared TEXT, so old databases open as
    they are.
    """

    table: str
    file: str | None
    line: int | None
    reason: str
    payload: str | bytes | None
    kind: str = "row"
    context: str | None = None
    id: int | None = None
    run_id: str | None = None
    status: str = "open"
    attempts: int = 0
    replay_run_id: str | None = None

    def payload_text(self) -> str | None:
        """The payload for display: bytes that are not UTF-8 shown as escapes (``\\xe9``)."""
        if isinstance(self.payload, bytes):
            return self.payload.decode("utf-8", errors="backslashreplace")
        return self.payload

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the payload as display text, and its exact bytes as base64."""
        data = dataclasses.asdict(self)
        data["payload"] = self.payload_text()
        if isinstance(self.payload, bytes):
            data["payload_base64"] = base64.b64encode(self.payload).decode("ascii")
        return data


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pipeline: str
    status: str
    started_at: float
    duration_s: float | None
    rows_loaded: int
    rows_rejected: int
    target: str | None
    error: str | None
    spec_json: str | None = None
    spec_hash: str | None = None
    pid: int | None = None
    host: str | None = None
    attempts: int = 1


class StateStore:
    """The state database. Safe to share between threads: each call opens its own connection."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "state.db"
        with self._connect() as con:
            con.executescript(_SCHEMA)
            con.executescript(QUALITY_SCHEMA)
            con.executescript(AUDIT_SCHEMA)
            con.executescript(MEMORY_SCHEMA)
            _add_missing_columns(con)
        self.quality = QualityHistory(self)
        self.audit = AuditLog(self)
        self.memory = MemoryStore(self)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # -- runs --------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, pipeline: str, target: str, *, spec_json: str = "", spec_hash: str = ""
    ) -> None:
        """Record a new run, or a resumed one (same id: attempts goes up). A literal password
        in the spec or target is stored masked; references are stored as written."""
        with self._transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, pipeline, status, started_at, target, spec_json, "
                "spec_hash, pid, host, attempts) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (run_id) DO UPDATE SET status = 'running', error = NULL, "
                "pid = excluded.pid, host = excluded.host, attempts = attempts + 1",
                (
                    run_id,
                    redact_uri(pipeline),
                    time.time(),
                    redact_uri(target),
                    masked_spec(spec_json),
                    spec_hash,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )

    def set_run_target(self, run_id: str, target: str) -> None:
        """The target a run's routing chose (``route:``), shown instead of the spec's."""
        with self._transaction() as con:
            con.execute("UPDATE runs SET target = ? WHERE run_id = ?", (redact_uri(target), run_id))

    def release_run(self, run_id: str) -> None:
        """A run whose task is done in a process that now exits, its next task to run in
        another (``aoetl run --task``): 'staged', owned by no process, so it is not taken for
        killed."""
        with self._transaction() as con:
            con.execute(
                "UPDATE runs SET status = 'staged', pid = NULL WHERE run_id = ? "
                "AND status = 'running'",
                (run_id,),
            )

    def claim_run(self, run_id: str) -> None:
        """The next task of a 'staged' run starts in this process: running again, not a new
        attempt."""
        with self._transaction() as con:
            con.execute(
                "UPDATE runs SET status = 'running', pid = ?, host = ? WHERE run_id = ?",
                (os.getpid(), socket.gethostname(), run_id),
            )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        duration_s: float,
        rows_loaded: int,
        rows_rejected: int,
        error: str | None,
        result: dict[str, Any],
    ) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ?, duration_s = ?, rows_loaded = ?, "
                "rows_rejected = ?, error = ?, result_json = ? WHERE run_id = ?",
                (
                    status,
                    time.time(),
                    duration_s,
                    rows_loaded,
                    rows_rejected,
                    redact_uri(error) if error else error,
                    json.dumps(masked(result)),
                    run_id,
                ),
            )

    def _runs(self, where: str, params: tuple[Any, ...], limit: int) -> list[RunRecord]:
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY started_at DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [
            RunRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5] or 0,
                r[6] or 0,
                r[7],
                r[8],
                r[9],
                r[10],
                r[11],
                r[12],
                r[13] or 1,
            )
            for r in rows
        ]

    def runs(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunRecord]:
        clauses, params = [], []
        if pipeline:
            clauses.append("pipeline = ?")
            params.append(pipeline)
        if status:
            clauses.append("status = ?")
            params.append(status)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._runs(where, tuple(params), limit)

    def find_run(self, prefix: str) -> RunRecord | None:
        """The run whose id is ``prefix`` or starts with it (the newest if several)."""
        found = self._runs("WHERE substr(run_id, 1, ?) = ?", (len(prefix), prefix), 1)
        return found[0] if found else None

    def resumable_run(self, pipeline: str, spec_hash: str) -> RunRecord | None:
        """The newest run of this pipeline if it is unfinished, has the same spec, and its
        process is gone."""
        self.mark_dead_runs()
        found = self._runs("WHERE pipeline = ?", (pipeline,), 1)
        if not found or found[0].spec_hash != spec_hash:
            return None
        if found[0].status not in ("failed", "interrupted", "killed"):
            return None
        return found[0]

    def mark_dead_runs(self) -> int:
        """Runs still 'running' whose process on this host is gone were killed: say so."""
        host = socket.gethostname()
        with self._transaction() as con:
            rows = con.execute(
                "SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)
            ).fetchall()
            dead = [run_id for run_id, pid in rows if pid and not _alive(pid)]
            for run_id in dead:
                con.execute(
                    "UPDATE runs SET status = 'killed', "
                    "error = 'the process died before the run finished' WHERE run_id = ?",
                    (run_id,),
                )
        return len(dead)

    def recent_successes(self, pipeline: str, *, exclude: str, limit: int) -> list[RunRecord]:
        return self._runs(
            "WHERE pipeline = ? AND status = 'success' AND run_id <> ?", (pipeline, exclude), limit
        )

    # -- dead-letter queue -------------------------------------------------------------------
    def add_dlq(self, run_id: str, entries: Iterable[DlqEntry]) -> int:
        """Store entries; one already stored (same run, kind, table, file, line) is kept as is."""
        now = time.time()
        rows = [
            (run_id, e.kind, e.table, e.file, e.line, e.reason, e.payload, e.context, now)
            for e in entries
        ]
        if rows:
            with self._transaction() as con:
                con.executemany(
                    "INSERT OR IGNORE INTO dlq (run_id, kind, table_name, source_file, line, "
                    "reason, payload, context, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def dlq_entries(
        self,
        run_id: str | None = None,
        *,
        status: str | None = None,
        ids: Iterable[int] | None = None,
        limit: int = 100_000,
    ) -> list[DlqEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            clauses.append("run_id = ?")
            params.append(run_id)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if ids is not None:
            wanted = list(ids)
            clauses.append(f"id IN ({', '.join('?' for _ in wanted) or 'NULL'})")
            params.extend(wanted)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {_DLQ_COLUMNS} FROM dlq {where} ORDER BY id LIMIT ?", (*params, limit)
            ).fetchall()
        return [DlqEntry(*r) for r in rows]

    def mark_replayed(self, ids: Iterable[int], replay_run_id: str) -> None:
        with self._transaction() as con:
            con.executemany(
                "UPDATE dlq SET status = 'replayed', replay_run_id = ?, attempts = attempts + 1 "
                "WHERE id = ?",
                [(replay_run_id, i) for i in ids],
            )

    def mark_still_bad(self, reasons: dict[int, str]) -> None:
        with self._transaction() as con:
            con.executemany(
                "UPDATE dlq SET reason = ?, attempts = attempts + 1 WHERE id = ?",
                [(reason, i) for i, reason in reasons.items()],
            )


_COLUMNS = {
    "runs": {
        "spec_json": "TEXT",
        "spec_hash": "TEXT",
        "pid": "INTEGER",
        "host": "TEXT",
        "attempts": "INTEGER DEFAULT 1",
    },
    "dlq": {
        "context": "TEXT",
        "status": "TEXT NOT NULL DEFAULT 'open'",
        "attempts": "INTEGER NOT NULL DEFAULT 0",
        "replay_run_id": "TEXT",
    },
}


def _add_missing_columns(con: sqlite3.Connection) -> None:
    """Upgrade a state database written by an earlier version in place."""
    for table, columns in _COLUMNS.items():
        have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns.items():
            if name not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
