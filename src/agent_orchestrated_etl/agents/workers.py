"""aoetl's own agents: one per connector family for extraction and loading, plus the analyst,
the transformer and the quality agent.

The extract and load agents declare what the connector registry says their connectors can do
(``aoetl sources``), so a capability added to a connector is one an agent offers. Each does its
work through the connector's protocol: ``Source.discover`` / ``Source.relation``,
``Destination.write`` / ``Destination.commit``; the transformer through ``transform``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..connectors import CONNECTORS, ConnectorInfo, LoadResult, Relation, Resource
from ..spec.models import STEP_KINDS
from ..transform import apply_steps
from .base import GENERIC, Agent, Capability, Work
from .work import (
    AnalyzeWork,
    CheckWork,
    CommitWork,
    ExtractWork,
    LoadWork,
    QuarantineWork,
    TransformWork,
)

# The source connector families and the members each reads.
SOURCE_FAMILIES: dict[str, tuple[str, ...]] = {
    "files": ("csv", "json", "ndjson", "parquet"),
    "s3": ("csv", "json", "ndjson", "parquet"),
    "sql": ("postgresql", "sqlite", "duckdb", "mysql", "mssql"),
    "rest": ("json",),
}
# The registry's destination connectors, by the family their agent loads.
DESTINATION_FAMILIES: dict[str, tuple[str, ...]] = {
    "duckdb": ("duckdb",),
    "files": ("parquet-dir", "csv-dir"),
    "s3": ("s3",),
    "sql": ("sql",),
}


def _wrong(agent: Agent, work: Work, expected: type) -> TypeError:
    return TypeError(f"agent {agent.name} handles {expected.__name__}, not {type(work).__name__}")


def _info(kind: str, name: str) -> ConnectorInfo | None:
    return next((c for c in CONNECTORS if c.kind == kind and c.name == name), None)


class AnalystAgent(Agent):
    """Discovers a source's tables and columns, for any connector family."""

    name = "analyst"
    description = "discovers a source: its tables, columns, keys and row estimates"
    builtin = True
    capabilities = (Capability.of("analyze", GENERIC, "discover"),)

    def handle(self, work: Work) -> list[Resource]:
        if not isinstance(work, AnalyzeWork):
            raise _wrong(self, work, AnalyzeWork)
        return work.source.discover()


class ExtractAgent(Agent):
    """Reads one connector family's resources as Relations (DuckDB SQL or Arrow streams)."""

    builtin = True

    def __init__(self, family: str) -> None:
        self.family = family
        self.name = f"extract-{family}"
        info = _info("source", family)
        features = {c.value for c in info.capabilities} if info is not None else set()
        features.add("incremental")  # every source reads past a cursor's mark
        formats = f": {', '.join(info.formats)}" if info is not None and info.formats else ""
        self.description = f"reads {family} sources{formats}"
        self.capabilities = (Capability("extract", family, frozenset(features)),)

    def handle(self, work: Work) -> Relation:
        if not isinstance(work, ExtractWork):
            raise _wrong(self, work, ExtractWork)
        return work.source.relation(work.resource, work.where)


class TransformAgent(Agent):
    """Applies transform steps: SQL and declarative steps fused into one query, python steps
    streamed batch by batch."""

    name = "transform"
    description = "applies transform steps (SQL and declarative fused; python streamed)"
    builtin = True
    capabilities = (Capability.of("transform", "steps", *STEP_KINDS),)

    def handle(self, work: Work) -> Relation:
        if not isinstance(work, TransformWork):
            raise _wrong(self, work, TransformWork)
        return apply_steps(work.relation, work.steps, base_dir=work.base_dir, home=work.home)


class QualityAgent(Agent):
    """Runs a table's checks on what a run staged, and quarantines rows that fail a
    ``severity: quarantine`` check while they load, for every source and target."""

    name = "quality"
    description = "runs checks on staged rows; quarantines failing rows to the DLQ"
    builtin = True
    capabilities = (Capability.of("check", GENERIC), Capability.of("quarantine", GENERIC))

    def handle(self, work: Work) -> Any:
        if isinstance(work, QuarantineWork):
            with work.split(work.relation) as passing:
                return work.stage(passing)
        if isinstance(work, CheckWork):
            return work.run()
        raise _wrong(self, work, CheckWork)


class LoadAgent(Agent):
    """Stages tables into one destination family and commits them at once."""

    builtin = True

    def __init__(self, family: str) -> None:
        self.family = family
        self.name = f"load-{family}"
        infos = [i for n in DESTINATION_FAMILIES[family] if (i := _info("destination", n))]
        features = {c.value for i in infos for c in i.capabilities}
        self.description = f"stages and commits {family} targets, exactly once"
        self.capabilities = (
            Capability("load", family, frozenset(features)),
            Capability("commit", family, frozenset(features)),
        )

    def handle(self, work: Work) -> Any:
        if isinstance(work, LoadWork):
            watch = work.watch() if work.watch is not None else contextlib.nullcontext()
            with watch:
                loaded: LoadResult = work.destination.write(
                    work.table,
                    work.relation,
                    mode=work.mode,
                    key=work.key,
                    fingerprint=work.fingerprint,
                    record_bad=work.record_bad,
                    on_cancel=work.on_cancel,
                    cursor_column=work.cursor_column,
                )
            return loaded
        if isinstance(work, CommitWork):
            work.admit()
            return work.destination.commit(work.tables)
        raise _wrong(self, work, LoadWork)


def builtin_agents() -> list[Agent]:
    """A fresh set of aoetl's own agents, in registration order."""
    agents: list[Agent] = [AnalystAgent()]
    agents += [ExtractAgent(family) for family in SOURCE_FAMILIES]
    agents += [TransformAgent(), QualityAgent()]
    agents += [LoadAgent(family) for family in DESTINATION_FAMILIES]
    return agents
