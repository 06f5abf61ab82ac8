"""Where the data comes from: ``SourceSpec``, a union by kind (files, s3, sql, rest), each with
its options.

The kind is given (``kind: sql``) or inferred from the URI's scheme: a path or ``file://`` is
files, ``s3://`` objects in S3, ``http(s)://`` a REST API, any other scheme a database. A URI
that is a ``${…}`` reference as a whole is inferred again once it is resolved, when the
connector connects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic.json_schema import SkipJsonSchema

from ._model import Model
from .rest import RestOptions
from .s3 import S3Connection
from .uri import SCHEME

FileFormat = Literal["auto", "csv", "json", "ndjson", "parquet"]
SourceKind = Literal["files", "s3", "sql", "rest"]
SOURCE_KINDS: tuple[str, ...] = ("files", "s3", "sql", "rest")
# Schemes whose kind is not the default 'sql'.
_KIND_OF_SCHEME = {"file": "files", "s3": "s3", "http": "rest", "https": "rest"}
OBJECT_COLUMNS = {"_object_key": "VARCHAR", "_object_modified": "TIMESTAMP WITH TIME ZONE"}
"""Columns a file or object source adds when an incremental cursor names them: each row's
file path (an object's key) and its modification time. A cursor on them reads only the files
past the mark."""


class CsvOptions(Model):
    """Overrides for what the CSV sniffer would decide. Leave unset to sniff."""

    delimiter: str | None = Field(None, description="Field separator, e.g. ',' ';' '\\t' '|'.")
    header: bool | None = Field(None, description="Whether the first line holds column names.")
    quote: str | None = Field(None, description="Quote character, usually '\"'.")
    encoding: Literal["utf-8", "utf-16", "latin-1"] | None = Field(
        None, description="Text encoding. Sniffed from a byte-order mark and a sample if unset."
    )
    null_values: tuple[str, ...] | None = Field(
        None,
        description="Strings read as NULL in every column. Default: '', NA, N/A, #N/A, NaN, "
        "null, NULL, None, - and the like, as pandas and readr read them; [''] keeps NA as text.",
    )
    skip_rows: int | None = Field(
        None,
        ge=0,
        description="Lines to skip before the header (a title or metadata preamble). Sniffed "
        "if unset.",
    )
    header_row: int | None = Field(
        None,
        ge=1,
        description="The 1-based line that holds the column names; the lines before it are "
        "skipped. Same as skip_rows = header_row - 1.",
    )
    decimal_separator: str | None = Field(
        None, description="Decimal mark of numbers, '.' or ','.", min_length=1, max_length=1
    )
    date_format: str | None = Field(
        None, description="strptime format of date columns, e.g. '%d/%m/%Y'. Sniffed if unset."
    )
    null_padding: bool | None = Field(
        None,
        description="Rows with fewer fields than the header: true reads the missing trailing "
        "fields as NULL, false quarantines the rows. Unset: read as NULL when they are the "
        "file's pattern (at least 3 and 5% of the sampled rows, each keeping at least half "
        "the fields), else quarantined as damage.",
    )
    sample_rows: int = Field(
        20_480, ge=1, description="Rows sampled to infer column types (more is slower, surer)."
    )


class IncrementalSpec(Model):
    """Load only rows whose cursor column moved past the last committed high-water mark."""

    cursor: str = Field(
        description="An increasing column: an updated_at timestamp or an id. For files and S3 "
        "objects, '_object_modified' (modification time) or '_object_key' (the key or path) "
        "reads only the files past the mark, and adds that column to the table."
    )
    initial: str | None = Field(
        None, description="Read from this value on the first run (default: everything)."
    )
    lag: str | None = Field(
        None,
        description="Re-read this far behind the mark, for late commits: '10 minutes' for "
        "timestamps, '100' for ids. Use with mode merge so re-read rows update in place.",
    )


class SourceBase(Model):
    """What every kind of source has: its URI, the one target table, incremental cursors."""

    uri: str = Field(
        description="A file, glob, directory or URI: ./data/, 'logs/*.csv.gz', file:///x.parquet."
    )
    table: str | None = Field(
        None, description="Target table name when the source is one resource (default: its stem)."
    )
    incremental: dict[str, IncrementalSpec] = Field(
        default_factory=dict,
        description="Per table (or '*' for every table): the cursor column and where to start.",
    )
    base_dir: SkipJsonSchema[str | None] = Field(
        None,
        exclude=True,
        description="The pipeline file's folder: a relative path that a ${…} reference in "
        "'uri' resolves to is anchored here (set by the loader, never written out).",
    )


class FileSourceSpec(SourceBase):
    """Files: a path, glob or directory of CSV, JSON, NDJSON or Parquet."""

    kind: Literal["files"] = Field("files", description="A path, glob or directory of files.")
    format: FileFormat = Field("auto", description="File format; 'auto' detects it per file.")
    csv: CsvOptions = Field(default_factory=CsvOptions, description="CSV reading overrides.")
    columns: dict[str, str] | None = Field(
        None,
        description="Column types to use instead of inferred ones, as DuckDB types "
        "({'amount': 'DECIMAL(12,2)'}). Values that do not parse are quarantined.",
    )
    record_path: str | None = Field(
        None,
        description="For a JSON document: the key (dotted for nesting, e.g. 'data.items') whose "
        "array holds the records. Detected if unset ('data', GeoJSON's 'features'…).",
    )
    max_line_size: int = Field(
        2_000_000,
        ge=1_000,
        le=1 << 30,
        description="Longest line (bytes) a CSV or NDJSON file may hold; a longer line is "
        "quarantined with its line number.",
    )


class S3SourceSpec(FileSourceSpec):
    """Objects in S3 (or an S3-compatible store): ``s3://bucket/prefix/``, or a glob such as
    ``s3://bucket/logs/**/*.csv.gz``. Read as files are: the same formats and options."""

    kind: Literal["s3"] = Field(  # type: ignore[assignment]
        "s3", description="Objects under an S3 prefix or glob: s3://bucket/prefix/."
    )
    s3: S3Connection = Field(
        default_factory=S3Connection,
        description="Endpoint, region and credentials (default: boto3's standard chain).",
    )
    hive_partitioning: bool | None = Field(
        None,
        description="Read key=value/ folders in object keys as columns (default: when every "
        "object's key has them).",
    )


class SqlSourceSpec(SourceBase):
    """A database: PostgreSQL, SQLite, DuckDB, or any SQLAlchemy URL."""

    kind: Literal["sql"] = Field("sql", description="A database URL.")
    tables: tuple[str, ...] | None = Field(
        None,
        description="For a database: the tables or views to read ('orders', 'sales.orders'), "
        "or globs of them ('sales.*'); default: every table.",
    )
    partitions: int | None = Field(
        None,
        ge=2,
        le=64,
        description="For a database: read each table with a single integer primary key as N "
        "key ranges, scanned in parallel.",
    )
    query: str | None = Field(
        None,
        description="For a database: one SQL query to read instead of tables; it loads into "
        "'table' (default: 'query').",
    )
    reader: Literal["auto", "duckdb", "adbc", "sqlalchemy"] = Field(
        "auto",
        description="For a database, how it is read. 'auto': DuckDB's scanners for PostgreSQL, "
        "SQLite and DuckDB (if the scanner cannot load: ADBC for PostgreSQL, else SQLAlchemy), "
        "and SQLAlchemy for any other SQLAlchemy URL. 'duckdb': the scanners only. 'adbc': "
        "PostgreSQL through adbc-driver-postgresql, as Arrow batches. 'sqlalchemy': a "
        "server-side cursor, read in batches.",
    )


class RestSourceSpec(RestOptions, SourceBase):
    """A REST API: ``uri`` (or ``base_url``) is its base URL; ``resources`` its endpoints."""

    kind: Literal["rest"] = Field("rest", description="A REST API's base URL.")

    @model_validator(mode="after")
    def _since_needs_a_cursor(self) -> RestSourceSpec:
        for resource in self.resources:
            if resource.since_param and not (
                resource.name in self.incremental or "*" in self.incremental
            ):
                raise ValueError(
                    f"resource {resource.name!r} sets since_param but has no incremental "
                    f"cursor: add 'incremental: {{{resource.name}: {{cursor: <field>}}}}' "
                    "(the field whose last loaded value is sent)"
                )
        return self


def kind_of_uri(uri: object) -> str:
    """The kind a URI's scheme implies: files for a path or file://, rest for http(s)://,
    sql for the rest."""
    match = SCHEME.match(uri) if isinstance(uri, str) else None
    if match is None:
        return "files"
    return _KIND_OF_SCHEME.get(match.group("scheme").lower(), "sql")


def _source_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind")
        uri = value.get("uri", value.get("base_url"))
        return kind if isinstance(kind, str) else kind_of_uri(uri)
    kind = getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


SourceSpec = Annotated[
    Annotated[FileSourceSpec, Tag("files")]
    | Annotated[S3SourceSpec, Tag("s3")]
    | Annotated[SqlSourceSpec, Tag("sql")]
    | Annotated[RestSourceSpec, Tag("rest")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="a source's kind is one of " + ", ".join(SOURCE_KINDS),
    ),
]
"""Where the data comes from: a :class:`FileSourceSpec`, :class:`S3SourceSpec`,
:class:`SqlSourceSpec` or :class:`RestSourceSpec`."""

SOURCE_MODELS: dict[str, type[SourceBase]] = {
    "files": FileSourceSpec,
    "s3": S3SourceSpec,
    "sql": SqlSourceSpec,
    "rest": RestSourceSpec,
}


def option_kind(name: str) -> str | None:
    """The kind of source that has option ``name``, if only one kind has it."""
    owners = [k for k, model in SOURCE_MODELS.items() if name in model.model_fields]
    # S3 reads files: an option both have is the files kind's (s3 inherits it).
    if owners[:2] == ["files", "s3"]:
        owners = ["files", *owners[2:]]
    return owners[0] if len(owners) == 1 else None
