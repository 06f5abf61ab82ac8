"""Quality history in the state DB: each table's profiles with their anomalies and score
(from ``aoetl profile`` and from runs that profile what they stage), and each run's check
results.

Rows hold plain JSON (``quality.types`` models dumped with ``mode="json"``); this layer does
not know their fields beyond the few it indexes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import StateStore


@dataclass(frozen=True)
class ProfileRecord:
    """One stored profile: the JSON of a ``TableProfile``, its ``Score`` and ``Anomaly``s."""

    id: int
    resource: str
    table: str
    run_id: str | None
    taken_at: float
    depth: str
    score: float | None
    profile: dict[str, Any]
    score_detail: dict[str, Any] | None = None
    anomalies: list[dict[str, Any]] = field(default_factory=list)


_PROFILE_COLUMNS = (
    "id, resource, table_name, run_id, taken_at, depth, score, profile_json, score_json, "
    "anomalies_json"
)


def _record(row: tuple[Any, ...]) -> ProfileRecord:
    return ProfileRecord(
        id=row[0],
        resource=row[1],
        table=row[2],
        run_id=row[3],
        taken_at=row[4],
        depth=row[5],
        score=row[6],
        profile=json.loads(row[7]),
        score_detail=json.loads(row[8]) if row[8] else None,
        anomalies=json.loads(row[9]) if row[9] else [],
    )


class QualityHistory:
    """Profiles and check results, in the same database as the run history."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def add_profile(
        self,
        profile: dict[str, Any],
        *,
        score: dict[str, Any] | None = None,
        anomalies: Iterable[dict[str, Any]] = (),
    ) -> int:
        """Store a profile (a ``TableProfile`` as JSON: its ``resource``, ``table``,
        ``run_id``, ``taken_at`` and ``depth`` are indexed) with its score and anomalies;
        returns its id. A run's profile of a table replaces an earlier one of the same run."""
        # One statement, so two attempts of a check task racing on PostgreSQL (READ
        # COMMITTED) leave one row: the unique index of a run's profiles decides.
        with self._store._transaction() as con:
            row = con.execute(
                "INSERT INTO profiles (resource, table_name, run_id, taken_at, depth, score, "
                "profile_json, score_json, anomalies_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, resource) WHERE run_id IS NOT NULL DO UPDATE SET "
                "table_name = excluded.table_name, taken_at = excluded.taken_at, "
                "depth = excluded.depth, score = excluded.score, "
                "profile_json = excluded.profile_json, score_json = excluded.score_json, "
                "anomalies_json = excluded.anomalies_json RETURNING id",
                (
                    profile["resource"],
                    profile["table"],
                    profile.get("run_id") or None,
                    profile.get("taken_at") or time.time(),
                    profile.get("depth", "standard"),
                    score.get("total") if score else None,
                    json.dumps(profile),
                    json.dumps(score) if score else None,
                    json.dumps(list(anomalies)),
                ),
            ).fetchone()
            return int(row[0])

    def profiles(
        self, resource: str, *, limit: int = 20, before: float | None = None
    ) -> list[ProfileRecord]:
        """The newest profiles of ``resource`` (taken before ``before``), newest first: those
        of ``aoetl profile`` and of committed runs. A run that failed, was discarded or has
        not committed yet staged rows the target never held: no baseline, no trend point."""
        where = (
            "resource = ? AND (run_id IS NULL OR run_id IN "
            "(SELECT run_id FROM runs WHERE status = 'success'))"
        )
        params: list[Any] = [resource]
        if before is not None:
            where += " AND taken_at < ?"
            params.append(before)
        with self._store._connect() as con:
            rows = con.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE {where} "
                "ORDER BY taken_at DESC, id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_record(r) for r in rows]

    def run_profiles(self, run_id: str) -> list[ProfileRecord]:
        """The profiles a run recorded of what it staged, by table name."""
        with self._store._connect() as con:
            rows = con.execute(
                f"SELECT {_PROFILE_COLUMNS} FROM profiles WHERE run_id = ? "
                f"ORDER BY table_name{self._store.dialect.collate}",
                (run_id,),
            ).fetchall()
        return [_record(r) for r in rows]

    def add_check_results(self, run_id: str, results: Iterable[dict[str, Any]]) -> None:
        """Store a run's check results (``CheckResult`` JSON); a result of the same run,
        table and check name replaces the earlier one (a retried check task)."""
        now = time.time()
        with self._store._transaction() as con:
            con.executemany(
                "INSERT INTO check_results (run_id, table_name, name, status, result_json, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, table_name, name) "
                "DO UPDATE SET status = excluded.status, result_json = excluded.result_json, "
                "recorded_at = excluded.recorded_at",
                [(run_id, r["table"], r["name"], r["status"], json.dumps(r), now) for r in results],
            )

    def check_results(self, run_id: str) -> list[dict[str, Any]]:
        """A run's check results (``CheckResult`` JSON), by table and check name."""
        with self._store._connect() as con:
            c = self._store.dialect.collate
            rows = con.execute(
                "SELECT result_json FROM check_results WHERE run_id = ? "
                f"ORDER BY table_name{c}, name{c}",
                (run_id,),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def mark_checked(self, run_id: str, table: str, fingerprint: str, *, passed: bool) -> None:
        """Record that a run's check task judged what ``table`` staged (the load's
        ``fingerprint``): a commit in another process goes on only after one passed."""
        with self._store._transaction() as con:
            con.execute(
                "INSERT INTO checked_tables (run_id, table_name, fingerprint, passed, "
                "recorded_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, table_name) DO UPDATE "
                "SET fingerprint = excluded.fingerprint, passed = excluded.passed, "
                "recorded_at = excluded.recorded_at",
                (run_id, table, fingerprint, int(passed), time.time()),
            )

    def unmark_checked(self, run_id: str, table: str) -> None:
        """Forget a table's check: it is being staged again, so the check must run again."""
        with self._store._transaction() as con:
            con.execute(
                "DELETE FROM checked_tables WHERE run_id = ? AND table_name = ?", (run_id, table)
            )

    def checked(self, run_id: str) -> dict[str, tuple[str, bool]]:
        """The tables a run's check tasks judged: table -> (fingerprint, passed)."""
        with self._store._connect() as con:
            rows = con.execute(
                "SELECT table_name, fingerprint, passed FROM checked_tables WHERE run_id = ?",
                (run_id,),
            ).fetchall()
        return {r[0]: (r[1], bool(r[2])) for r in rows}
