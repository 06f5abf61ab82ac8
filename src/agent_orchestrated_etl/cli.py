"""The ``aoetl`` command line. Thin: it parses options, calls the API, and renders results.

Exit codes: 0 success, 1 the run failed, 2 bad input or usage.
"""

from __future__ import annotations

import gc
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
    from .spec import PipelineSpec

app = typer.Typer(
    name="aoetl",
    help="Agent-orchestrated ETL: point it at files or a database and it plans and loads them "
    "into a warehouse (DuckDB by default), exactly once, quarantining bad rows instead of "
    "losing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
# No emoji codes: 'load:a:' is a task id, not ':a:'.
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)
_state = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logs.")
    ] = False,
) -> None:
    if verbose:
        _verbose()


def _verbose() -> None:
    """-v: debug logs on stderr, through the redaction filter, and tracebacks on errors."""
    if _state["verbose"]:
        return
    _state["verbose"] = True
    import logging

    from .secrets import RedactingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("aoetl")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


# Options that run and plan share: how to read the source.
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", help="File format when it cannot be told: csv, json, ndjson, parquet."
    ),
]
TablesOption = Annotated[
    str | None,
    typer.Option(
        help="For a database: the tables to read, comma-separated; globs such as "
        "`sales.*` work (default: all)."
    ),
]
QueryOption = Annotated[
    str | None,
    typer.Option(help="For a database: one SQL query to read (into --table)."),
]
PartitionsOption = Annotated[
    int | None,
    typer.Option(min=2, max=64, help="For a database: read each table as N key ranges."),
]
ReaderOption = Annotated[
    str | None,
    typer.Option(
        help="For a database: auto (DuckDB's scanners, else ADBC or SQLAlchemy), duckdb, "
        "adbc (PostgreSQL as Arrow) or sqlalchemy (any SQLAlchemy URL)."
    ),
]


def _split(names: str | None) -> list[str] | None:
    """A comma-separated option as a list; None when not given."""
    return [n.strip() for n in names.split(",") if n.strip()] if names else None


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
            help="Target: duckdb:///file.duckdb, parquet:///dir, csv:///dir, a `*.duckdb` path or "
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
    resume: Annotated[
        str | None,
        typer.Option(help="Continue this run (id or prefix) from its checkpoints."),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Start over instead of resuming an unfinished earlier run."),
    ] = False,
    list_tasks: Annotated[
        bool, typer.Option("--list-tasks", help="Print the tasks in order and run nothing.")
    ] = False,
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

      aoetl run pipeline.yaml --strict --monitor events.jsonl

      aoetl run --resume 20261123T2242
    """
    if verbose:
        _verbose()
    from .agents import RunOptions, run_pipeline, spec_of_run
    from .api import build_spec, home_dir
    from .errors import UserError
    from .spec import is_spec_file, load_spec

    # Precedence: the flag, then the environment, then the pipeline file, then the defaults.
    env = _env_settings()
    to = to or env.get("target")
    mode = mode or env.get("mode")
    max_bad_rows = max_bad_rows if max_bad_rows is not None else env.get("max_bad_rows")
    timeout = timeout if timeout is not None else env.get("timeout")
    workers = workers or env.get("workers")
    home = home_dir()
    run_id = None
    base_dir = Path.cwd()
    base: PipelineSpec | None
    if resume:
        from .state import StateStore

        run_id, base = spec_of_run(StateStore(home), resume)
        source = source or base.source.uri
    elif source is None:
        raise UserError("give a SOURCE to load, or --resume RUN_ID; see 'aoetl run --help'")
    else:
        base = load_spec(source) if is_spec_file(source) else None
        if base is not None:
            base_dir = Path(source).resolve().parent
    spec = build_spec(
        source,
        target=to,
        table=table,
        mode=mode,
        key=key,
        fmt=fmt,
        name=name,
        max_bad_rows=0 if strict else max_bad_rows,
        timeout_s=timeout,
        tables=_split(tables),
        query=query,
        partitions=partitions,
        reader=reader,
        base=base,
    )
    if list_tasks:
        _list_tasks(spec, as_json)
        return
    options = RunOptions(home=home, base_dir=base_dir, run_id=run_id, fresh=fresh)
    if workers:
        options.workers = workers
    options.fail_fast = fail_fast
    bus, anomalies = _run_bus(live=not as_json and err.is_terminal, monitor=monitor)
    gc.freeze()  # see main(): the modules the run just imported live as long as the process
    result = run_pipeline(spec, options, bus)
    if as_json:
        from .secrets import redact_obj

        out.print_json(json.dumps(redact_obj(result.to_dict())))
    else:
        _render(result, home)
        for message in anomalies:
            err.print(f"warning: {message}", markup=False, highlight=False)
    raise typer.Exit(result.exit_code)


ENV_SETTINGS = {
    "AOETL_TARGET": ("target", str),
    "AOETL_MODE": ("mode", str),
    "AOETL_MAX_BAD_ROWS": ("max_bad_rows", int),
    "AOETL_TIMEOUT": ("timeout", float),
    "AOETL_WORKERS": ("workers", int),
}


def _env_settings() -> dict[str, Any]:
    import os

    from .errors import UserError

    found: dict[str, Any] = {}
    for var, (name, kind) in ENV_SETTINGS.items():
        raw = os.environ.get(var)
        if raw:
            try:
                found[name] = kind(raw)
            except ValueError:
                raise UserError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
    return found


def _list_tasks(spec: Any, as_json: bool) -> None:
    from .agents import plan_pipeline

    planned = plan_pipeline(spec)
    tasks = planned.plan.order()
    if as_json:
        rows = [
            {
                "id": t.id,
                "depends_on": list(t.depends_on),
                "description": t.description,
                "decisions": list(_decisions(t)),
            }
            for t in tasks
        ]
        out.print_json(json.dumps(rows))
        return
    for i, t in enumerate(tasks, 1):
        after = f"  (after {', '.join(t.depends_on)})" if t.depends_on else ""
        line = f"{i:>3}. {t.id}: {t.description}{after}"
        out.print(line, markup=False, highlight=False, soft_wrap=True)
        for decision in _decisions(t):
            out.print(f"       - {decision}", markup=False, highlight=False, soft_wrap=True)
    for note in planned.notes:
        out.print(f"note: {note}", markup=False, highlight=False)


def _decisions(task: Any) -> tuple[str, ...]:
    """What discovery decided about a load task's resource, and why."""
    resource = task.params.get("resource")
    return tuple(resource.decisions) if resource is not None else ()


def _run_bus(*, live: bool, monitor: Path | None) -> tuple[EventBus, list[str]]:
    from .engine import Event, EventBus

    bus = EventBus()
    anomalies: list[str] = []

    def on_anomaly(event: Event) -> None:
        if event.kind == "anomaly":
            anomalies.append(str(event.data.get("message")))

    bus.subscribe(on_anomaly)
    if monitor is not None:
        from .engine.sinks import JsonlSink

        bus.subscribe(JsonlSink(monitor))
    if live:
        from .progress import ProgressView

        bus.subscribe(ProgressView(err).handle)
    return bus, anomalies


def _render(result: RunResult, home: Path) -> None:
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
                "one DuckDB statement" if t.fused else "Arrow stream",
            )
        out.print(grid)
    for note in result.notes:
        out.print(f"note: {note}")
    if result.rows_rejected:
        from .state import StateStore

        entries = StateStore(home).dlq_entries(result.run_id, status="open", limit=5)
        out.print(f"{result.rows_rejected} row(s) quarantined; first {len(entries)}:")
        for e in entries:
            out.print(
                f"  {e.file}:{e.line}: {e.reason}", markup=False, highlight=False, soft_wrap=True
            )
        out.print(f"see all: aoetl runs --show {result.run_id}")
    if result.error:
        from .secrets import redact

        if _state["verbose"] and result.traceback:
            err.print(result.traceback, markup=False, highlight=False)
        err.print(f"error: {redact(result.error)}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def plan(
    source: Annotated[str, typer.Argument(help="A file, folder, glob or database URL.")],
    to: Annotated[
        str | None, typer.Option("--to", help="The target to write into the file.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the pipeline file here.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Pipeline name.")] = None,
    table: Annotated[
        str | None, typer.Option(help="The target table for --query or a single source table.")
    ] = None,
    fmt: FormatOption = None,
    tables: TablesOption = None,
    query: QueryOption = None,
    partitions: PartitionsOption = None,
    reader: ReaderOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the pipeline, the reasons and everything discovered (columns, types, "
            "keys, row estimates) as one JSON object.",
        ),
    ] = False,
) -> None:
    """Discover SOURCE and write a pipeline file with what discovery proposes.

    It lists what it found: each table with its kind, estimated rows, columns, primary key
    and foreign keys. For database tables it proposes an incremental cursor (an update
    timestamp or an integer primary key) and merge on the primary key. Every proposal is
    explained; edit the file, then 'aoetl run FILE'.
    """
    import yaml

    from .agents.planner import propose
    from .api import build_spec

    spec = build_spec(
        source,
        target=to,
        name=name,
        table=table,
        fmt=fmt,
        tables=_split(tables),
        query=query,
        partitions=partitions,
        reader=reader,
    )
    proposal = propose(spec)
    text = yaml.safe_dump(proposal.document, sort_keys=False, allow_unicode=True)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if as_json:
        document = {
            "pipeline": proposal.document,
            "proposals": proposal.reasons,
            "discovered": proposal.discovered,
            "written_to": str(output) if output is not None else None,
        }
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        return
    err.print(_discovery_table(proposal.discovered))
    for reason in proposal.reasons:
        err.print(f"proposed: {reason}", markup=False, highlight=False)
    if output is None:
        sys.stdout.write(text)
        return
    err.print(f"wrote {output}; run it with: aoetl run {output}", markup=False, highlight=False)


def _discovery_table(found: list[dict[str, Any]]) -> Table:
    grid = Table(title="discovered", header_style="bold", title_justify="left")
    for col, justify in (
        ("table", "left"),
        ("from", "left"),
        ("kind", "left"),
        ("rows ≈", "right"),
        ("columns", "right"),
        ("primary key", "left"),
        ("foreign keys", "left"),
    ):
        grid.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in found:
        origin = r["from"][0] + (f" (+{len(r['from']) - 1} more)" if len(r["from"]) > 1 else "")
        estimate = r["row_estimate"]
        grid.add_row(
            r["table"],
            origin,
            r["kind"],
            f"{estimate:,}" if estimate is not None else "",
            str(len(r["columns"])) if r["columns"] else "",
            r["primary_key"] or "",
            "; ".join(r["foreign_keys"]),
        )
    return grid


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
    store.mark_dead_runs()
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


secrets_app = typer.Typer(
    help="Check the ${…} secret references of a pipeline.", no_args_is_help=True
)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("check")
def secrets_check(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline file to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Resolve every reference in PIPELINE and say ok or failed for each; never a value.

    The exit code is 1 if any reference fails.
    """
    from .secrets import RESOLVER, find
    from .spec import load_spec

    spec = load_spec(pipeline)
    texts = _strings(spec.model_dump())
    refs = {ref.text: ref for text in texts for ref in find(text)}
    report = []
    for ref in refs.values():
        try:
            RESOLVER.value(ref)
            report.append(
                {"reference": ref.text, "provider": ref.provider, "ok": True, "detail": "ok"}
            )
        except AoetlError as exc:
            report.append(
                {"reference": ref.text, "provider": ref.provider, "ok": False, "detail": str(exc)}
            )
    if as_json:
        out.print_json(json.dumps(report))
    else:
        if not report:
            out.print(f"{pipeline}: no secret references")
        for row in report:
            status = "ok" if row["ok"] else "failed"
            line = f"{status:<7}{row['reference']}"
            if not row["ok"]:
                line += f"  {row['detail']}"
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if all(r["ok"] for r in report) else 1)


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)] + [
            s for k in obj for s in _strings(k)
        ]
    if isinstance(obj, list | tuple):
        return [s for v in obj for s in _strings(v)]
    return []


dlq_app = typer.Typer(
    help="The dead-letter queue: quarantined rows and failed tasks, and their replay.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def dlq_list(
    run_id: Annotated[
        str | None, typer.Option("--run", help="Only this run (id or prefix).")
    ] = None,
    status: Annotated[str | None, typer.Option(help="open or replayed (default: all).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many entries.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List dead-letter entries: id, run, kind, table, where, reason, status."""
    store, run = _store_and_run(run_id)
    entries = store.dlq_entries(run, status=status, limit=limit)
    if as_json:
        out.print_json(json.dumps([e.__dict__ for e in entries]))
        return
    grid = Table(header_style="bold")
    for col in ("id", "run", "kind", "table", "where", "reason", "status"):
        grid.add_column(col, overflow="fold")
    for e in entries:
        where = f"{e.file}:{e.line}" if e.file else "-"
        grid.add_row(str(e.id), e.run_id or "", e.kind, e.table, where, e.reason, e.status)
    out.print(grid)


@dlq_app.command("show")
def dlq_show(entry_id: Annotated[int, typer.Argument(help="The entry id.")]) -> None:
    """Show one entry with its full payload."""
    from .errors import UserError

    store, _ = _store_and_run(None)
    entries = store.dlq_entries(ids=[entry_id])
    if not entries:
        raise UserError(f"no dead-letter entry {entry_id}; list them with 'aoetl dlq list'")
    out.print_json(json.dumps(entries[0].__dict__))


@dlq_app.command("replay")
def dlq_replay(
    entry_id: Annotated[int | None, typer.Argument(help="The entry to replay.")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Replay every open entry of this run.")
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(help="A fixed pipeline file whose columns, CSV options and target to use."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Reprocess entries once their cause is fixed. Replayed rows are never loaded twice."""
    from .agents.replay import replay
    from .api import home_dir
    from .errors import UserError
    from .spec import load_spec

    if (entry_id is None) == (run_id is None):
        raise UserError("give an entry id or --run RUN_ID (one of them)")
    store, run = _store_and_run(run_id)
    entries = store.dlq_entries(run) if run else store.dlq_entries(ids=[entry_id or 0])
    if not entries:
        raise UserError("nothing to replay: no such entry; see 'aoetl dlq list'")
    fixed = load_spec(pipeline) if pipeline else None
    base_dir = pipeline.resolve().parent if pipeline else None
    result = replay(store, entries, home=home_dir(), fixed=fixed, base_dir=base_dir)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        out.print(f"replayed {len(result.replayed)} entr(y/ies); {len(result.still_bad)} still bad")
        for i, reason in result.still_bad.items():
            out.print(f"  {i}: {reason}", markup=False, highlight=False)
    raise typer.Exit(1 if result.still_bad else 0)


def _store_and_run(run_id: str | None) -> tuple[Any, str | None]:
    from .api import home_dir
    from .errors import UserError
    from .state import StateStore

    store = StateStore(home_dir())
    if run_id is None:
        return store, None
    record = store.find_run(run_id)
    if record is None:
        raise UserError(f"no run matches {run_id!r}; list runs with 'aoetl runs'")
    return store, record.run_id


def main() -> None:
    """Console entry point: one clean line for user errors, tracebacks only with -v."""
    import signal

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    # Everything imported so far lives as long as the process: keep the cyclic garbage
    # collector from walking it, during the run and again at exit (~60 ms of every run).
    gc.freeze()
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except AoetlError as exc:
        _print_error(str(exc))
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
        _print_error(f"{type(exc).__name__}: {exc} (run with -v for the traceback)")
        sys.exit(1)


def _print_error(message: str) -> None:
    """One redacted line; with -v, the redacted traceback first."""
    from .secrets import redact

    if _state["verbose"]:
        import traceback

        err.print(redact(traceback.format_exc()), markup=False, highlight=False)
    err.print(f"error: {redact(message)}", markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
