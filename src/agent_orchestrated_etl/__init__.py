"""aoetl: agent-orchestrated ETL. The public API is what this module exports.

Names are imported on first use (PEP 562), so ``aoetl`` can install its signal handlers
before the heavy imports: a Ctrl-C in the first second of a run exits 130 like any other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each public name, and the module it lives in.
_HOMES = {
    "DataOrchestrator": ".api",
    "build_spec": ".api",
    "home_dir": ".api",
    "RunResult": ".engine",
    "TableResult": ".engine",
    "AoetlError": ".errors",
    "FatalError": ".errors",
    "NotSupportedError": ".errors",
    "SchemaConflictError": ".errors",
    "SourceNotFoundError": ".errors",
    "SpecError": ".errors",
    "TooManyBadRowsError": ".errors",
    "TransientError": ".errors",
    "UnknownConnectorError": ".errors",
    "UserError": ".errors",
    "PipelineSpec": ".spec",
    "load_spec": ".spec",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


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
