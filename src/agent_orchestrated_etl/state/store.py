"""Run history and the dead-letter queue, in SQLite under AOETL_HOME (SQLAlchemy Core).

SQLAlchemy Core keeps the door open for a shared Postgres state store later; nothing here is
SQLite-specific except the default URL and ``INSERT OR IGNORE``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("pipeline", String, nullable=False, index=True),
    Column("status", String, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("duration_s", Float),
    Column("rows_loaded", Integer, default=0),
    Column("rows_rejected", Integer, default=0),
    Column("target", String),
    Column("error", Text),
    Column("result_json", Text),
    Column("spec_json", Text),
    Column("spec_hash", String, index=True),
    Column("pid", Integer),
    Column("host", String),
    Column("attempts", Integer, default=1),
)

dlq = Table(
    "dlq",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String, nullable=False, index=True),
    Column("kind", String, nullable=False),  # 'row' (quarantined row) or 'task' (failed task)
    Column("table_name", String),
    Column("source_file", String),
    Column("line", Integer),
    Column("reason", Text, nullable=False),
    Column("payload", Text),  # the raw row, or the task to retry
    Column("context", Text),  # JSON: what replay needs to read the payload again
    Column("status", String, nullable=False, default="open"),  # open | replayed
    Column("attempts", Integer, nullable=False, default=0),
    Column("replay_run_id", String),
    Column("created_at", Float, nullable=False),
    Index("dlq_identity", "run_id", "kind", "table_name", "source_file", "line", unique=True),
)


@dataclass(frozen=True)
class DlqEntry:
    """One quarantined row or failed task, with where it came from and why."""

    table: str
    file: str | None
    line: int | None
    reason: str
    payload: str | None
    kind: str = "row"
    context: str | None = None
    id: int | None = None
    run_id: str | None = None
    status: str = "open"
    attempts: int = 0
    replay_run_id: str | None = None


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
    """The state database. One instance per process; safe to share between threads."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "state.db"
        self.engine: Engine = create_engine(f"sqlite:///{self.path}")
        event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    # -- runs --------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, pipeline: str, target: str, *, spec_json: str = "", spec_hash: str = ""
    ) -> None:
        """Record a new run, or a resumed one (same id: attempts goes up)."""
        values = {
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "error": None,
        }
        with self.engine.begin() as con:
            existing = con.execute(select(runs.c.attempts).where(runs.c.run_id == run_id)).first()
            if existing is None:
                con.execute(
                    insert(runs).values(
                        run_id=run_id,
                        pipeline=pipeline,
                        started_at=time.time(),
                        target=target,
                        spec_json=spec_json,
                        spec_hash=spec_hash,
                        attempts=1,
                        **values,
                    )
                )
            else:
                con.execute(
                    update(runs)
                    .where(runs.c.run_id == run_id)
                    .values(attempts=(existing.attempts or 1) + 1, **values)
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
        with self.engine.begin() as con:
            con.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(
                    status=status,
                    finished_at=time.time(),
                    duration_s=duration_s,
                    rows_loaded=rows_loaded,
                    rows_rejected=rows_rejected,
                    error=error,
                    result_json=json.dumps(result),
                )
            )

    def _record(self, r: Any) -> RunRecord:
        return RunRecord(
            r.run_id,
            r.pipeline,
            r.status,
            r.started_at,
            r.duration_s,
            r.rows_loaded or 0,
            r.rows_rejected or 0,
            r.target,
            r.error,
            r.spec_json,
            r.spec_hash,
            r.pid,
            r.host,
            r.attempts or 1,
        )

    def runs(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[RunRecord]:
        query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        if status:
            query = query.where(runs.c.status == status)
        with self.engine.connect() as con:
            return [self._record(r) for r in con.execute(query)]

    def find_run(self, prefix: str) -> RunRecord | None:
        """The run whose id is ``prefix`` or starts with it (the newest if several)."""
        query = (
            select(runs)
            .where(runs.c.run_id.like(prefix.replace("%", "") + "%"))
            .order_by(runs.c.started_at.desc())
        )
        with self.engine.connect() as con:
            row = con.execute(query).first()
        return self._record(row) if row else None

    def resumable_run(self, pipeline: str, spec_hash: str) -> RunRecord | None:
        """The newest unfinished run of this pipeline with the same spec, if its process is gone."""
        self.mark_dead_runs()
        query = (
            select(runs)
            .where(runs.c.pipeline == pipeline)
            .order_by(runs.c.started_at.desc())
            .limit(1)
        )
        with self.engine.connect() as con:
            row = con.execute(query).first()
        if row is None or row.spec_hash != spec_hash:
            return None
        if row.status not in ("failed", "interrupted", "killed"):
            return None
        return self._record(row)

    def mark_dead_runs(self) -> int:
        """Runs still 'running' whose process on this host is gone were killed: say so."""
        host = socket.gethostname()
        with self.engine.begin() as con:
            rows = con.execute(
                select(runs.c.run_id, runs.c.pid).where(
                    runs.c.status == "running", runs.c.host == host
                )
            ).fetchall()
            dead = [r.run_id for r in rows if r.pid and not _alive(r.pid)]
            for run_id in dead:
                con.execute(
                    update(runs)
                    .where(runs.c.run_id == run_id)
                    .values(status="killed", error="the process died before the run finished")
                )
        return len(dead)

    def recent_successes(self, pipeline: str, *, exclude: str, limit: int) -> list[RunRecord]:
        query = (
            select(runs)
            .where(
                runs.c.pipeline == pipeline, runs.c.status == "success", runs.c.run_id != exclude
            )
            .order_by(runs.c.started_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as con:
            return [self._record(r) for r in con.execute(query)]

    # -- dead-letter queue -------------------------------------------------------------------
    def add_dlq(self, run_id: str, entries: Iterable[DlqEntry]) -> int:
        """Store entries; one already stored (same run, kind, table, file, line) is kept as is."""
        now = time.time()
        rows = [
            {
                "run_id": run_id,
                "kind": e.kind,
                "table_name": e.table,
                "source_file": e.file,
                "line": e.line,
                "reason": e.reason,
                "payload": e.payload,
                "context": e.context,
                "status": "open",
                "attempts": 0,
                "created_at": now,
            }
            for e in entries
        ]
        if rows:
            with self.engine.begin() as con:
                con.execute(insert(dlq).prefix_with("OR IGNORE"), rows)
        return len(rows)

    def _entry(self, r: Any) -> DlqEntry:
        return DlqEntry(
            r.table_name,
            r.source_file,
            r.line,
            r.reason,
            r.payload,
            r.kind,
            r.context,
            r.id,
            r.run_id,
            r.status,
            r.attempts,
            r.replay_run_id,
        )

    def dlq_entries(
        self,
        run_id: str | None = None,
        *,
        status: str | None = None,
        ids: Iterable[int] | None = None,
        limit: int = 100_000,
    ) -> list[DlqEntry]:
        query = select(dlq).order_by(dlq.c.id).limit(limit)
        if run_id is not None:
            query = query.where(dlq.c.run_id == run_id)
        if status is not None:
            query = query.where(dlq.c.status == status)
        if ids is not None:
            query = query.where(dlq.c.id.in_(list(ids)))
        with self.engine.connect() as con:
            return [self._entry(r) for r in con.execute(query)]

    def mark_replayed(self, ids: Iterable[int], replay_run_id: str) -> None:
        with self.engine.begin() as con:
            con.execute(
                update(dlq)
                .where(dlq.c.id.in_(list(ids)))
                .values(status="replayed", replay_run_id=replay_run_id, attempts=dlq.c.attempts + 1)
            )

    def mark_still_bad(self, reasons: dict[int, str]) -> None:
        with self.engine.begin() as con:
            for entry_id, reason in reasons.items():
                con.execute(
                    update(dlq)
                    .where(dlq.c.id == entry_id)
                    .values(reason=reason, attempts=dlq.c.attempts + 1)
                )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
