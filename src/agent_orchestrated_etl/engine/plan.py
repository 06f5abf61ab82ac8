"""A Plan is a pure DAG of Tasks: no I/O, no live object, just ids, typed parameters and order.

A Plan round-trips through JSON unchanged (:meth:`Plan.to_json`, :meth:`Plan.from_json`), so
another process (an Airflow worker, ``aoetl run … --task``) can run any one of its tasks. A
load task names its table; whoever runs it finds the table's resource again from the source.
A check task (``check:<table>``) judges what the table's load staged, before the commit.
"""

from __future__ import annotations

import graphlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UserError

COMMIT = "commit"
_LOAD_PREFIX = "load:"
_CHECK_PREFIX = "check:"
PLAN_FORMAT = 1  # the version of the JSON form; bumped when a reader could misread it


def load_task_id(table: str) -> str:
    """The id of the task that stages ``table``."""
    return _LOAD_PREFIX + table


def table_of(task_id: str) -> str | None:
    """The table a load task stages, or None for any other task."""
    return task_id[len(_LOAD_PREFIX) :] if task_id.startswith(_LOAD_PREFIX) else None


def check_task_id(table: str) -> str:
    """The id of the task that runs the checks (and the profile) of what ``table`` staged."""
    return _CHECK_PREFIX + table


def checked_table(task_id: str) -> str | None:
    """The table a check task judges, or None for any other task."""
    return task_id[len(_CHECK_PREFIX) :] if task_id.startswith(_CHECK_PREFIX) else None


def task_id_for(name: str) -> str:
    """A task id from what a user writes: a task id as it is, a bare table name as its load."""
    if name == COMMIT or table_of(name) is not None or checked_table(name) is not None:
        return name
    return load_task_id(name)


@dataclass(frozen=True)
class LoadParams:
    """Stage one table. ``endpoint`` (host:port) keys the circuit breaker of the source."""

    table: str
    endpoint: str | None = None


@dataclass(frozen=True)
class CheckParams:
    """Run the checks of one staged table (and profile it, when the spec asks)."""

    table: str


@dataclass(frozen=True)
class CommitParams:
    """Make every staged table visible at once."""

    tables: tuple[str, ...] = ()


Params = LoadParams | CheckParams | CommitParams
_PARAMS: dict[str, type[LoadParams] | type[CheckParams] | type[CommitParams]] = {
    "load": LoadParams,
    "check": CheckParams,
    "commit": CommitParams,
}


@dataclass(frozen=True)
class Task:
    """One unit of work. ``action`` says what to do; ``params`` what it applies to."""

    id: str
    action: str
    depends_on: tuple[str, ...] = ()
    params: Params | None = None
    description: str = ""

    @property
    def endpoint(self) -> str | None:
        """The remote endpoint the task talks to (for its circuit breaker), if any."""
        return self.params.endpoint if isinstance(self.params, LoadParams) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "depends_on": list(self.depends_on),
            "params": _params_dict(self.params),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        try:
            action = str(data["action"])
            raw = data.get("params")
            kind = _PARAMS.get(action)
            params: Params | None = None
            if raw is not None:
                if kind is None:
                    raise UserError(f"task {data['id']!r}: action {action!r} takes no params")
                fields = dict(raw)
                if kind is CommitParams:
                    fields["tables"] = tuple(fields.get("tables", ()))
                params = kind(**fields)
            return cls(
                str(data["id"]),
                action,
                tuple(str(d) for d in data.get("depends_on", ())),
                params,
                str(data.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"not a task of a serialised plan: {exc}") from None


def _params_dict(params: Params | None) -> dict[str, Any] | None:
    if params is None:
        return None
    data = asdict(params)
    if isinstance(params, CommitParams):
        data["tables"] = list(params.tables)
    return data


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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and self.tasks == other.tasks

    __hash__ = None  # type: ignore[assignment]  # mutable container: equal, never hashed

    def task(self, task_id: str) -> Task:
        """The task ``task_id``; an unknown id is bad input, listing the known ones."""
        found = self.tasks.get(task_id)
        if found is None:
            known = ", ".join(t.id for t in self.order())
            raise UserError(f"no task {task_id!r} in this plan; its tasks: {known}")
        return found

    def layers(self) -> list[list[Task]]:
        """Tasks grouped so each layer depends only on earlier layers."""
        sorter = graphlib.TopologicalSorter({t.id: t.depends_on for t in self.tasks.values()})
        sorter.prepare()
        # Each layer in the order the tasks were given: the planner lists them by name, a
        # table's routed loads in the order of its rules.
        position = {task_id: i for i, task_id in enumerate(self.tasks)}
        out: list[list[Task]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
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

    # -- serialised form ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"format": 1, "tasks": [...]}``, the tasks in a valid order."""
        return {"format": PLAN_FORMAT, "tasks": [t.to_dict() for t in self.order()]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
            raise UserError("not a serialised plan: expected an object with a 'tasks' list")
        if data.get("format", PLAN_FORMAT) != PLAN_FORMAT:
            raise UserError(
                f"plan format {data.get('format')!r} is not one this aoetl reads "
                f"({PLAN_FORMAT}); list the tasks again with this version"
            )
        return cls([Task.from_dict(t) for t in data["tasks"]])

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"not a serialised plan: {exc}") from None
        return cls.from_dict(data)
