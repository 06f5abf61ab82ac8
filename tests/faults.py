"""Connectors that fail on command, for resilience tests: faulty:// sources, flaky:// targets."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from agent_orchestrated_etl.connectors import (
    Location,
    Relation,
    Resource,
    RowFilter,
    register_destination,
    register_source,
)
from agent_orchestrated_etl.connectors.duckdb.target import DuckDBDestination
from agent_orchestrated_etl.errors import FatalError, TransientError
from agent_orchestrated_etl.spec import SourceSpec, TargetSpec


class Script:
    """What to fail, shared by the doubles: {table: [('transient'|'fatal', message), ...]}."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.source: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.destination: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)

    def fire(self, plan: dict[str, list[tuple[str, str]]], key: str) -> None:
        with self.lock:
            self.calls[key] += 1
            if not plan[key]:
                return
            kind, message = plan[key].pop(0)
        if kind == "transient":
            raise TransientError(message, retry_after=0.0)
        raise FatalError(message)


SCRIPT = Script()


class FaultySource:
    """faulty://TABLE:ROWS,TABLE:ROWS — tables of ``id`` 0..ROWS-1 that fail as scripted
    (the keys ``@connect`` and ``@discover`` script failures of connecting and discovery)."""

    endpoint = "faulty.example:9"

    def __init__(self, spec: SourceSpec, where: Location, home: Path) -> None:
        SCRIPT.fire(SCRIPT.source, "@connect")
        self.tables = {
            name: int(rows) for name, rows in (part.split(":") for part in where.path.split(","))
        }
        self.notes: list[str] = []

    def discover(self) -> list[Resource]:
        SCRIPT.fire(SCRIPT.source, "@discover")
        return [Resource(name, (f"faulty:{name}",), "sql") for name in self.tables]

    def fingerprint(self, resource: Resource) -> str:
        return f"{resource.name}:{self.tables[resource.name]}"

    def close(self) -> None:
        pass

    def relation(self, resource: Resource, where: RowFilter | None = None) -> Relation:
        SCRIPT.fire(SCRIPT.source, resource.name)
        rows = self.tables[resource.name]
        relation = Relation(f"SELECT range AS id, 'row ' || range AS label FROM range({rows})")
        return where.apply(relation) if where is not None else relation


class FlakyDestination(DuckDBDestination):
    """flaky:///path.duckdb — a real DuckDB destination whose writes fail as scripted."""

    def write(self, table: str, relation: Relation, **kw: Any) -> Any:
        SCRIPT.fire(SCRIPT.destination, table)
        return super().write(table, relation, **kw)


def _flaky(spec: TargetSpec, where: Location, home: Path) -> FlakyDestination:
    return FlakyDestination(spec.uri.removeprefix("flaky:///"), home=home)


register_source("faulty", FaultySource)
register_destination("flaky", _flaky)
