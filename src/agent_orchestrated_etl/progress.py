"""A Rich progress view fed by run events: one bar per table, with rows per second at the end."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .engine import Event


class ProgressView:
    """Turns task and progress events into live bars on ``console`` (stderr)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def handle(self, event: Event) -> None:
        if event.kind == "run_started":
            self.progress.start()
        elif event.kind == "task_started" and event.task_id and event.data.get("action") == "load":
            self._started[event.task_id] = time.perf_counter()
            self._tasks[event.task_id] = self.progress.add_task(
                event.task_id.removeprefix("load:"), total=1.0, rate=""
            )
        elif event.kind == "progress" and event.task_id in self._tasks:
            task = self._tasks[event.task_id]
            rows = event.data.get("rows")
            rate = ""
            if rows is not None:
                elapsed = time.perf_counter() - self._started[event.task_id]
                rate = (
                    f"{rows:,} rows, {rows / elapsed:,.0f} rows/s" if elapsed else f"{rows:,} rows"
                )
            self.progress.update(task, completed=float(event.data["fraction"]), rate=rate)
        elif event.kind == "run_finished":
            self.progress.stop()
