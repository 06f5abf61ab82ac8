"""``aoetl runs``, ``secrets`` and ``dlq``: run history, secret checks and dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import AoetlError
from ._app import app, out


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
    from ..api import home_dir
    from ..errors import UserError
    from ..state import StateStore

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
    from ..secrets import RESOLVER, find
    from ..spec import load_spec

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
    from ..errors import UserError

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
    from ..agents.replay import replay
    from ..api import home_dir
    from ..errors import UserError
    from ..spec import load_spec

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
    from ..api import home_dir
    from ..errors import UserError
    from ..state import StateStore

    store = StateStore(home_dir())
    if run_id is None:
        return store, None
    record = store.find_run(run_id)
    if record is None:
        raise UserError(f"no run matches {run_id!r}; list runs with 'aoetl runs'")
    return store, record.run_id
