"""A Rich live view fed by run events: one line per table, with its state and rows per second."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .engine import Event, table_of


class ProgressView:
    """Turns task and progress events into live bars on ``console`` (stderr)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}

    def _line(self, task_id: str) -> TaskID:
        if task_id not in self._tasks:
            self._started[task_id] = time.perf_counter()
            self._tasks[task_id] = self.progress.add_task(
                table_of(task_id) or task_id, total=1.0, state="loading"
            )
        return self._tasks[task_id]

    def handle(self, event: Event) -> None:
        kind, task_id = event.kind, event.task_id
        if kind == "run_started":
            self.progress.start()
        elif kind == "run_finished":
            self.progress.stop()
        elif task_id is None or table_of(task_id) is None:
            return
        elif kind == "task_started":
            self._line(task_id)
        elif kind == "task_resumed":
            rows = event.data.get("rows", 0)
            self.progress.update(
                self._line(task_id), completed=1.0, state=f"{rows:,} rows, from checkpoint"
            )
        elif kind == "progress":
            rows = event.data.get("rows")
            estimate = event.data.get("rows_estimate")
            elapsed = time.perf_counter() - self._started.get(task_id, time.perf_counter())
            state = "loading"
            if rows is not None:
                state = f"{rows:,} rows, {rows / elapsed:,.0f} rows/s" if elapsed else f"{rows:,}"
            elif estimate and elapsed:
                state = f"~{estimate:,} rows, ~{estimate / elapsed:,.0f} rows/s"
            self.progress.update(
                self._line(task_id), completed=float(event.data["fraction"]), state=state
            )
        elif kind == "task_retried":
            wait = event.data.get("wait_s", 0)
            self.progress.update(
                self._line(task_id), state=f"retry {event.data.get('attempt')} in {wait:.1f}s"
            )
        elif kind == "task_failed":
            self.progress.update(self._line(task_id), state="[red]failed[/]")
        elif kind == "task_skipped":
            self.progress.update(
                self._line(task_id), state=f"skipped: {event.data.get('cause')} failed"
            )
