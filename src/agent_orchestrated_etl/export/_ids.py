"""Airflow ids for a plan's tasks: one TaskGroup per table holding its load and check tasks,
the other tasks (the commit) at the top level.

Airflow allows ``[A-Za-z0-9_.-]`` in a task id (at most 250 characters, a group's id and '.'
included) and no '.' in a group id (at most 200). A table name may hold anything DuckDB
allows, so each group id is the table's name with every other character made '_'; where
two tables come out alike (``order items`` and ``order-items``... or ``order_items`` itself),
each changed one gets a short hash of its real name, so the ids stay the same from one
export to the next whatever order the tables come in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..engine import Plan, Task, checked_table, table_of

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")
GROUP_MAX = 200  # Airflow's limit for a group id
TASK_MAX = 250  # and for a whole task id
_HASH = 8


@dataclass(frozen=True)
class DagTask:
    """One Airflow task: its id in the DAG (``orders.load``), its group (None at the top
    level), its id inside the group (``load``), and the aoetl task it runs."""

    airflow_id: str
    group: str | None
    local_id: str
    aoetl_id: str
    depends_on: tuple[str, ...]  # aoetl ids, exactly the plan's
    description: str


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH]


def _clean(name: str, limit: int) -> str:
    """``name`` in Airflow's characters, within ``limit`` (a long one keeps a hash of the
    whole, so two long names that share a beginning stay apart)."""
    cleaned = _NOT_ALLOWED.sub("_", name).strip("_") or "table"
    if len(cleaned) > limit:
        cleaned = f"{cleaned[: limit - _HASH - 1]}_{_short_hash(name)}"
    return cleaned


def group_ids(tables: list[str]) -> dict[str, str]:
    """Each table's group id: unique, in Airflow's characters, at most 200 long."""
    # Room for the longest local id (".check") inside the 250 of a task id, and for a hash.
    limit = GROUP_MAX - _HASH - 1
    first = {table: _clean(table, limit) for table in tables}
    taken: dict[str, list[str]] = {}
    for table, gid in first.items():
        taken.setdefault(gid, []).append(table)
    out: dict[str, str] = {}
    for gid, names in taken.items():
        for table in names:
            # A name that needed no change keeps it; the others that collide with it or with
            # each other get their own name's hash.
            out[table] = gid if len(names) == 1 or table == gid else f"{gid}_{_short_hash(table)}"
    # A hashed id could, in theory, equal another table's plain one: then number the rest.
    seen: set[str] = set()
    for table in tables:
        gid, n = out[table], 2
        while gid in seen:
            gid, n = f"{out[table]}_{n}", n + 1
        out[table] = gid
        seen.add(gid)
    return out


def _local_id(task: Task) -> str:
    if table_of(task.id) is not None:
        return "load"
    if checked_table(task.id) is not None:
        return "check"
    return _clean(task.id, TASK_MAX)


def dag_tasks(plan: Plan) -> list[DagTask]:
    """The Airflow task of every plan task, in the plan's order."""
    order = plan.order()
    tables: list[str] = []
    for task in order:
        table = table_of(task.id) or checked_table(task.id)
        if table is not None and table not in tables:
            tables.append(table)
    groups = group_ids(tables)
    out: list[DagTask] = []
    used: set[str] = set(groups.values())  # a top-level task never takes a group's id
    for task in order:
        table = table_of(task.id) or checked_table(task.id)
        local = _local_id(task)
        group = groups[table] if table is not None else None
        if group is None:
            base, n = local, 2
            while local in used:
                local, n = f"{base}_{n}", n + 1
            used.add(local)
        airflow_id = f"{group}.{local}" if group else local
        out.append(
            DagTask(airflow_id, group, local, task.id, tuple(task.depends_on), task.description)
        )
    return out
