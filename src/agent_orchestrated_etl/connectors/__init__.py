"""Connectors: one subpackage per system family (files, sql, duckdb, directory), the
Source/Destination protocols, and the registry."""

from __future__ import annotations

from ..data import BadRow, Relation
from .base import (
    Checkpoint,
    ConnectorInfo,
    Destination,
    LoadResult,
    Resource,
    RowFilter,
    Source,
    StagedTable,
)
from .registry import (
    CONNECTORS,
    destination_for,
    register_destination,
    register_source,
    source_for,
)

__all__ = [
    "CONNECTORS",
    "BadRow",
    "Checkpoint",
    "ConnectorInfo",
    "Destination",
    "LoadResult",
    "Relation",
    "Resource",
    "RowFilter",
    "Source",
    "StagedTable",
    "destination_for",
    "register_destination",
    "register_source",
    "source_for",
]
