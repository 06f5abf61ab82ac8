"""Pipeline spec: pydantic models, URI parsing, YAML/JSON loading and JSON Schema export."""

from __future__ import annotations

from .loader import is_spec_file, load_spec, validate_spec
from .models import (
    DEFAULT_TARGET,
    BreakerSpec,
    CheckSpec,
    CsvOptions,
    IncrementalSpec,
    Mode,
    PipelineSpec,
    RetrySpec,
    SourceSpec,
    TargetSpec,
    TaskOptions,
    TransformStep,
)
from .uri import ParsedUri, parse_uri, target_kind

__all__ = [
    "DEFAULT_TARGET",
    "BreakerSpec",
    "CheckSpec",
    "CsvOptions",
    "IncrementalSpec",
    "Mode",
    "ParsedUri",
    "PipelineSpec",
    "RetrySpec",
    "SourceSpec",
    "TargetSpec",
    "TaskOptions",
    "TransformStep",
    "is_spec_file",
    "json_schema",
    "load_spec",
    "parse_uri",
    "target_kind",
    "validate_spec",
]


def json_schema() -> dict[str, object]:
    """The JSON Schema of a pipeline file."""
    return PipelineSpec.model_json_schema()
