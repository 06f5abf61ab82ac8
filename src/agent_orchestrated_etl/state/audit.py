"""The audit log and the agents' track record, in the state DB.

Every decision an agent makes is one row of ``audit``: which agent the Coordinator chose for a
piece of work and why (``kind`` 'select'), where a routing rule sent a workflow or rows and how
many ('route'), which memory changed a plan ('memory'). ``agent_stats`` keeps, per agent and
action, how often it succeeded and how fast it went; the Coordinator breaks ties with it.

Rows hold plain JSON; this layer does not know the fields of ``detail`` beyond storing them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import StateStore


@dataclass(frozen=True)
class AuditEntry:
    """One decision: what it was about, what was chosen, and why."""

    run_id: str
    kind: str
    subject: str
    choice: str
    reasons: tuple[str, ...] = ()
    score: float | None = None
    task_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "kind": self.kind,
            "subject": self.subject,
            "choice": self.choice,
            "score": self.score,
            "reasons": list(self.reasons),
            "detail": self.detail,
            "at": self.at,
        }


@dataclass(frozen=True)
class CallRecord:
    """One call of an agent: what it did, whether it succeeded, how many rows, how long."""

    agent: str
    action: str
    ok: bool
    rows: int
    seconds: float


@dataclass(frozen=True)
class AgentStats:
    """An agent's track record for one action."""

    agent: str
    action: str
    calls: int
    successes: int
    rows: int
    seconds: float

    @property
    def success_rate(self) -> float:
        """Successes over calls, smoothed: an agent never seen scores 0.5, not 0 or 1."""
        return (self.successes + 1) / (self.calls + 2)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class AuditLog:
    """``store.audit``: record and read decisions and agent statistics."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def record(self, entry: AuditEntry) -> None:
        self.record_many([entry], [])

    def record_many(self, entries: list[AuditEntry], calls: list[CallRecord]) -> None:
        """Write ``entries`` and add ``calls`` to the agents' records, in one transaction."""
        if not entries and not calls:
            return
        with self._store._transaction() as con:
            con.executemany(
                "INSERT INTO audit (run_id, task_id, kind, subject, choice, score, reasons_json, "
                "detail_json, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.run_id,
                        e.task_id,
                        e.kind,
                        e.subject,
                        e.choice,
                        e.score,
                        json.dumps(list(e.reasons)),
                        json.dumps(e.detail, default=str),
                        e.at,
                    )
                    for e in entries
                ],
            )
            con.executemany(
                "INSERT INTO agent_stats (agent, action, calls, successes, rows, seconds) "
                "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (agent, action) DO UPDATE SET "
                "calls = agent_stats.calls + 1, "
                "successes = agent_stats.successes + excluded.successes, "
                "rows = agent_stats.rows + excluded.rows, "
                "seconds = agent_stats.seconds + excluded.seconds",
                [
                    (c.agent, c.action, int(c.ok), max(0, c.rows), max(0.0, c.seconds))
                    for c in calls
                ],
            )

    def entries(self, run_id: str, *, kind: str | None = None) -> list[AuditEntry]:
        """Every decision of ``run_id`` in the order it was made."""
        sql = (
            "SELECT id, run_id, task_id, kind, subject, choice, score, reasons_json, detail_json, "
            "at FROM audit WHERE run_id = ?"
        )
        params: tuple[Any, ...] = (run_id,)
        if kind is not None:
            sql += " AND kind = ?"
            params += (kind,)
        with self._store._connect() as con:
            # By when each decision was made: a step's decision is written after its work.
            rows = con.execute(sql + " ORDER BY at, id", params).fetchall()
        return [
            AuditEntry(
                run_id=r[1],
                task_id=r[2],
                kind=r[3],
                subject=r[4],
                choice=r[5],
                score=r[6],
                reasons=tuple(json.loads(r[7])),
                detail=json.loads(r[8]),
                at=r[9],
                id=r[0],
            )
            for r in rows
        ]

    def record_call(self, agent: str, action: str, *, ok: bool, rows: int, seconds: float) -> None:
        """Add one call's outcome to ``agent``'s record for ``action``."""
        self.record_many([], [CallRecord(agent, action, ok, rows, seconds)])

    def stats(self) -> dict[tuple[str, str], AgentStats]:
        """Every agent's record, keyed by (agent, action)."""
        with self._store._connect() as con:
            rows = con.execute(
                "SELECT agent, action, calls, successes, rows, seconds FROM agent_stats"
            ).fetchall()
        return {(r[0], r[1]): AgentStats(*r) for r in rows}
