"""Frozen pydantic models for a pipeline. The JSON Schema and the docs come from these."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from ._model import Model
from .quality import CheckSpec, QualitySpec
from .routing import RowRoute, WorkflowRoute, check_row_routes
from .s3 import S3Connection
from .source import SourceSpec

Mode = Literal["append", "replace", "merge"]

DEFAULT_TARGET = "duckdb:///warehouse.duckdb"


class TargetSpec(Model):
    """Where the data goes."""

    uri: str = Field(
        DEFAULT_TARGET,
        description="duckdb:///file.duckdb, parquet:///dir, csv:///dir, s3://bucket/prefix/, "
        "or a path (*.duckdb is DuckDB; any other path is a Parquet directory).",
    )
    format: Literal["parquet", "csv"] | None = Field(
        None, description="File format for a directory or S3 target (default parquet)."
    )
    partition_by: tuple[str, ...] = Field(
        (),
        description="For an S3 target: write each table's files in column=value/ folders "
        "(Hive partitioning) of these columns.",
    )
    s3: S3Connection | None = Field(
        None,
        description="For an s3:// target: endpoint, region and credentials (default: boto3's "
        "standard chain).",
    )
    encryption_key: str | None = Field(
        None,
        description="Encrypt the DuckDB file with this key (AES-GCM). Give a reference such as "
        "${secret:vault:kv/warehouse#key}, never the key itself.",
        json_schema_extra={"secret": True},
    )
    lock_timeout_s: float | None = Field(
        None,
        ge=0,
        description="Seconds to wait while another process writes the same table of a Parquet "
        "or CSV folder, or holds the DuckDB file open (default: fail at once).",
    )
    base_dir: SkipJsonSchema[str | None] = Field(
        None,
        exclude=True,
        description="The pipeline file's folder: a relative path that a ${…} reference in "
        "'uri' resolves to is anchored here (set by the loader, never written out).",
    )


WorkflowRoute.model_rebuild(_types_namespace={"TargetSpec": TargetSpec})


class SqlStep(Model):
    """DuckDB SQL over the relation ``input``."""

    sql: str = Field(description="A SELECT over the relation `input`.")


class RenameStep(Model):
    rename: dict[str, str] = Field(description="Old column name to new column name.")


class CastStep(Model):
    cast: dict[str, str] = Field(description="Column name to DuckDB type, e.g. {'id': 'BIGINT'}.")


class FilterStep(Model):
    filter: str = Field(description="A SQL predicate; rows where it is not true are dropped.")


class DeriveStep(Model):
    derive: dict[str, str] = Field(description="New column name to SQL expression.")


class DropStep(Model):
    drop: tuple[str, ...] = Field(description="Columns to remove.")


class DedupeStep(Model):
    dedupe: tuple[str, ...] = Field(
        description="Key columns; one row is kept per key (the last one read). "
        "An empty list removes rows that are duplicates in every column."
    )


_PYTHON_TARGET = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)


class PythonStep(Model):
    python: str = Field(
        description="'module:function' taking and returning a pyarrow Table or RecordBatch, "
        "called once per batch; the module is a dotted name importable from the pipeline "
        "file's folder (no paths)."
    )

    @field_validator("python")
    @classmethod
    def _dotted(cls, value: str) -> str:
        # A path ('../x', 'a/b') would import from anywhere, or fail deep in importlib.
        if not _PYTHON_TARGET.fullmatch(value):
            raise ValueError(
                f"{value[:80]!r} is not 'module:function'; give a dotted module name "
                "importable from the pipeline file's folder (e.g. steps.clean:fix), not a path"
            )
        return value


STEP_KINDS = ("sql", "rename", "cast", "filter", "derive", "drop", "dedupe", "python")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = [k for k in value if k in STEP_KINDS]
        return keys[0] if len(keys) == 1 else None
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    return None


TransformStep = Annotated[
    Annotated[SqlStep, Tag("sql")]
    | Annotated[RenameStep, Tag("rename")]
    | Annotated[CastStep, Tag("cast")]
    | Annotated[FilterStep, Tag("filter")]
    | Annotated[DeriveStep, Tag("derive")]
    | Annotated[DropStep, Tag("drop")]
    | Annotated[DedupeStep, Tag("dedupe")]
    | Annotated[PythonStep, Tag("python")],
    Discriminator(
        _step_kind,
        custom_error_type="unknown_step",
        custom_error_message="a transform step is a mapping with exactly one of the keys "
        + ", ".join(STEP_KINDS),
    ),
]


class RetrySpec(Model):
    """Retries for transient failures: exponential backoff with full jitter."""

    attempts: int = Field(3, ge=1, le=100, description="Tries in all, the first included.")
    base_s: float = Field(0.5, gt=0, description="First backoff ceiling, in seconds.")
    cap_s: float = Field(30.0, gt=0, description="Largest backoff, in seconds.")


class BreakerSpec(Model):
    """Circuit breaker for each external endpoint (host:port or URI without password)."""

    failure_threshold: int = Field(
        5, ge=1, description="Consecutive transient failures that open the circuit."
    )
    cooldown_s: float = Field(
        30.0, gt=0, description="Seconds an open circuit fails fast before one trial call."
    )


class TaskOptions(Model):
    """Settings for one task, by table name or task id; they override the pipeline's."""

    retries: RetrySpec | None = Field(None, description="Retries for this task only.")
    timeout_s: float | None = Field(None, gt=0, description="Time limit for this task.")
    mode: Mode | None = Field(
        None, description="This table's mode, instead of the pipeline's (by table name)."
    )
    key: tuple[str, ...] | None = Field(
        None, description="This table's merge key, instead of the pipeline's (by table name)."
    )
    after: tuple[str, ...] = Field(
        (),
        description="Tables to load before this one (the tables its foreign keys refer to).",
    )
    references: tuple[str, ...] = Field(
        (),
        description="Documentation: this table's foreign keys as analysis found them, "
        "'customer_id -> customers(id)'. Not enforced.",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _split_key(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class PipelineSpec(Model):
    """One pipeline: extract from ``source``, apply ``transforms``, load into ``target``."""

    name: str = Field(
        description="Pipeline name; run history is kept under it.",
        min_length=1,
        max_length=200,
    )
    source: SourceSpec = Field(description="Where the data comes from.")
    transforms: tuple[TransformStep, ...] = Field((), description="Steps applied in order.")
    checks: tuple[CheckSpec, ...] = Field(
        (), description="Data checks, run on the staged rows before the commit."
    )
    quality: QualitySpec = Field(
        default_factory=QualitySpec,
        description="Profiling, anomalies and the quality score of what each run loads.",
    )
    target: TargetSpec = Field(default_factory=TargetSpec, description="Where the data goes.")
    tags: tuple[str, ...] = Field(
        (), description="Labels of this pipeline; a 'route' rule may ask for them."
    )
    route: tuple[WorkflowRoute, ...] = Field(
        (),
        description="Send the whole run to another target by what discovery found (format, "
        "size, rows), the tags or AOETL_ENV; first match wins, else 'target'.",
    )
    routes: dict[str, tuple[RowRoute, ...]] = Field(
        default_factory=dict,
        description="Per source table: send each row to the first target table whose SQL "
        "predicate it meets; rows no rule takes go to 'else', the DLQ, or fail the run.",
    )
    mode: Mode = Field("append", description="append, replace (swap), or merge (upsert on key).")
    key: tuple[str, ...] = Field((), description="Key columns; required for mode merge.")
    retries: RetrySpec = Field(default_factory=RetrySpec, description="Transient-failure retries.")
    timeout_s: float | None = Field(
        None, gt=0, description="Time limit for each task; a task over it is cancelled and fails."
    )
    breaker: BreakerSpec = Field(
        default_factory=BreakerSpec, description="Circuit breaker settings per endpoint."
    )
    tasks: dict[str, TaskOptions] = Field(
        default_factory=dict,
        description="Per-task overrides, keyed by table name or task id (load:orders).",
    )
    max_bad_rows: int | None = Field(
        None,
        ge=0,
        description="Fail the run, loading nothing, when more rows than this are rejected. "
        "Unset: quarantine them all and succeed.",
    )
    max_bad_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Fail the run, loading nothing, when a table rejects more than this share "
        "of its records (the reader's assumptions are likely wrong). 1 turns the check off.",
    )

    @model_validator(mode="before")
    @classmethod
    def _uri_shorthand(cls, data: Any) -> Any:
        # `source: data/` and `target: duckdb:///w.duckdb` stand for {uri: …}.
        if isinstance(data, dict):
            for part in ("source", "target"):
                if isinstance(data.get(part), str):
                    data = {**data, part: {"uri": data[part]}}
        return data

    @field_validator("key", mode="before")
    @classmethod
    def _split_key(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_serializer(mode="wrap")
    def _without_unused_routing(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A spec without routing dumps (and so hashes and is stored) as it did before
        # routing existed: its runs keep resuming across the upgrade.
        data = handler(self)
        if isinstance(data, dict):
            for name in ("tags", "route", "routes"):
                if name in data and not data[name]:
                    del data[name]
        return data

    @model_validator(mode="after")
    def _routes_in_order(self) -> PipelineSpec:
        if self.route and any(r.otherwise is not None for r in self.route[:-1]):
            raise ValueError("route: 'else' comes once, as the last rule")
        for table, rules in self.routes.items():
            check_row_routes(table, rules)
        return self

    @model_validator(mode="after")
    def _merge_needs_key(self) -> PipelineSpec:
        # A REST resource names (or detects) its own primary key, which a merge then uses.
        if self.mode == "merge" and not self.key and self.source.kind != "rest":
            raise ValueError("mode 'merge' needs 'key': the columns to upsert on")
        for name, options in self.tasks.items():
            keyless = not (options.key or self.key) and self.source.kind != "rest"
            if options.mode == "merge" and keyless:
                raise ValueError(f"tasks.{name}: mode 'merge' needs a key: set tasks.{name}.key")
        return self

    def all_targets(self) -> tuple[TargetSpec, ...]:
        """Every target a run may write into: its own, and each one a workflow ``route:``
        rule may send the run to instead."""
        found = [self.target]
        for rule in self.route:
            found += [t for t in (rule.target, rule.otherwise) if t is not None]
        return tuple(found)
