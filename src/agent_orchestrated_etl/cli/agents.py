"""``aoetl agents`` (who can do what) and ``aoetl audit --run ID`` (who did what, and why)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ._app import app, err, out


@app.command("agents")
def agents(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the agents a run may call and what each can do (action:subject).

    Each capability is action:subject [features]; the Coordinator gives every step of a run
    to the agent whose capability matches it best (see docs/agents.md).
    """
    from ..api import DataOrchestrator

    found = DataOrchestrator.agents()
    if as_json:
        out.print_json(json.dumps([a.to_dict() for a in found]))
        return
    grid = Table(show_edge=False, pad_edge=False, header_style="bold")
    for col in ("agent", "capabilities", "does"):
        grid.add_column(col, overflow="fold")
    for agent in found:
        grid.add_row(  # Text: a capability's [features] and a user's words are not markup
            Text(agent.name + ("" if agent.builtin else " (registered)")),
            Text("\n".join(str(c) for c in agent.capabilities)),
            Text(agent.description),
        )
    err.print(grid)


@app.command("audit")
def audit(
    run_id: Annotated[
        str, typer.Option("--run", help="The run: its id, or the start of it (the newest match).")
    ],
    kind: Annotated[
        str | None,
        typer.Option(help="Only decisions of this kind: select, route or memory."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show a run's decisions: which agent did each step and why, routes, memory used.

    In order: the agent the Coordinator chose for every step of every task (with the score
    and the candidates it beat), where routing sent the workflow or rows (with row counts),
    and which memory changed the plan.
    """
    from ..api import DataOrchestrator
    from ..errors import UserError

    if kind is not None and kind not in ("select", "route", "memory"):
        raise UserError(f"--kind {kind!r} is not one of select, route, memory")
    entries = DataOrchestrator().audit(run_id, kind=kind)
    if as_json:
        out.print_json(json.dumps([e.to_dict() for e in entries]))
        return
    if not entries:
        err.print(f"run {run_id} recorded no decisions", markup=False)
        return
    grid = Table(show_edge=False, pad_edge=False, header_style="bold")
    for col in ("time", "task", "kind", "about", "choice", "why"):
        grid.add_column(col, overflow="fold")
    for entry in entries:
        grid.add_row(  # Text: stored words (a predicate's '[/.]', a need's [features]) as written
            datetime.fromtimestamp(entry.at).strftime("%H:%M:%S"),
            *(
                Text(cell)
                for cell in (
                    entry.task_id,
                    entry.kind,
                    entry.subject,
                    entry.choice,
                    "; ".join(entry.reasons),
                )
            ),
        )
    err.print(grid)
