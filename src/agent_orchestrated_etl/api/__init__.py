"""The Python facade: ``DataOrchestrator().create_pipeline(...).execute()``, and the rest.

Every face goes through it: the ``aoetl`` command line calls these same methods, so a
command and its Python call cannot disagree. Thin on purpose: it builds a PipelineSpec and
hands it to ``pipeline``; run history and the dead-letter queue come from ``state``.
Heavy modules (pydantic models, DuckDB, the connectors) load on first use.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..settings import Settings
from ._agents import AgentMethods
from ._build import _default_name as _default_name  # tests check the name rule
from ._build import build_spec, home_dir, looks_like_document, strings_in
from ._export import DagExport, ExportMethods
from ._history import HistoryMethods, RunDetails
from ._memory import MemoryMethods
from ._pipeline import Pipeline, PlannedTask, RunPlan
from ._quality import QualityMethods
from ._query import QueryMethods, QueryResult

if TYPE_CHECKING:
    from ..analysis import SourceReport
    from ..connectors import ConnectorInfo
    from ..engine import EventBus, RunResult
    from ..pipeline import PipelinePlan
    from ..pipeline.propose import Proposal
    from ..spec import PipelineSpec
    from ..state import RunRecord, StateStore

__all__ = [
    "DagExport",
    "DataOrchestrator",
    "Pipeline",
    "PlannedTask",
    "PreparedRun",
    "QueryResult",
    "RunDetails",
    "RunPlan",
    "build_spec",
    "home_dir",
]


@dataclass
class PreparedRun:
    """A run ready to start: its spec, the folder its relative paths are read from, and the
    id of the run it continues (for a resume)."""

    spec: PipelineSpec
    base_dir: Path = field(default_factory=Path.cwd)
    run_id: str | None = None


class DataOrchestrator(
    HistoryMethods, QualityMethods, MemoryMethods, AgentMethods, ExportMethods, QueryMethods
):
    """Create and run pipelines from Python; read run history and the dead-letter queue.

    ``home`` (default ``AOETL_HOME``, else ``./.aoetl``) holds the state database and
    DuckDB's extension directory; nothing else is written outside the targets. The
    ``AOETL_*`` settings apply as they do on the command line: an argument wins over the
    environment, which wins over a pipeline file, which wins over the defaults.

    Example (see docs/python-api.md):
        >>> orch = DataOrchestrator()
        >>> pipeline = orch.create_pipeline("data/orders.csv", target="duckdb:///wh.duckdb")
        >>> result = pipeline.execute()
        >>> result.status, result.tables["orders"].rows_loaded
    """

    def __init__(self, home: str | Path | None = None, *, settings: Settings | None = None):
        if settings is None:
            settings = Settings.load({"home": home})
        elif home:
            settings = settings.with_flags(home=Path(home).expanduser())
        self.settings = settings
        self.home = settings.home

    # -- pipelines -------------------------------------------------------------------------
    def create_pipeline(
        self,
        source: str,
        target: str | None = None,
        *,
        table: str | None = None,
        mode: str | None = None,
        key: str | list[str] | None = None,
        transforms: list[dict[str, Any]] | None = None,
        name: str | None = None,
        max_bad_rows: int | None = None,
        tables: list[str] | None = None,
        query: str | None = None,
        partitions: int | None = None,
        reader: str | None = None,
        operations: Mapping[str, Any] | None = None,
        checks: list[dict[str, Any]] | None = None,
        fmt: str | None = None,
        max_bad_ratio: float | None = None,
        timeout_s: float | None = None,
    ) -> Pipeline:
        """Describe a pipeline: a :class:`Pipeline` holding the validated spec. Nothing is
        read until its ``plan`` is asked for, nothing runs until :meth:`Pipeline.execute`.

        ``source`` is a path, URL or pipeline file. ``target`` and ``mode`` default to
        ``AOETL_TARGET`` and ``AOETL_MODE``, then to ``duckdb:///warehouse.duckdb`` and
        append. ``tables``, ``query``, ``partitions`` and ``reader`` apply to database
        sources. ``operations`` maps ``transform`` (a callable over pyarrow batches, a SQL
        string, a step, or a list of them), ``python``, ``sql``, ``filter``, ``rename``,
        ``cast``, ``derive``, ``drop``, ``dedupe`` and ``checks`` to what they take; its
        steps apply in the order given, after ``transforms``, and with ``checks`` replace a
        pipeline file's (see docs/python-api.md).
        """
        steps = None if transforms is None else list(transforms)
        if operations is not None:
            from ._operations import from_operations  # imports the step machinery

            extra, more = from_operations(operations)
            if extra:
                steps = [*(steps or []), *extra]
            if more:
                checks = [*(checks or []), *more]
        prepared = self.prepare(
            source,
            target=target,
            table=table,
            mode=mode,
            key=key,
            transforms=steps,
            name=name,
            max_bad_rows=max_bad_rows,
            tables=tables,
            query=query,
            partitions=partitions,
            reader=reader,
            checks=checks,
            fmt=fmt,
            max_bad_ratio=max_bad_ratio,
            timeout_s=timeout_s,
        )
        return Pipeline(self, prepared.spec, prepared.base_dir)

    def plan(
        self, source: str | Path | PipelineSpec, target: str | None = None, **options: Any
    ) -> RunPlan:
        """The tasks a run of ``source`` (or of a spec) would execute, with each load's
        discovery decisions and the planner's notes, running nothing: ``create_pipeline(source,
        target, **options).plan``. Discovers the source, then closes it.
        """
        from ..spec import PipelineSpec

        if isinstance(source, PipelineSpec):
            return RunPlan.of(self.plan_tasks(source))
        return self.create_pipeline(str(source), target, **options).plan

    def prepare(
        self,
        source: str | Path | Mapping[str, Any] | None,
        *,
        resume: str | None = None,
        base_dir: str | Path | None = None,
        **options: Any,
    ) -> PreparedRun:
        """The spec of a run: from a source, a pipeline file, a pipeline document (a mapping,
        its relative paths read from ``base_dir``), or an earlier run to ``resume`` (id or
        prefix); ``options`` are :func:`build_spec`'s arguments, and win over this
        orchestrator's settings, which win over the pipeline file."""
        from ..spec import is_spec_file, load_document, load_spec

        run_id, base, base_dir = None, None, Path(base_dir or Path.cwd())
        if isinstance(source, Mapping):  # a pipeline file's document, as a DAG embeds it
            base = load_document(copy.deepcopy(dict(source)), base_dir)
            source = base.source.uri
        elif resume:
            record = self.run_record(resume)
            run_id, base = record.run_id, self._stored_spec(record)
            source = source or base.source.uri
        elif source is None:
            raise UserError("give a SOURCE to load, or --resume RUN_ID; see 'aoetl run --help'")
        elif is_spec_file(str(source)):
            base = load_spec(source)
            base_dir = Path(source).resolve().parent
        elif looks_like_document(str(source)):
            # An OpenAPI document's URL runs the pipeline 'aoetl plan URL' would write.
            from ..pipeline.propose import propose_rest
            from ..spec import validate_spec

            proposal = propose_rest(build_spec(str(source)), home=self.home)
            base = validate_spec(proposal.document)
        given = {k: v for k, v in options.items() if v is not None}
        spec = build_spec(str(source), base=base, **{**self._spec_settings(), **given})
        return PreparedRun(spec, base_dir, run_id)

    def run(
        self,
        spec: PipelineSpec | Pipeline | str | Path,
        *,
        bus: EventBus | None = None,
        base_dir: Path | None = None,
        run_id: str | None = None,
        fresh: bool = False,
        workers: int | None = None,
        fail_fast: bool = False,
    ) -> RunResult:
        """Run a spec, a :class:`Pipeline`, or a pipeline file by path; a failed run returns
        status 'failed'.

        A pipeline file gets the ``AOETL_*`` settings laid over it. ``run_id`` continues
        that run; ``fresh`` starts over instead of resuming an unfinished run of the same
        pipeline; ``workers`` defaults to ``AOETL_WORKERS``, then the number of CPU cores.
        """
        from ..pipeline import RunOptions, run_pipeline
        from ..spec import PipelineSpec

        if isinstance(spec, Pipeline):
            base_dir = base_dir or spec.base_dir
            spec = spec.spec
        elif not isinstance(spec, PipelineSpec):
            prepared = self.prepare(spec)
            spec, base_dir = prepared.spec, base_dir or prepared.base_dir
        options = RunOptions(
            home=self.home, base_dir=base_dir or Path.cwd(), run_id=run_id, fresh=fresh
        )
        workers = workers or self.settings.workers
        if workers:
            options.workers, options.workers_given = workers, True
        options.fail_fast = fail_fast
        return run_pipeline(spec, options, bus)

    def run_task(
        self,
        spec: PipelineSpec,
        task_id: str,
        run_id: str,
        *,
        bus: EventBus | None = None,
        base_dir: Path | None = None,
        attempts: int | None = None,
    ) -> RunResult:
        """Run one task of ``spec``'s plan as part of run ``run_id`` (any id the caller
        chooses): the first task of a new id starts the run, the commit task finishes it.
        A failed task returns status 'failed', as :meth:`run` does. ``attempts`` replaces
        the spec's retries of the task in this process (1 when a scheduler retries it)."""
        from ..pipeline import run_task

        return run_task(
            spec, task_id, run_id, home=self.home, base_dir=base_dir, bus=bus, attempts=attempts
        )

    def plan_tasks(self, spec: PipelineSpec) -> PipelinePlan:
        """Discover the source and plan the run's tasks, running nothing. The plan holds the
        open source: close ``plan.source`` when done (:meth:`plan` returns a closed one)."""
        from ..pipeline import plan_pipeline
        from ..pipeline.recall import preview

        planned = plan_pipeline(spec, home=self.home)
        return preview(planned, self.home, workers=self.settings.workers)  # memory's advice

    def propose(
        self,
        spec: PipelineSpec,
        *,
        tables: list[str] | None = None,
        base_url: str | None = None,
        sample_rows: int | None = None,
        report: SourceReport | None = None,
    ) -> Proposal:
        """Discover ``spec``'s source and propose a pipeline file, with the reasons.

        A REST API (an http(s) URL or an OpenAPI document) is planned from its document, or
        by probing its one endpoint; ``tables`` (names or globs) picks its endpoints and
        ``base_url`` overrides the document's server URL. Files, folders and S3 prefixes are
        analysed once, each table profiled on ``sample_rows`` rows (default 10,000), and
        planned per table: merge on the key found, else append; loads ordered by the foreign
        keys found; ``Proposal.to_yaml()`` is the file with comments saying why. ``report``,
        an :meth:`analyze` of the same files or prefix, is planned from without reading the
        source again.
        """
        from ..connectors.registry import check_targets
        from ..pipeline.propose import propose, propose_rest

        check_targets(spec)  # the file it writes must name a target a run can write
        if tables is not None or base_url is not None:
            return propose_rest(spec, home=self.home, tables=tables, base_url=base_url)
        return propose(spec, home=self.home, sample_rows=sample_rows, report=report)

    def analyze(
        self,
        source: str,
        *,
        base_url: str | None = None,
        sample_rows: int | None = None,
        fmt: str | None = None,
    ) -> SourceReport:
        """What ``source`` holds, without loading it: a REST API from its OpenAPI or Swagger
        document (a URL or a file; ``base_url`` overrides its server URL) or by probing a
        collection endpoint; files, folders and S3 prefixes profiled on a sample of
        ``sample_rows`` rows per table (default 10,000); any other source by discovery.
        ``fmt`` is the file format where it cannot be told. Every guess has its evidence.

        Raises:
            UserError: the document or URL cannot be read or used.
        """
        from ..analysis import analyze

        spec = build_spec(source, fmt=fmt).source
        return analyze(spec, home=self.home, base_url=base_url, sample_rows=sample_rows)

    @staticmethod
    def is_rest(source: str) -> bool:
        """Whether ``source`` is planned as a REST API (an http(s) URL or an OpenAPI file)."""
        from ..pipeline.propose import is_rest

        return is_rest(source)

    # -- helpers ---------------------------------------------------------------------------
    def check_secrets(self, pipeline: str | Path) -> list[dict[str, object]]:
        """Resolve every ``${…}`` reference of a pipeline file, never keeping a value: one
        record per reference with ``reference``, ``provider``, ``ok`` and ``detail``."""
        from ..errors import AoetlError
        from ..secrets import RESOLVER, find
        from ..spec import load_spec

        texts = strings_in(load_spec(pipeline).model_dump())
        refs = {ref.text: ref for text in texts for ref in find(text)}
        report: list[dict[str, object]] = []
        for ref in refs.values():
            try:
                RESOLVER.value(ref)
                ok, detail = True, "ok"
            except AoetlError as exc:
                ok, detail = False, str(exc)
            report.append(
                {"reference": ref.text, "provider": ref.provider, "ok": ok, "detail": detail}
            )
        return report

    @staticmethod
    def connectors() -> list[ConnectorInfo]:
        """Every registered connector: its schemes, formats and capabilities."""
        from ..connectors import CONNECTORS

        return list(CONNECTORS)

    @staticmethod
    def schema() -> dict[str, Any]:
        """The JSON Schema of a pipeline file."""
        from ..spec import json_schema

        return json_schema()

    def _store(self) -> StateStore:
        from ..state import StateStore

        return StateStore(self.home)

    def _spec_settings(self) -> dict[str, Any]:
        return self.settings.spec_fields()

    @staticmethod
    def _stored_spec(record: RunRecord) -> PipelineSpec:
        from ..pipeline.runner import stored_spec

        return stored_spec(record, record.run_id)
