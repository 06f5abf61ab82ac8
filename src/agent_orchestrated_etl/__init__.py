"""aoetl: agent-orchestrated ETL. The public API is what this module exports."""

from __future__ import annotations

from .api import DataOrchestrator, build_spec, home_dir
from .engine import RunResult, TableResult
from .errors import (
    AoetlError,
    FatalError,
    NotSupportedError,
    SchemaConflictError,
    SourceNotFoundError,
    SpecError,
    TooManyBadRowsError,
    TransientError,
    UnknownConnectorError,
    UserError,
)
from .spec import PipelineSpec, load_spec

__version__ = "0.1.0"

__all__ = [
    "AoetlError",
    "DataOrchestrator",
    "FatalError",
    "NotSupportedError",
    "PipelineSpec",
    "RunResult",
    "SchemaConflictError",
    "SourceNotFoundError",
    "SpecError",
    "TableResult",
    "TooManyBadRowsError",
    "TransientError",
    "UnknownConnectorError",
    "UserError",
    "__version__",
    "build_spec",
    "home_dir",
    "load_spec",
]
