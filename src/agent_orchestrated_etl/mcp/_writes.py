"""The tools that write: run (unless dry_run), dlq_replay and export_dag to a path.

Each is refused unless the server was started with ``--allow-write`` (and the target
matches an ``--allow-target`` glob, when any was given). A run reports its progress as MCP
progress notifications: one per finished task, and the loads' own progress in between.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from ._calls import Calls, pipeline_document, working_dir
from ._results import error_result

if TYPE_CHECKING:
    from ..api import DataOrchestrator, PreparedRun
    from ..engine import Event

WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)
_DONE = {"task_finished", "task_resumed", "task_failed", "task_skipped"}
_EVERY_S = 0.25  # the most often a load's own progress is sent

# Plain str (not str | None): the SDK would otherwise take a JSON text for an object.
Pipeline = Annotated[
    str,
    Field(
        description="The pipeline: the YAML (or JSON) text 'plan' returned, or a pipeline "
        "file's path (relative to the server's working directory)."
    ),
]


def register(server: MCPServer[Any], calls: Calls) -> None:
    """Add the tools that write to ``server``."""
    from ..api import DataOrchestrator

    @server.tool(annotations=WRITES)
    async def run(
        ctx: Context,
        pipeline: Pipeline = "",
        source: Annotated[
            str, Field(description="Instead of a pipeline: a source to load as it is.")
        ] = "",
        target: Annotated[
            str | None,
            Field(
                description="Where to load (over the pipeline's; default duckdb:///warehouse.duckdb)."
            ),
        ] = None,
        mode: Annotated[
            str | None, Field(description="append, replace or merge (merge needs 'key').")
        ] = None,
        key: Annotated[list[str] | None, Field(description="Merge key columns.")] = None,
        table: Annotated[str | None, Field(description="The target table of one source.")] = None,
        dry_run: Annotated[
            bool, Field(description="Plan the run's tasks and stop; nothing is written.")
        ] = False,
        fresh: Annotated[
            bool, Field(description="Start over instead of resuming an unfinished run.")
        ] = False,
    ) -> CallToolResult:
        """Run a pipeline (or load a source as it is) with exactly-once loads: malformed rows
        go to the dead-letter queue with the reason; a failed run leaves the target as it
        was. The result says per table what was loaded and rejected; 'run_details' explains
        a failed run. Writes need a server started with --allow-write."""
        orch = DataOrchestrator()
        options = {"target": target, "mode": mode, "key": key, "table": table}

        def prepare() -> PreparedRun:
            return _prepare(orch, pipeline, source, options)

        if dry_run:

            def plan_only() -> dict[str, Any]:
                prepared = prepare()
                return {"dry_run": True, **orch.plan(prepared.spec).to_dict()}

            return await calls.read(plan_only)
        try:
            prepared = await anyio.to_thread.run_sync(prepare)
            for uri in (t.uri for t in prepared.spec.all_targets()):
                calls.options.check_write("run", uri, base=prepared.base_dir)
        except Exception as exc:
            return error_result(exc)
        progress = _Progress(ctx)

        def work() -> dict[str, Any]:
            from ..engine import EventBus

            bus = EventBus()
            bus.subscribe(progress.on_event)
            result = orch.run(prepared.spec, bus=bus, base_dir=prepared.base_dir, fresh=fresh)
            data = result.to_dict()
            if result.exit_code:
                data["next"] = f"call run_details with run_id {result.run_id} to see why"
            return data

        async with calls.writing():
            try:
                data = await _cancellable(work)
            except Exception as exc:
                return error_result(exc)
        return calls.shown(data, failed=data.get("status") != "success")

    @server.tool(annotations=WRITES)
    async def dlq_replay(
        run_id: Annotated[str, Field(description="The run whose open entries to replay.")],
        pipeline: Annotated[
            str | None,
            Field(description="A fixed pipeline file: its columns, CSV options, target."),
        ] = None,
    ) -> CallToolResult:
        """Reprocess a run's quarantined rows once their cause is fixed (pass the fixed
        pipeline file); rows that now pass are loaded, never twice. Needs --allow-write."""

        orch = DataOrchestrator()

        def work() -> dict[str, Any]:
            record = orch.run_record(run_id, unique=True)
            # A failed task is replayed by resuming the run itself, into its own target,
            # whatever the fixed pipeline says: both are checked.
            calls.options.check_write("dlq_replay", record.target or "")
            if pipeline:
                prepared = orch.prepare(pipeline, base_dir=working_dir())
                for uri in (t.uri for t in prepared.spec.all_targets()):
                    calls.options.check_write("dlq_replay", uri, base=prepared.base_dir)
            return orch.replay(run_id=record.run_id, pipeline=pipeline).to_dict()

        return await calls.write(work)

    @server.tool(annotations=WRITES)
    async def export_dag(
        pipeline: Annotated[str, Field(description="A pipeline file's path, or its YAML text.")],
        dag_id: str | None = None,
        schedule: Annotated[
            str | None, Field(description="Cron, an Airflow preset (@daily…) or 'none'.")
        ] = "@daily",
        path: Annotated[
            str | None,
            Field(
                description="Write the DAG file here (needs --allow-write); else it is returned."
            ),
        ] = None,
    ) -> CallToolResult:
        """The pipeline as an Apache Airflow 3 DAG file: one Airflow task per aoetl task,
        retries and time limits from the pipeline; secrets stay references."""

        def work() -> dict[str, Any]:
            orch = DataOrchestrator()
            document = pipeline_document(pipeline)
            given: Any = pipeline
            where: dict[str, Any] = {"dag_id": dag_id, "schedule": schedule}
            if document is not None:
                prepared = orch.prepare(document, base_dir=working_dir())
                given, where["base_dir"] = prepared.spec, prepared.base_dir
            if path is not None:
                calls.options.check_write("export_dag", str(Path(path).resolve()))
                made = orch.export_dag(given, path, **where)
                return {**made.to_dict(), "written": True}
            with tempfile.TemporaryDirectory(prefix="aoetl-mcp-") as folder:
                out = Path(folder) / "dag.py"
                made = orch.export_dag(given, out, **where)
                text = out.read_text(encoding="utf-8")
            return {**made.to_dict(), "path": None, "written": False, "dag_py": text}

        return await calls.read(work)


async def _cancellable(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work`` (a run) in a worker thread; a client that cancels the call interrupts it.

    The run stops as Ctrl-C stops ``aoetl run``: nothing is committed, the target is as it
    was, the run is recorded 'interrupted'. The interruption is process-wide, which is safe
    because runs take turns (:meth:`Calls.writing`); it is lifted once the run has stopped.
    """
    from ..engine import interrupts

    stopped = threading.Event()

    def body() -> dict[str, Any]:
        try:
            return work()
        finally:
            stopped.set()

    try:
        return await anyio.to_thread.run_sync(body, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        interrupts.interrupt("the MCP client cancelled the run")
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stopped.wait)
        interrupts.reset()
        raise


def _prepare(
    orch: DataOrchestrator, pipeline: str, source: str, options: dict[str, Any]
) -> PreparedRun:
    from ..errors import UserError

    if bool(pipeline) == bool(source):
        raise UserError("give 'pipeline' (the YAML 'plan' returned, or a file) or 'source'")
    given: Any = source
    if pipeline:
        document = pipeline_document(pipeline)
        given = pipeline if document is None else document
    return orch.prepare(given, base_dir=working_dir(), **options)


class _Progress:
    """Run events → MCP progress notifications, sent from the run's worker thread."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.done = 0
        self._sent = -1.0  # the last value sent: MCP progress must only grow
        self._last = 0.0
        # Events come from the executor's own threads, not from an AnyIO worker thread.
        self._loop = anyio.lowlevel.current_token()
        self._lock = threading.Lock()

    def on_event(self, event: Event) -> None:
        task = event.task_id or ""
        with self._lock:  # tasks finish on several threads
            if event.kind in _DONE:
                self.done += 1
                value = float(self.done)
                rows = event.data.get("rows")  # a resumed load says what its checkpoint holds
                message = f"{task}: {event.kind.removeprefix('task_')}"
                message += f", {rows:,} rows" if isinstance(rows, int) else ""
            elif event.kind == "progress" and time.monotonic() - self._last >= _EVERY_S:
                fraction = min(max(float(event.data.get("fraction") or 0.0), 0.0), 0.99)
                # Between the finished-task counts: the load's own share of its task.
                value = self.done + fraction
                message = f"{task}: {fraction:.0%}"
            else:
                return
            if value <= self._sent:
                return
            self._sent, self._last = value, time.monotonic()
            try:
                anyio.from_thread.run(
                    self.ctx.report_progress, value, None, message, token=self._loop
                )
            except Exception:  # a client gone away must not fail the run
                return
