"""The ``aoetl`` command line. Thin: it parses options, calls the API, and renders results.

Exit codes: 0 success, 1 the run failed, 2 bad input or usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .errors import AoetlError

if TYPE_CHECKING:
    from .engine import EventBus, RunResult

app = typer.Typer(
    name="aoetl",
    help="Agent-orchestrated ETL: point it at files and it plans and loads them into a "
    "warehouse (DuckDB by default), quarantining bad rows instead of losing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
_state = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug detail.")
    ] = False,
) -> None:
    if verbose:
        _state["verbose"] = True


@app.command()
def run(
    source: Annotated[
        str,
        typer.Argument(
            help="A file, glob ('logs/*.csv.gz'), directory, or URI to load; or a pipeline "
            "file (*.yaml, *.yml, or *.json holding a 'source' key)."
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Target: duckdb:///file.duckdb, parquet:///dir, csv:///dir, a *.duckdb path or "
            "a directory. Default: duckdb:///warehouse.duckdb.",
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            help="Load every file into this one table (default: one table per file group)."
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(help="append (default), replace (atomic swap) or merge (upsert on --key)."),
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Key column(s) for merge, comma-separated: id or a,b.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="File format when it cannot be told: csv, json, ndjson, parquet."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Pipeline name for run history.")] = None,
    max_bad_rows: Annotated[
        int | None,
        typer.Option(
            "--max-bad-rows",
            min=0,
            help="Fail the run, loading nothing, if more than N rows are rejected.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on the first bad row (--max-bad-rows 0).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the RunResult as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Load SOURCE into a target, quarantining rows that cannot be read.

    Examples:

      aoetl run data/orders.csv

      aoetl run ./exports/ --to duckdb:///wh.duckdb --mode replace

      aoetl run 'events/*.jsonl.gz' --table events --to parquet:///lake --json

      aoetl run pipeline.yaml --strict
    """
    _state["verbose"] = _state["verbose"] or verbose
    from .api import DataOrchestrator, build_spec
    from .spec import is_spec_file, load_spec

    base = load_spec(source) if is_spec_file(source) else None
    spec = build_spec(
        source,
        target=to,
        table=table,
        mode=mode,
        key=key,
        fmt=fmt,
        name=name,
        max_bad_rows=0 if strict else max_bad_rows,
        base=base,
    )
    orch = DataOrchestrator()
    bus = _progress_bus() if not as_json and err.is_terminal else None
    result = orch.run(spec, bus=bus) if base is None else _run_file(orch, source, spec, bus)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        _render(result, orch)
    raise typer.Exit(result.exit_code)


def _run_file(orch: Any, path: str, spec: Any, bus: EventBus | None) -> RunResult:
    # Python steps in a pipeline file are found next to the file.
    from .agents import RunOptions, run_pipeline

    return run_pipeline(spec, RunOptions(home=orch.home, base_dir=Path(path).resolve().parent), bus)


def _progress_bus() -> EventBus:
    from .engine import Event, EventBus
    from .progress import ProgressView

    bus = EventBus()
    view = ProgressView(err)

    def observe(event: Event) -> None:
        view.handle(event)

    bus.subscribe(observe)
    return bus


def _render(result: RunResult, orch: Any) -> None:
    status = "[green]success[/]" if result.status == "success" else "[red]failed[/]"
    out.print(f"run {result.run_id} ({result.pipeline}): {status} in {result.duration_s:.2f}s")
    if result.tables:
        targets = {t.target.rsplit("#", 1)[0] for t in result.tables.values()}
        out.print(f"into {', '.join(sorted(targets))}", markup=False, highlight=False)
        grid = Table(show_edge=False, header_style="bold")
        grid.add_column("table")
        for col in ("rows loaded", "rejected", "rows/s"):
            grid.add_column(col, justify="right")
        grid.add_column("path")
        for name, t in result.tables.items():
            grid.add_row(
                name,
                f"{t.rows_loaded:,}",
                f"{t.rows_rejected:,}",
                f"{t.rows_per_s:,.0f}",
                "one DuckDB statement" if t.fused else "streamed through Python",
            )
        out.print(grid)
    for note in result.notes:
        out.print(f"note: {note}")
    if result.rows_rejected:
        from .state import StateStore

        entries = StateStore(orch.home).dlq_entries(result.run_id, limit=5)
        out.print(f"{result.rows_rejected} row(s) quarantined; first {len(entries)}:")
        for e in entries:
            out.print(
                f"  {e.file}:{e.line}: {e.reason}", markup=False, highlight=False, soft_wrap=True
            )
        out.print(f"see all: aoetl runs --show {result.run_id}")
    if result.error:
        err.print(f"error: {result.error}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List connectors, the schemes and formats they take, and what they can do."""
    from .connectors import CONNECTORS

    if as_json:
        out.print_json(json.dumps([c.__dict__ for c in CONNECTORS]))
        return
    grid = Table(header_style="bold")
    for col in ("connector", "kind", "schemes", "formats", "capabilities"):
        grid.add_column(col)
    for c in CONNECTORS:
        grid.add_row(
            c.name, c.kind, ", ".join(c.schemes), ", ".join(c.formats), ", ".join(c.capabilities)
        )
    out.print(grid)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a pipeline file."""
    from .spec import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def runs(
    pipeline: Annotated[str | None, typer.Option(help="Only runs of this pipeline.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list.")] = 20,
    show: Annotated[
        str | None, typer.Option(help="Show one run (id or prefix) with its quarantined rows.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List recent runs: id, pipeline, status, rows, duration."""
    from .api import home_dir
    from .errors import UserError
    from .state import StateStore

    store = StateStore(home_dir())
    if show:
        record = store.find_run(show)
        if record is None:
            raise UserError(f"no run matches {show!r}; list runs with 'aoetl runs'")
        entries = store.dlq_entries(record.run_id)
        if as_json:
            out.print_json(
                json.dumps({"run": record.__dict__, "quarantined": [e.__dict__ for e in entries]})
            )
            return
        out.print(record.__dict__, highlight=False)
        for e in entries:
            out.print(
                f"{e.table}  {e.file}:{e.line}  {e.reason}  | {e.payload}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        return
    records = store.runs(pipeline=pipeline, limit=limit)
    if as_json:
        out.print_json(json.dumps([r.__dict__ for r in records]))
        return
    grid = Table(header_style="bold")
    for col in ("run id", "pipeline", "status", "rows", "rejected", "duration"):
        grid.add_column(col)
    for r in records:
        grid.add_row(
            r.run_id,
            r.pipeline,
            r.status,
            f"{r.rows_loaded:,}",
            f"{r.rows_rejected:,}",
            f"{r.duration_s:.2f}s" if r.duration_s is not None else "-",
        )
    out.print(grid)


def main() -> None:
    """Console entry point: one clean line for user errors, tracebacks only with -v."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except AoetlError as exc:
        if _state["verbose"]:
            err.print_exception()
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted; nothing was committed")
        sys.exit(130)
    except Exception as exc:
        # Typer vendors click, so usage errors are recognised by shape, not by class.
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        if _state["verbose"]:
            err.print_exception()
        err.print(
            f"error: {type(exc).__name__}: {exc} (run with -v for the traceback)", markup=False
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
