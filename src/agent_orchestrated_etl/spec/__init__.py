"""Pipeline spec: pydantic models, URI parsing, YAML/JSON loading and JSON Schema export."""

from __future__ import annotations

from .loader import is_spec_file, load_document, load_spec, validate_spec
from .models import (
    DEFAULT_TARGET,
    BreakerSpec,
    Mode,
    PipelineSpec,
    RetrySpec,
    TargetSpec,
    TaskOptions,
    TransformStep,
)
from .quality import ROW_CHECKS, AnomalySpec, CheckSpec, Depth, QualitySpec, duration_s
from .rest import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    PaginatorSpec,
    ParentSpec,
    RestResourceSpec,
)
from .routing import RouteWhen, RowRoute, Unroutable, WorkflowRoute, size_bytes
from .s3 import S3Connection
from .source import (
    OBJECT_COLUMNS,
    SOURCE_KINDS,
    CsvOptions,
    FileSourceSpec,
    IncrementalSpec,
    RestSourceSpec,
    S3SourceSpec,
    SourceBase,
    SourceSpec,
    SqlSourceSpec,
    kind_of_uri,
)
from .uri import ParsedUri, parse_uri, target_kind

__all__ = [
    "DEFAULT_TARGET",
    "OBJECT_COLUMNS",
    "ROW_CHECKS",
    "SOURCE_KINDS",
    "AnomalySpec",
    "ApiKeyAuth",
    "AuthSpec",
    "BasicAuth",
    "BearerAuth",
    "BreakerSpec",
    "CheckSpec",
    "CsvOptions",
    "Depth",
    "FileSourceSpec",
    "IncrementalSpec",
    "Mode",
    "OAuth2ClientCredentials",
    "PaginatorSpec",
    "ParentSpec",
    "ParsedUri",
    "PipelineSpec",
    "QualitySpec",
    "RestResourceSpec",
    "RestSourceSpec",
    "RetrySpec",
    "RouteWhen",
    "RowRoute",
    "S3Connection",
    "S3SourceSpec",
    "SourceBase",
    "SourceSpec",
    "SqlSourceSpec",
    "TargetSpec",
    "TaskOptions",
    "TransformStep",
    "Unroutable",
    "WorkflowRoute",
    "duration_s",
    "is_spec_file",
    "json_schema",
    "kind_of_uri",
    "load_document",
    "load_spec",
    "parse_uri",
    "size_bytes",
    "target_kind",
    "validate_spec",
]


def json_schema() -> dict[str, object]:
    """The JSON Schema of a pipeline file."""
    return PipelineSpec.model_json_schema()
