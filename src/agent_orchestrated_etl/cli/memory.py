"""``aoetl memory``: search and list what aoetl remembers of sources and runs."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ._app import app, err, out

if TYPE_CHECKING:
    from ..api import DataOrchestrator
    from ..state import MemoryRecord

memory_app = typer.Typer(
    help="What aoetl remembers of sources and runs: search it, list it.",
    no_args_is_help=True,
)
app.add_typer(memory_app, name="memory")


class Kind(StrEnum):
    """The kinds of memory record."""

    source = "source"
    run = "run"


@memory_app.command("search")
def memory_search(
    text: Annotated[str, typer.Argument(help="What to look for, in words.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many results.")] = 5,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="A fingerprint, or a substring of the records' text, URI or run id; "
            "no model is loaded.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Find remembered sources and runs nearest TEXT in meaning (loads the embedding model)."""
    if not exact:  # the first search of a home exports the model to ONNX: seconds, once
        from ..agents.memory.index import on_notice

        on_notice(lambda note: err.print(note, markup=False, soft_wrap=True))
    orch = _orchestrator()
    hits = orch.memory_search(text, k=k, exact=exact)
    runs = [h for h in hits if h.how == "fingerprint" and h.record.kind == "run"]
    if len(runs) == k:  # a source's runs may be many: say how many, and how to see them
        total = orch.memory_count(kind="run", fingerprint=runs[0].record.fingerprint)
        if total > k:
            err.print(
                f"showing the newest {k} of this source's {total} runs; -k {total} shows all",
                markup=False,
            )
    if as_json:
        out.print_json(json.dumps([h.to_dict() for h in hits]))
        return
    if not hits:
        err.print("nothing remembered matches", markup=False)
        return
    grid = _grid(("id", "kind", "distance" if not exact else "found by", "when", "record"))
    for hit in hits:
        how = f"{hit.distance:.3f}" if hit.how == "vector" else hit.how
        grid.add_row(*_cells(hit.record, how))
    err.print(grid)


@memory_app.command("list")
def memory_list(
    kind: Annotated[Kind | None, typer.Option(help="source or run (default: both).")] = None,
    fingerprint: Annotated[
        str | None, typer.Option(help="Only this source's records (exact).")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Only this run's records (its id or its start).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List remembered sources and runs, newest first."""
    records = _orchestrator().memory_entries(
        kind=kind.value if kind else None, fingerprint=fingerprint, run_id=run_id, limit=limit
    )
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in records]))
        return
    if not records:
        err.print("nothing remembered yet: memory grows with every run", markup=False)
        return
    grid = _grid(("id", "kind", "fingerprint", "when", "record"))
    for record in records:
        grid.add_row(*_cells(record, record.fingerprint))
    err.print(grid)


def _grid(columns: tuple[str, ...]) -> Table:
    grid = Table(header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    return grid


def _cells(record: MemoryRecord, third: str) -> tuple[str, ...]:
    when = datetime.fromtimestamp(record.created_at).isoformat(timespec="seconds")
    return (str(record.id), record.kind, third, when, record.text)


def _orchestrator() -> DataOrchestrator:
    from ..api import DataOrchestrator

    return DataOrchestrator()
