"""Connectors: one subpackage per system family (files, sql, duckdb, directory), the
Source/Destination protocols, and the registry."""

from __future__ import annotations

from ..data import BadRow, Relation
from .base import (
    Capability,
    Checkpoint,
    ConnectorInfo,
    Decision,
    Destination,
    ForeignKey,
    LoadResult,
    Location,
    ReaderState,
    Resource,
    RowFilter,
    Source,
    StagedTable,
)
from .registry import (
    CONNECTORS,
    destination_for,
    locate,
    register_destination,
    register_source,
    source_for,
)

__all__ = [
    "CONNECTORS",
    "BadRow",
    "Capability",
    "Checkpoint",
    "ConnectorInfo",
    "Decision",
    "Destination",
    "ForeignKey",
    "LoadResult",
    "Location",
    "ReaderState",
    "Relation",
    "Resource",
    "RowFilter",
    "Source",
    "StagedTable",
    "destination_for",
    "locate",
    "register_destination",
    "register_source",
    "source_for",
]
