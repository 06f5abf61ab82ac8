"""The facade's run-history methods: past runs, what an unfinished run keeps staged, and the
dead-letter queue with its replay. Mixed into :class:`DataOrchestrator`, which gives them
``home`` and the state store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .._text import iso_local
from ..errors import UserError

if TYPE_CHECKING:
    from ..pipeline.replay import ReplayResult
    from ..pipeline.staging import Staging
    from ..quality import CheckResult, QualityReport
    from ..state import DlqEntry, RunRecord, StateStore


@dataclass(frozen=True)
class RunDetails:
    """One run as ``aoetl runs show RUN_ID`` tells it: its record, what it keeps staged, its
    quarantined rows with the reason each was rejected, its checks and quality scores."""

    record: RunRecord
    staging: Staging
    quarantined: list[DlqEntry]
    checks: list[CheckResult]
    quality: list[QualityReport]
    quarantined_total: int = 0  # the run's entries, of which ``quarantined`` holds the first

    @property
    def started(self) -> str:
        return iso_local(self.record.started_at)

    @property
    def finished(self) -> str | None:
        duration = self.record.duration_s
        return None if duration is None else iso_local(self.record.started_at + duration)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``aoetl runs show RUN_ID --json`` prints."""
        return {
            "run": {**self.record.__dict__, "started": self.started, "finished": self.finished},
            "staging": self.staging.to_dict(),
            "quarantined": [e.to_dict() for e in self.quarantined],
            "quarantined_total": self.quarantined_total,
            "checks": [c.model_dump(mode="json") for c in self.checks],
            "quality": [r.model_dump(mode="json") for r in self.quality],
        }


class _Facade(Protocol):
    home: Path

    def run_record(self, run_id: str) -> RunRecord: ...

    def dlq(
        self,
        run_id: str | None = None,
        *,
        status: str | None = None,
        ids: list[int] | None = None,
        limit: int = 100_000,
    ) -> list[DlqEntry]: ...

    def run_quality(self, run_id: str) -> tuple[list[CheckResult], list[QualityReport]]: ...

    def staging(self, run: RunRecord | str) -> Staging: ...

    def _store(self) -> StateStore: ...


class HistoryMethods:
    """``runs``, ``run_record``, ``run_details``, ``staging``, ``clean_staging``, ``dlq`` and
    ``replay``."""

    # -- run history -----------------------------------------------------------------------
    def runs(self: _Facade, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Recent runs, newest first (runs whose process died are marked killed first)."""
        store = self._store()
        store.mark_dead_runs()
        return store.runs(pipeline=pipeline, limit=limit)

    def run_record(self: _Facade, run_id: str, *, unique: bool = False) -> RunRecord:
        """The run whose id is ``run_id`` or starts with it (the newest if several; with
        ``unique``, several are an error naming them)."""
        if not run_id.strip():
            raise UserError("give a run id, or its beginning; list runs with 'aoetl runs'")
        store = self._store()
        store.mark_dead_runs()
        found = store.find_runs(run_id, 3 if unique else 1)
        if not found:
            raise UserError(f"no run matches {run_id!r}; list runs with 'aoetl runs'")
        if unique and len(found) > 1 and found[0].run_id != run_id:
            ids = ", ".join(r.run_id for r in found[:2])
            raise UserError(
                f"{run_id!r} is the beginning of several runs ({ids}…); give more of the id"
            )
        return found[0]

    def run_details(self: _Facade, run_id: str, *, quarantined: int = 100_000) -> RunDetails:
        """The run ``run_id`` (id or prefix) with its staging, its first ``quarantined``
        dead-letter entries (oldest first, each with its reason), its checks and scores."""
        record = self.run_record(run_id)
        entries = self.dlq(record.run_id, limit=quarantined)
        total = len(entries)
        if total >= quarantined:
            total = self._store().dlq_count(record.run_id)
        checks, reports = self.run_quality(record.run_id)
        return RunDetails(record, self.staging(record), entries, checks, reports, total)

    def staging(self: _Facade, run: RunRecord | str) -> Staging:
        """What an unfinished run keeps staged in its target for a resume."""
        from ..pipeline.staging import staging_of

        record = run if not isinstance(run, str) else self.run_record(run)
        return staging_of(record, self.home)

    def clean_staging(self: _Facade, run_id: str | None = None) -> list[Staging]:
        """Drop the staging of one unfinished run (id or prefix), or of every one."""
        from ..pipeline.staging import clean

        return clean(self._store(), self.home, run_id)

    # -- dead-letter queue -----------------------------------------------------------------
    def dlq(
        self: _Facade,
        run_id: str | None = None,
        *,
        status: str | None = None,
        ids: list[int] | None = None,
        limit: int = 100_000,
    ) -> list[DlqEntry]:
        """Dead-letter entries, oldest first: of one run (id or prefix), by status or id."""
        run = self.run_record(run_id).run_id if run_id is not None else None
        return self._store().dlq_entries(run, status=status, ids=ids, limit=limit)

    def replay(
        self: _Facade,
        entry_id: int | None = None,
        *,
        run_id: str | None = None,
        pipeline: str | Path | None = None,
    ) -> ReplayResult:
        """Reprocess one entry, or every open entry of a run, once its cause is fixed;
        ``pipeline`` is a fixed pipeline file whose columns, CSV options and target to use.
        Replayed rows are never loaded twice."""
        from ..pipeline.replay import replay
        from ..spec import load_spec

        if (entry_id is None) == (run_id is None):
            raise UserError("give an entry id or --run RUN_ID (one of them)")
        entries = self.dlq(run_id) if run_id else self.dlq(ids=[entry_id or 0])
        if not entries:
            raise UserError("nothing to replay: no such entry; see 'aoetl dlq list'")
        fixed = load_spec(pipeline) if pipeline else None
        base_dir = Path(pipeline).resolve().parent if pipeline else None
        return replay(self._store(), entries, home=self.home, fixed=fixed, base_dir=base_dir)
