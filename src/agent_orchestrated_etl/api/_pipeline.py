"""What ``DataOrchestrator.create_pipeline`` returns: a :class:`Pipeline` (a validated spec
that plans and runs itself) and the :class:`RunPlan` it would execute."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..engine import EventBus, RunResult
    from ..pipeline import PipelinePlan
    from ..spec import PipelineSpec
    from ..state import RunRecord
    from ._export import DagExport


@dataclass(frozen=True)
class PlannedTask:
    """One task of a plan: what it does, what it waits for, and (for a load) what discovery
    decided about its table: reader, encoding, key, each column's type, with the reasons."""

    id: str
    action: str
    depends_on: tuple[str, ...]
    description: str
    params: dict[str, Any] | None
    decisions: tuple[dict[str, str], ...]

    @property
    def table(self) -> str | None:
        """The table a load or check task works on; None for the commit."""
        params = self.params or {}
        table = params.get("table")
        return table if isinstance(table, str) else None


@dataclass(frozen=True)
class RunPlan:
    """The tasks a run of a pipeline would execute, in order, and the planner's notes.

    The same plan ``aoetl run PIPELINE --list-tasks --json`` prints (:meth:`to_dict` is that
    JSON, secrets masked). Planning discovers the source, so the plan is of the source as
    it was then; a run plans again when it starts.
    """

    pipeline: str
    tasks: tuple[PlannedTask, ...]
    notes: tuple[str, ...]
    # Each table's fingerprint: it changes when the spec or what would be read changes.
    fingerprints: dict[str, str] = field(default_factory=dict)
    format: int = 1

    @classmethod
    def of(cls, planned: PipelinePlan) -> RunPlan:
        """The plan of ``planned``, which is then closed (planning opened its source)."""
        from ..secrets import redact_obj

        try:
            data = redact_obj(planned.to_dict())
        finally:
            planned.source.close()
        tasks = tuple(
            PlannedTask(
                t["id"],
                t["action"],
                tuple(t["depends_on"]),
                t["description"],
                t["params"],
                tuple(t["decisions"]),
            )
            for t in data["tasks"]
        )
        return cls(
            data["pipeline"],
            tasks,
            tuple(data["notes"]),
            dict(planned.fingerprints),
            data.get("format", 1),
        )

    @property
    def tables(self) -> list[str]:
        """The tables a run loads, in plan order."""
        return [t.table for t in self.tasks if t.action == "load" and t.table is not None]

    def task(self, task_id: str) -> PlannedTask:
        """The task ``task_id`` (``load:orders``, ``check:orders``, ``commit``)."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        from ..errors import UserError

        known = ", ".join(t.id for t in self.tasks)
        raise UserError(f"the plan has no task {task_id!r}; its tasks: {known}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``aoetl run PIPELINE --list-tasks --json`` prints."""
        tasks = [
            {
                "id": t.id,
                "action": t.action,
                "depends_on": list(t.depends_on),
                "params": t.params,
                "description": t.description,
                "decisions": [dict(d) for d in t.decisions],
            }
            for t in self.tasks
        ]
        return {
            "pipeline": self.pipeline,
            "format": self.format,
            "tasks": tasks,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        """The listing ``aoetl run PIPELINE --list-tasks`` prints."""
        lines = []
        for i, t in enumerate(self.tasks, 1):
            after = f"  (after {', '.join(t.depends_on)})" if t.depends_on else ""
            lines.append(f"{i:>3}. {t.id}: {t.description}{after}")
            lines += [f"       - {_decision(d)}" for d in t.decisions]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _decision(d: dict[str, str]) -> str:
    text = f"{d['what']}: {d['value']}" if d.get("value") else d["what"]
    return f"{text} ({d['reason']})" if d.get("reason") else text


class _Runner(Protocol):
    def run(
        self,
        spec: PipelineSpec,
        *,
        bus: EventBus | None = ...,
        base_dir: Path | None = ...,
        fresh: bool = ...,
        workers: int | None = ...,
        fail_fast: bool = ...,
    ) -> RunResult: ...

    def plan_tasks(self, spec: PipelineSpec) -> PipelinePlan: ...

    def runs(self, pipeline: str | None = ..., limit: int = ...) -> list[RunRecord]: ...

    def export_dag(self, pipeline: Pipeline, path: str | Path, **options: Any) -> DagExport: ...


class Pipeline:
    """A pipeline ready to run: its validated :attr:`spec` and, on first use, its :attr:`plan`.

    Creating one touches nothing; reading :attr:`plan` discovers the source once and keeps
    the result (:meth:`replan` discovers it again); :meth:`execute` runs the spec exactly as
    ``DataOrchestrator.run(spec)`` does, planning afresh as every run does.
    """

    def __init__(self, orchestrator: _Runner, spec: PipelineSpec, base_dir: Path) -> None:
        self._orch = orchestrator
        self.spec = spec
        self.base_dir = base_dir  # a pipeline file's folder: its relative paths start here
        self._plan: RunPlan | None = None

    @property
    def name(self) -> str:
        """The pipeline's name; run history is kept under it."""
        return self.spec.name

    @property
    def plan(self) -> RunPlan:
        """The tasks a run would execute (discovers the source on first access)."""
        if self._plan is None:
            self._plan = RunPlan.of(self._orch.plan_tasks(self.spec))
        return self._plan

    def replan(self) -> RunPlan:
        """Discover the source again and plan anew (after its files changed)."""
        self._plan = None
        return self.plan

    def execute(
        self,
        *,
        bus: EventBus | None = None,
        fresh: bool = False,
        workers: int | None = None,
        fail_fast: bool = False,
    ) -> RunResult:
        """Run the pipeline; a failed run returns status 'failed' (see ``DataOrchestrator.run``)."""
        return self._orch.run(
            self.spec,
            bus=bus,
            base_dir=self.base_dir,
            fresh=fresh,
            workers=workers,
            fail_fast=fail_fast,
        )

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """This pipeline's recent runs, newest first."""
        return self._orch.runs(self.spec.name, limit=limit)

    def to_airflow(self, path: str | Path, **options: Any) -> Path:
        """Write an Airflow DAG running this pipeline's tasks to ``path`` (see
        ``DataOrchestrator.export_dag`` for ``options``: dag_id, schedule, tags…).

        Raises:
            NotSupportedError: a transform calls a function only this process can import,
                which never crosses to a worker.
        """
        return self._orch.export_dag(self, path, **options).path

    def __repr__(self) -> str:
        from ..errors import redact

        planned = "planned" if self._plan is not None else "not planned yet"
        where = redact(f"{self.spec.source.uri} -> {self.spec.target.uri}")
        return f"<Pipeline {self.name!r}: {where}, {planned}>"
