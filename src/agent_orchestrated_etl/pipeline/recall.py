"""Memory in a run: consulted when the run is planned, told how it ended.

The runner makes one :class:`Recall` per run. :meth:`Recall.consult`, after the planner and
before the executor, fingerprints the discovered source, asks memory (``agents.memory``) and
applies what it advises (a known source's proven ``workers``; a raised ``timeout_s`` or fewer
workers where the same configuration failed before), each with a note ``memory #ID: …`` in
the run's notes and an audit entry of kind ``memory``. :meth:`Recall.remember`, after the run
is recorded, stores the source and the run (plan, settings, outcome) in the state DB.

Both are SQLite reads and writes with no model: a vector search at plan time happens only
with ``AOETL_MEMORY=similar`` (and ``AOETL_MEMORY=off`` skips memory entirely). Neither ever
fails a run on memory's account: a memory error becomes a note.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..agents.memory import (
    Advice,
    Change,
    advise,
    explicit_settings,
    memory_mode,
    run_record,
    schema_of,
    settings_of,
    source_record,
    source_uri,
)
from ..connectors import Resource
from ..engine import RunResult
from ..spec import PipelineSpec
from ..state import AuditEntry, MemoryRecord, StateStore
from .planner import PipelinePlan, spec_hash

if TYPE_CHECKING:
    from .runner import RunOptions

log = logging.getLogger(__name__)


def discovered(planned: PipelinePlan) -> list[Resource]:
    """The resources as discovery found them: a table split by ``routes:`` is one source
    table (``o_de`` and ``o_fr`` read ``orders``), so a routed run fingerprints the same
    source as an unrouted one."""
    found = {r.name: r for r in planned.resources if r.name not in planned.routed}
    for routed in planned.routed.values():
        found.setdefault(routed.source.name, routed.source)
    return list(found.values())


class Recall:
    """Memory's part in one run."""

    def __init__(self, store: StateStore, spec: PipelineSpec, options: RunOptions) -> None:
        self.store, self.spec, self.options = store, spec, options
        self.mode: str | None = None  # read when the run is planned: a bad value fails it
        self.source: MemoryRecord | None = None
        self.planned: PipelinePlan | None = None
        self.advice: Advice | None = None
        self.pinned = False  # the run is made task by task

    def consult(
        self, planned: PipelinePlan, run_id: str, *, pin: bool = False, record: bool = True
    ) -> PipelinePlan:
        """``planned`` with memory's advice applied (and ``options.workers`` set); notes and
        audit entries say what changed and which record said so.

        ``pin``: the run is made task by task (``aoetl run --task``): its first task decides
        and records the advice, and its later tasks apply that same advice, as routing keeps
        its decision, so one run never runs its tasks with different limits. ``record=False``
        previews: the plan gets the notes, and nothing is written."""
        self.planned, self.pinned = planned, pin
        self.mode = memory_mode()
        if self.mode == "off":
            return planned
        try:
            self.source = source_record(
                planned.spec.source.kind,
                source_uri(planned.spec.source.uri, self.options.base_dir),
                schema_of(discovered(planned)),
            )
            self.advice = (self._pinned(run_id) if pin else None) or self._advise(planned)
        except Exception as exc:  # memory must never fail a run
            log.warning("memory was not consulted: %s", exc)
            planned.notes.append(f"memory was not consulted: {exc}")
            return planned
        if record and not self.advice.pinned:
            self._audit(run_id, self.advice, always=pin)
            if pin:  # two first tasks at once: both keep the advice recorded first
                self.advice = self._pinned(run_id) or self.advice
        planned = self._apply(planned, self.advice)
        planned.notes.extend(self.advice.notes)
        self.planned = planned
        return planned

    def _advise(self, planned: PipelinePlan) -> Advice:
        assert self.source is not None
        current = settings_of(planned.spec, self.options.workers)
        explicit = explicit_settings(
            planned.spec, workers_given=getattr(self.options, "workers_given", False)
        )
        return advise(
            self.store.memory,
            self.source,
            current,
            explicit,
            similar=self._similar if self.mode == "similar" else None,
            parallel=max((len(layer) for layer in planned.plan.layers()), default=1),
        )

    def _pinned(self, run_id: str) -> Advice | None:
        """The advice the first task of ``run_id`` recorded, if one did."""
        entries = self.store.audit.entries(run_id, kind="memory")
        for entry in sorted(entries, key=lambda e: e.id or 0)[:1]:
            detail = entry.detail
            return Advice(
                how=str(detail.get("how") or ""),
                distance=detail.get("distance"),
                runs=int(detail.get("runs") or 0),
                changes=[Change(**c) for c in detail.get("changes", [])],
                notes=list(entry.reasons) if detail.get("memory_ids") else [],
                used=list(detail.get("memory_ids", [])),
                pinned=True,
            )
        return None

    def _similar(self, text: str) -> list[tuple[MemoryRecord, float]]:
        from ..agents.memory.index import MemoryIndex

        index = MemoryIndex.open(self.options.home, self.store.memory)
        return [(r, d) for r, d in index.search(text, 5) if r.kind == "source"]

    def _apply(self, planned: PipelinePlan, advice: Advice) -> PipelinePlan:
        updates: dict[str, Any] = {}
        for change in advice.changes:
            if change.setting == "workers":
                self.options.workers = int(change.new)
            elif change.setting == "timeout_s":
                updates["timeout_s"] = float(change.new)
        if not updates:
            return planned
        return dataclasses.replace(planned, spec=planned.spec.model_copy(update=updates))

    def _audit(self, run_id: str, advice: Advice, *, always: bool = False) -> None:
        """Record the advice; with nothing to say, only when later tasks pin it (``always``)."""
        if not advice.notes and not always:
            return
        assert self.source is not None
        choice = ", ".join(f"{c.setting}={c.new}" for c in advice.changes) or "unchanged"
        self.store.audit.record(
            AuditEntry(
                run_id=run_id,
                kind="memory",
                subject=f"source {self.source.uri}",
                choice=choice,
                reasons=tuple(advice.notes) or ("memory knows no run of this source",),
                task_id="plan",  # a planning decision, as routing's
                detail={
                    "how": advice.how,
                    "distance": advice.distance,
                    "fingerprint": self.source.fingerprint,
                    "schema_hash": self.source.schema_hash,
                    "memory_ids": advice.used,
                    "runs": advice.runs,
                    "changes": [c.to_dict() for c in advice.changes],
                },
            )
        )

    def remember(self, result: RunResult) -> None:
        """Store the source (once per fingerprint) and this run, marked for embedding later."""
        if self.mode in (None, "off") or self.source is None or self.planned is None:
            return  # nothing was discovered: there is no source to remember the run of
        try:
            source_id = self.store.memory.remember_source(self.source)
            source = dataclasses.replace(self.source, id=source_id)
            planned = self.planned
            settings = settings_of(planned.spec, self.options.workers)
            if self.pinned:  # each task ran alone: the run had no workers to remember
                del settings["workers"]
            record = run_record(
                source,
                result,
                spec_hash=spec_hash(self.spec),
                settings=settings,
                plan=planned.plan.to_dict(),
                memory_used=self.advice.used if self.advice is not None else (),
            )
            self.store.memory.add(record)
        except Exception as exc:  # the run is recorded already; memory must not fail it
            log.warning("the run was not remembered: %s", exc)


def preview(planned: PipelinePlan, home: Path, *, workers: int | None = None) -> PipelinePlan:
    """``planned`` with the advice memory would give a run of it now, in its notes (and its
    spec), writing nothing: no audit entry, no record. ``workers``: the ones the user gave.
    Closes the planned source if memory's setting is bad (the caller cannot)."""
    from .runner import RunOptions

    options = RunOptions(home=home)
    if workers:
        options.workers, options.workers_given = workers, True
    try:
        return Recall(StateStore(home), planned.spec, options).consult(planned, "", record=False)
    except BaseException:
        planned.source.close()
        raise
