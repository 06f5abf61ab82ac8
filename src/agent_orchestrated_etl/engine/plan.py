"""A Plan is a pure DAG of Tasks: no I/O, just ids, dependencies and ordering."""

from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError


@dataclass(frozen=True)
class Task:
    """One unit of work. ``action`` says what to do; ``params`` carry what the dispatcher needs."""

    id: str
    action: str
    depends_on: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    description: str = ""


class CycleError(UserError):
    """The tasks depend on each other in a circle."""


class Plan:
    """Tasks and their dependencies, checked for unknown ids and cycles at construction."""

    def __init__(self, tasks: list[Task]) -> None:
        self.tasks = {t.id: t for t in tasks}
        if len(self.tasks) != len(tasks):
            raise UserError("two tasks share an id")
        for task in tasks:
            for dep in task.depends_on:
                if dep not in self.tasks:
                    raise UserError(f"task '{task.id}' depends on unknown task '{dep}'")
        self._sorter = graphlib.TopologicalSorter({t.id: t.depends_on for t in tasks})
        try:
            self._sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(exc.args[1])
            raise CycleError(f"the plan has a cycle: {cycle}") from exc

    def layers(self) -> list[list[Task]]:
        """Tasks grouped so each layer depends only on earlier layers."""
        sorter = graphlib.TopologicalSorter({t.id: t.depends_on for t in self.tasks.values()})
        sorter.prepare()
        out: list[list[Task]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            out.append([self.tasks[i] for i in ready])
            sorter.done(*ready)
        return out

    def order(self) -> list[Task]:
        """Every task, in an order that respects dependencies."""
        return [task for layer in self.layers() for task in layer]

    def downstream(self, task_id: str) -> set[str]:
        """Ids of every task that depends, directly or not, on ``task_id``."""
        found: set[str] = set()
        frontier = [task_id]
        while frontier:
            current = frontier.pop()
            for task in self.tasks.values():
                if current in task.depends_on and task.id not in found:
                    found.add(task.id)
                    frontier.append(task.id)
        return found
