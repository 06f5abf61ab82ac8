"""The state store: run history and the dead-letter queue, with the quality history, the
audit log and memory hanging off it (``store.quality``, ``store.audit``, ``store.memory``).

Two backends behind one interface: SQLite in ``AOETL_HOME/state.db`` (the default,
``_sqlite``), or PostgreSQL when ``AOETL_STATE_URL`` names one, for workers on several
machines that share one history (``_postgres``). The statements are written once, in SQL both
accept (``_dialect`` holds what differs); each backend's schema is a list of migrations
(``_migrations``), applied when a store opens.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import settings
from ..errors import redact_uri
from ._dialect import Connection, Dialect
from ._masking import masked, masked_spec
from ._sqlite import SqliteBackend
from .audit import AuditLog
from .memory import MemoryStore
from .quality import QualityHistory

_RUN_COLUMNS = (
    "run_id, pipeline, status, started_at, duration_s, rows_loaded, rows_rejected, target, "
    "error, spec_json, spec_hash, pid, host, attempts"
)
_DLQ_COLUMNS = (
    "table_name, source_file, line, reason, {payload}, kind, context, id, run_id, status, "
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


class Backend(Protocol):
    dialect: Dialect
    where: str  # for messages: the file, or the URL as written with its password masked

    def connect(self) -> AbstractContextManager[Connection]: ...

    def transaction(self) -> AbstractContextManager[Connection]: ...

    def migrate(self) -> None: ...


class StateStore:
    """The state database. Safe to share between threads.

    ``url`` None means ``AOETL_STATE_URL`` (:func:`settings.state_url`); empty, SQLite at
    ``home/state.db``; a ``postgresql://`` URL (or a reference to one), the shared PostgreSQL
    store. Opening migrates the schema when it is behind, and refuses one a newer aoetl wrote.
    """

    def __init__(self, home: Path, url: str | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        origin = "the state store URL"
        if url is None:
            url, origin = settings.state_url(), settings.STATE_URL_VAR
        self.path: Path | None = None
        self._backend: Backend
        if url:
            from ._postgres import PostgresBackend  # psycopg and secrets only when asked for

            self._backend = PostgresBackend(url, origin)
        else:
            self.path = home / "state.db"
            self._backend = SqliteBackend(self.path)
        self.dialect = self._backend.dialect
        self.backend = self.dialect.name
        self.where = self._backend.where
        self._backend.migrate()
        self.quality = QualityHistory(self)
        self.audit = AuditLog(self)
        self.memory = MemoryStore(self)

    def _connect(self) -> AbstractContextManager[Connection]:
        """A connection for reads (and single statements, each committed by itself)."""
        return self._backend.connect()

    def _transaction(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction: committed at the end, rolled back on an error."""
        return self._backend.transaction()

    # -- runs --------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, pipeline: str, target: str, *, spec_json: str = "", spec_hash: str = ""
    ) -> None:
        """Record a new run, or a resumed one (same id: attempts goes up; the spec is the one
        it resumes under, which a failed run taken again task by task may have fixed). A
        literal password in the spec or target is stored masked; references as written."""
        with self._transaction() as con:
            con.execute(
                "INSERT INTO runs (run_id, pipeline, status, started_at, target, spec_json, "
                "spec_hash, pid, host, attempts) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (run_id) DO UPDATE SET status = 'running', error = NULL, "
                "pid = excluded.pid, host = excluded.host, attempts = runs.attempts + 1, "
                "pipeline = excluded.pipeline, spec_json = excluded.spec_json, "
                "spec_hash = excluded.spec_hash",
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
        found = self.find_runs(prefix, 1)
        return found[0] if found else None

    def find_runs(self, prefix: str, limit: int) -> list[RunRecord]:
        """Up to ``limit`` runs whose id is ``prefix`` or starts with it, newest first."""
        return self._runs("WHERE substr(run_id, 1, ?) = ?", (len(prefix), prefix), limit)

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
            dead = [(run_id, pid) for run_id, pid in rows if pid and not _alive(pid)]
            for run_id, pid in dead:
                # Only if no process took the run over meanwhile (PostgreSQL's transactions
                # do not lock what they read, as SQLite's BEGIN IMMEDIATE does).
                con.execute(
                    "UPDATE runs SET status = 'killed', "
                    "error = 'the process died before the run finished' WHERE run_id = ? "
                    "AND status = 'running' AND pid = ? AND host = ?",
                    (run_id, pid, host),
                )
        return len(dead)

    def process_runs(self, since: float) -> list[RunRecord]:
        """This process's runs, newest first, by its pid and host (another machine's process
        may have the same pid): those it still owns 'running', whenever they started (a run
        it claimed may be old), and those it finished since ``since``."""
        return self._runs(
            "WHERE pid = ? AND host = ? AND (status = 'running' OR finished_at >= ?)",
            (os.getpid(), socket.gethostname(), since),
            1_000,
        )

    def recent_successes(self, pipeline: str, *, exclude: str, limit: int) -> list[RunRecord]:
        return self._runs(
            "WHERE pipeline = ? AND status = 'success' AND run_id <> ?", (pipeline, exclude), limit
        )

    # -- dead-letter queue -------------------------------------------------------------------
    def add_dlq(self, run_id: str, entries: Iterable[DlqEntry]) -> int:
        """Store entries; one already stored (same run, kind, table, file, line) is kept as is."""
        now, dialect = time.time(), self.dialect
        rows = [
            (
                run_id, e.kind, e.table, e.file, e.line, e.reason,
                *dialect.payload_values(e.payload), e.context, now,
            )
            for e in entries
        ]  # fmt: skip
        if rows:
            with self._transaction() as con:
                con.executemany(
                    "INSERT INTO dlq (run_id, kind, table_name, source_file, line, reason, "
                    f"{dialect.payload_insert}, context, created_at) VALUES (?, ?, ?, ?, ?, ?, "
                    f"{dialect.payload_marks}, ?, ?) ON CONFLICT DO NOTHING",
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
        columns = _DLQ_COLUMNS.format(payload=self.dialect.payload_select)
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {columns} FROM dlq {where} ORDER BY id LIMIT ?", (*params, limit)
            ).fetchall()
        found = []
        for r in rows:
            payload, width = self.dialect.payload_of(r[4:])
            rest = r[4 + width :]
            found.append(DlqEntry(r[0], r[1], r[2], r[3], payload, *rest))
        return found

    def dlq_count(self, run_id: str) -> int:
        """How many dead-letter entries the run ``run_id`` has, whatever their status."""
        with self._connect() as con:
            found = con.execute("SELECT count(*) FROM dlq WHERE run_id = ?", (run_id,)).fetchone()
        return int(found[0]) if found else 0

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
