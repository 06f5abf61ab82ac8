"""Run history and quarantined rows, in SQLite under AOETL_HOME (SQLAlchemy Core).

SQLAlchemy Core keeps the door open for a shared Postgres state store later; nothing here is
SQLite-specific except the default URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
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
)

dlq = Table(
    "dlq",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String, nullable=False, index=True),
    Column("kind", String, nullable=False),  # 'row' for quarantined rows
    Column("table_name", String),
    Column("source_file", String),
    Column("line", Integer),
    Column("reason", Text, nullable=False),
    Column("payload", Text),
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class DlqEntry:
    """One quarantined row (or, later, a failed message) with where it came from and why."""

    table: str
    file: str | None
    line: int | None
    reason: str
    payload: str | None
    kind: str = "row"


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


class StateStore:
    """The state database. One instance per process; safe to share between threads."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "state.db"
        self.engine: Engine = create_engine(f"sqlite:///{self.path}")
        event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def start_run(self, run_id: str, pipeline: str, target: str) -> None:
        with self.engine.begin() as con:
            con.execute(
                insert(runs).values(
                    run_id=run_id,
                    pipeline=pipeline,
                    status="running",
                    started_at=time.time(),
                    target=target,
                )
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

    def add_dlq(self, run_id: str, entries: Iterable[DlqEntry]) -> int:
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
                "created_at": now,
            }
            for e in entries
        ]
        if rows:
            with self.engine.begin() as con:
                con.execute(insert(dlq), rows)
        return len(rows)

    def runs(self, *, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as con:
            return [
                RunRecord(
                    r.run_id,
                    r.pipeline,
                    r.status,
                    r.started_at,
                    r.duration_s,
                    r.rows_loaded or 0,
                    r.rows_rejected or 0,
                    r.target,
                    r.error,
                )
                for r in con.execute(query)
            ]

    def dlq_entries(self, run_id: str, limit: int = 1000) -> list[DlqEntry]:
        query = select(dlq).where(dlq.c.run_id == run_id).order_by(dlq.c.id).limit(limit)
        with self.engine.connect() as con:
            return [
                DlqEntry(r.table_name, r.source_file, r.line, r.reason, r.payload, r.kind)
                for r in con.execute(query)
            ]

    def find_run(self, prefix: str) -> RunRecord | None:
        with self.engine.connect() as con:
            row = con.execute(select(runs.c.run_id).where(runs.c.run_id.like(prefix + "%"))).first()
        if row is None:
            return None
        return next((r for r in self.runs(limit=10_000) if r.run_id == row.run_id), None)


def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
