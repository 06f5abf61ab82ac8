"""``aoetl run``: load a source into a target, with live progress and a summary."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._app import (
    FormatOption,
    KeyOption,
    ModeOption,
    PartitionsOption,
    QueryOption,
    ReaderOption,
    TablesOption,
    _split,
    _state,
    _verbose,
    app,
    err,
    out,
)

if TYPE_CHECKING:
    from ..api import DataOrchestrator, RunPlan
    from ..engine import EventBus, RunResult


@app.command()
def run(
    source: Annotated[
        str | None,
        typer.Argument(
            help="A file, glob (`'logs/*.csv.gz'`), directory, or URI to load; or a pipeline "
            "file (`*.yaml`, `*.yml`, or `*.json` holding a 'source' key). Not needed with "
            "--resume."
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Target (default ./warehouse.duckdb): duckdb:///f.duckdb, parquet:///dir, "
            "csv:///dir, s3://bucket/prefix/, postgresql://host/db, sqlite:///f.db, a `*.duckdb` "
            "path or a directory.",
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            help="Load every file into this one table (default: one table per file group)."
        ),
    ] = None,
    mode: ModeOption = None,
    key: KeyOption = None,
    fmt: FormatOption = None,
    tables: TablesOption = None,
    query: QueryOption = None,
    partitions: PartitionsOption = None,
    reader: ReaderOption = None,
    name: Annotated[str | None, typer.Option(help="Pipeline name for run history.")] = None,
    max_bad_rows: Annotated[
        int | None,
        typer.Option(
            "--max-bad-rows",
            min=0,
            help="Fail the run, loading nothing, if more than N rows are rejected.",
        ),
    ] = None,
    max_bad_ratio: Annotated[
        float | None,
        typer.Option(
            "--max-bad-ratio",
            min=0,
            max=1,
            help="Fail the run, loading nothing, if a table rejects more than this share of its "
            "records. Default 0.5; 1 turns the check off.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on the first bad row (--max-bad-rows 0).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Tasks run in parallel (default: the number of CPU cores)."),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop every task at the first failure.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(min=0.001, help="Time limit per task, in seconds.")
    ] = None,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            "--lock-timeout",
            min=0,
            help="Seconds to wait while another run writes the same table (or holds the "
            "DuckDB file), instead of failing at once.",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue this run (id or prefix) from its checkpoints."),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Start over instead of resuming an unfinished earlier run."),
    ] = False,
    list_tasks: Annotated[
        bool,
        typer.Option(
            "--list-tasks",
            help="Print the tasks in order and run nothing (with --json: the serialised plan).",
        ),
    ] = False,
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="Run only this task of the plan (see --list-tasks), as part of --run-id: "
            "what an orchestrator runs in each of its own processes.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="With --task: the run the task belongs to, any id the caller chooses "
            "(the same for every task of one run).",
        ),
    ] = None,
    monitor: Annotated[
        Path | None, typer.Option(help="Append every run event to this JSON Lines file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the RunResult as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Load SOURCE into a target, quarantining rows that cannot be read.

    A run stages every table, then commits them at once; a run that fails or is killed leaves
    the target unchanged, and running it again continues from its checkpoints.

    Examples:

      aoetl run data/orders.csv

      aoetl run ./exports/ --to duckdb:///wh.duckdb --mode replace

      aoetl run 'events/*.jsonl.gz' --table events --to parquet:///lake --json

      aoetl run https://api.example.com/v1/users --list-tasks   (probes a REST endpoint)

      aoetl run pipeline.yaml --strict --monitor events.jsonl

      aoetl run --resume 20261123T2242

      aoetl run pipeline.yaml --task load:orders --run-id nightly-42
    """
    if verbose:
        _verbose()
    from ..api import DataOrchestrator
    from ..settings import Settings

    _check_task_options(task, run_id, resume=resume, fresh=fresh, list_tasks=list_tasks)
    flags = {"target": to, "mode": mode, "timeout": timeout, "workers": workers}
    orch = DataOrchestrator(
        settings=Settings.load({**flags, "max_bad_rows": 0 if strict else max_bad_rows})
    )
    prepared = orch.prepare(
        source,
        resume=resume,
        table=table,
        key=key,
        fmt=fmt,
        name=name,
        max_bad_ratio=max_bad_ratio,
        lock_timeout_s=lock_timeout,
        tables=_split(tables),
        query=query,
        partitions=partitions,
        reader=reader,
    )
    spec = prepared.spec
    # A table that merges by its own tasks.<table>.mode, without its own key, uses the
    # pipeline's: then the key is not ignored.
    borrowed = any(o.mode == "merge" and not o.key for o in spec.tasks.values())
    if spec.key and spec.mode != "merge" and not borrowed:
        err.print(
            f"warning: --key {','.join(spec.key)} is used only with --mode merge; this run "
            f"is '{spec.mode}', so the key is ignored",
            markup=False,
            highlight=False,
        )
    if list_tasks:
        _list_tasks(orch.plan(spec), as_json)
        return
    bus, anomalies = _run_bus(live=not as_json and err.is_terminal, monitor=monitor)
    gc.freeze()  # see main(): the modules the run just imported live as long as the process
    if task is not None and run_id is not None:
        result = orch.run_task(spec, task, run_id, bus=bus, base_dir=prepared.base_dir)
    else:
        result = orch.run(
            spec,
            bus=bus,
            base_dir=prepared.base_dir,
            run_id=prepared.run_id,
            fresh=fresh,
            fail_fast=fail_fast,
        )
    if as_json:
        from ..secrets import redact_obj

        out.print_json(json.dumps(redact_obj(result.to_dict())))
    else:
        _render(result, orch)
        for message in anomalies:
            if any(n.endswith(message) for n in result.notes):
                continue  # a profiled table's anomaly, printed among the notes
            err.print(f"warning: {message}", markup=False, highlight=False)
    raise typer.Exit(result.exit_code)


def _check_task_options(
    task: str | None, run_id: str | None, *, resume: str | None, fresh: bool, list_tasks: bool
) -> None:
    from ..errors import UserError

    if task is None and run_id is None:
        return
    if task is None:
        raise UserError(
            "--run-id goes with --task TASK_ID; to continue an earlier run use --resume RUN_ID"
        )
    if run_id is None:
        raise UserError(
            f"--task {task} needs --run-id RUN_ID: any id, the same for every task of one run"
        )
    clash = [
        o
        for o, on in (("--resume", resume), ("--fresh", fresh), ("--list-tasks", list_tasks))
        if on
    ]
    if clash:
        raise UserError(f"--task runs one task of a run; leave out {', '.join(clash)}")


def _list_tasks(plan: RunPlan, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(plan.to_dict()))  # secrets masked by RunPlan
        return
    for line in str(plan).splitlines():
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def _run_bus(*, live: bool, monitor: Path | None) -> tuple[EventBus, list[str]]:
    from ..engine import Event, EventBus

    bus = EventBus()
    anomalies: list[str] = []

    def on_anomaly(event: Event) -> None:
        if event.kind == "anomaly":
            anomalies.append(str(event.data.get("message")))

    bus.subscribe(on_anomaly)
    if monitor is not None:
        from ..engine.sinks import JsonlSink

        bus.subscribe(JsonlSink(monitor))
    if live:
        from ..progress import ProgressView

        bus.subscribe(ProgressView(err).handle)
    return bus, anomalies


def _render(result: RunResult, orch: DataOrchestrator) -> None:
    from ..engine import COMMIT

    colour = {"success": "green", "interrupted": "yellow"}.get(result.status, "red")
    status = f"[{colour}]{result.status}[/]"
    what = f"task {result.task} of run" if result.task else "run"
    # Only the status is markup: a pipeline name or a note may hold brackets.
    out.print(
        f"{what} {escape(result.run_id)} ({escape(result.pipeline)}): {status} in "
        f"{result.duration_s:.2f}s",
        highlight=False,
    )
    if result.tables:
        targets = {t.target.rsplit("#", 1)[0] for t in result.tables.values()}
        out.print(f"into {', '.join(sorted(targets))}", markup=False, highlight=False)
        grid = Table(show_edge=False, header_style="bold")
        grid.add_column("table")
        # A commit in its own process knows each table's rows, not how its load went.
        detail = result.task != COMMIT
        for col in ("rows loaded", "rejected", "rows/s")[: 3 if detail else 2]:
            grid.add_column(col, justify="right")
        if detail:
            grid.add_column("path")
        for name, t in result.tables.items():
            cells = [name, f"{t.rows_loaded:,}", f"{t.rows_rejected:,}"]
            if detail:
                path = "one DuckDB statement" if t.fused else "Arrow stream"
                cells += [f"{t.rows_per_s:,.0f}", path]
            grid.add_row(*cells)
        out.print(grid)
    from ..quality.checks import check_line

    said = set()
    for check in result.checks:  # passed ones are in --json and the history
        if check.get("status") in ("warned", "quarantined", "failed"):
            line = check_line(check)
            said.add(line)
            out.print(f"{check['status']}: {line}", markup=False, highlight=False, soft_wrap=True)
    for note in result.notes:
        if note not in said:
            out.print(f"note: {note}", markup=False, highlight=False)
    if result.rows_rejected:
        entries = orch.dlq(result.run_id, status="open", limit=5)
        rows = "1 row" if result.rows_rejected == 1 else f"{result.rows_rejected:,} rows"
        out.print(f"{rows} quarantined; first {len(entries)}:")
        for e in entries:
            out.print(
                f"  {e.file}:{e.line}: {e.reason}", markup=False, highlight=False, soft_wrap=True
            )
        out.print(f"see all: aoetl runs --show {result.run_id}")
    if result.error:
        from ..secrets import redact

        if _state["verbose"] and result.traceback:
            err.print(result.traceback, markup=False, highlight=False)
        err.print(f"error: {redact(result.error)}", markup=False, highlight=False, soft_wrap=True)
