"""The typed report of ``aoetl analyze``: what a source holds and every guess made about it.

It is general on purpose: a REST API (read from its OpenAPI document or probed), a folder of
files, an S3 prefix or a database all report a :class:`SourceReport` of resources with their
fields, keys and decisions. REST endpoints carry their own part (:class:`EndpointReport`):
the path, where the records are, the paginator and the parent, as a pipeline would name them.
Files carry theirs: one :class:`FileReport` per file (its format by name and by content,
partitions, and how its schema drifts from its table's), and the profile of a sample: a
confidence per field, candidate keys, foreign keys between tables with their coverage,
cursor columns and :class:`Issue` records (null-heavy or mixed columns, duplicate keys,
suspected PII, empty files, encoding problems).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..connectors import Decision
from ..spec.rest import PaginatorSpec, ParentSpec

Method = Literal["openapi", "probe", "discovery", "sample"]
IssueKind = Literal[
    "null_heavy",
    "mixed_types",
    "duplicate_key",
    "pii",
    "empty_file",
    "encoding",
    "format_mismatch",
    "schema_drift",
    "unreadable",
    "orphans",
]


@dataclass(frozen=True)
class FieldReport:
    """One field of a record: its type as the source states it ('integer', 'date-time',
    'VARCHAR'…); a nested object's or an array of objects' fields are in ``fields``.

    From a sample (files): ``confidence`` is the share of the sampled non-null values that
    fit ``type`` (1.0: all of them; text always fits), ``null_ratio`` the share of sampled
    rows where it is null, ``distinct`` its distinct values in the sample.
    """

    name: str
    type: str
    required: bool = False
    nullable: bool = False
    fields: tuple[FieldReport, ...] = ()
    confidence: float | None = None
    null_ratio: float | None = None
    distinct: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.required:
            data["required"] = True
        if self.nullable:
            data["nullable"] = True
        if self.fields:
            data["fields"] = [f.to_dict() for f in self.fields]
        for name in ("confidence", "null_ratio", "distinct"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


@dataclass(frozen=True)
class TypeConflict:
    """A column whose type in one file differs from its type in the table."""

    column: str
    file_type: str
    table_type: str

    def to_dict(self) -> dict[str, str]:
        return {"column": self.column, "file_type": self.file_type, "table_type": self.table_type}


@dataclass(frozen=True)
class FileReport:
    """One file of a resource: what it is, and how its schema differs from its table's.

    ``format`` is what it is read as; ``format_by_extension`` and ``format_by_content`` are
    the two pieces of evidence (None when one says nothing: no known extension, content that
    fits no format), and ``compression`` the codec (gzip, zstd) or None. ``added`` are
    columns this file has and its table's first file lacks, ``missing`` the reverse.
    """

    path: str
    format: str
    size_bytes: int
    format_by_extension: str | None = None
    format_by_content: str | None = None
    compression: str | None = None
    rows: int | None = None
    partitions: dict[str, str] = field(default_factory=dict)
    added: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    type_conflicts: tuple[TypeConflict, ...] = ()

    @property
    def drifted(self) -> bool:
        return bool(self.added or self.missing or self.type_conflicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "format_by_extension": self.format_by_extension,
            "format_by_content": self.format_by_content,
            "compression": self.compression,
            "size_bytes": self.size_bytes,
            "rows": self.rows,
            "partitions": dict(self.partitions),
            "added": list(self.added),
            "missing": list(self.missing),
            "type_conflicts": [c.to_dict() for c in self.type_conflicts],
        }


@dataclass(frozen=True)
class KeyCandidate:
    """Columns unique and non-null in the data looked at, and why they rank where they do."""

    columns: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "reason": self.reason}


@dataclass(frozen=True)
class Reference:
    """A foreign key found in the data: ``columns`` of this table whose values are found in
    ``table``'s candidate key ``referenced_columns``; ``coverage`` is the share of this
    table's distinct non-null values found there (1.0: every one)."""

    columns: tuple[str, ...]
    table: str
    referenced_columns: tuple[str, ...]
    coverage: float

    def __str__(self) -> str:
        return f"{', '.join(self.columns)} -> {self.table}({', '.join(self.referenced_columns)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "table": self.table,
            "referenced_columns": list(self.referenced_columns),
            "coverage": self.coverage,
        }


@dataclass(frozen=True)
class Issue:
    """A quality problem found in the source: what kind, where, and what was seen.

    ``severity`` is 'info' (worth knowing), 'warning' (a load may surprise) or 'error' (a
    load would fail or lose data).
    """

    kind: IssueKind
    detail: str
    resource: str | None = None
    column: str | None = None
    file: str | None = None
    severity: Literal["info", "warning", "error"] = "warning"

    def __str__(self) -> str:
        where = ".".join(p for p in (self.resource, self.column) if p) or self.file or ""
        return f"{self.kind}: {where}: {self.detail}" if where else f"{self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "resource": self.resource,
            "column": self.column,
            "file": self.file,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class EndpointReport:
    """What a REST resource needs beside its fields: how to ask for it and page through it.

    ``records`` is None when the body itself is the list; ``params`` are the query parameters
    it declares, ``send`` those worth sending with every request (a page size); ``auth``
    names the security schemes the endpoint accepts (empty: none needed; '' among them:
    optional).
    """

    path: str
    records: str | None = None
    paginator: PaginatorSpec | None = None
    parent: ParentSpec | None = None
    params: tuple[str, ...] = ()
    auth: tuple[str, ...] = ()
    since_param: str | None = None
    send: dict[str, str | int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        paginator = None
        if self.paginator is not None:
            paginator = self.paginator.model_dump(mode="json", exclude_defaults=True)
            paginator["type"] = self.paginator.type
        return {
            "path": self.path,
            "records": self.records,
            "paginator": paginator,
            "parent": self.parent.model_dump(mode="json") if self.parent else None,
            "params": list(self.params),
            "auth": list(self.auth),
            "since_param": self.since_param,
            "send": dict(self.send),
        }


def where(locations: tuple[str, ...]) -> str:
    """A resource's location as a report shows it: its first file, and how many more."""
    more = len(locations) - 1
    return (locations[0] if locations else "") + (f" (+{more} more)" if more > 0 else "")


@dataclass(frozen=True)
class ResourceReport:
    """One table's worth of source data: where it is, its fields and keys, and why."""

    name: str
    location: str
    format: str
    fields: tuple[FieldReport, ...] = ()
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[str, ...] = ()
    row_estimate: int | None = None
    decisions: tuple[Decision, ...] = ()
    endpoint: EndpointReport | None = None
    size_bytes: int | None = None
    files: tuple[FileReport, ...] = ()
    partitions: tuple[str, ...] = ()
    candidate_keys: tuple[KeyCandidate, ...] = ()
    references: tuple[Reference, ...] = ()
    cursors: tuple[str, ...] = ()
    issues: tuple[Issue, ...] = ()
    sampled_rows: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "location": self.location,
            "format": self.format,
            "fields": [f.to_dict() for f in self.fields],
            "primary_key": list(self.primary_key),
            "foreign_keys": list(self.foreign_keys),
            "row_estimate": self.row_estimate,
            "size_bytes": self.size_bytes,
            "decisions": [d.to_dict() for d in self.decisions],
        }
        if self.endpoint is not None:
            data["endpoint"] = self.endpoint.to_dict()
        if self.files:
            data["files"] = [f.to_dict() for f in self.files]
        if self.sampled_rows is not None:
            data.update(
                partitions=list(self.partitions),
                candidate_keys=[k.to_dict() for k in self.candidate_keys],
                references=[r.to_dict() for r in self.references],
                cursors=list(self.cursors),
                issues=[i.to_dict() for i in self.issues],
                sampled_rows=self.sampled_rows,
            )
        return data


@dataclass(frozen=True)
class AuthScheme:
    """A security scheme the source declares, and the auth settings it would take.

    ``auth`` is an ``auth:`` block for a pipeline file with ``${env:…}`` references where the
    credentials go (never a value); None when aoetl cannot authenticate that way.
    """

    name: str
    kind: str
    auth: dict[str, Any] | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "auth": self.auth, "detail": self.detail}


@dataclass
class SourceReport:
    """What ``aoetl analyze`` found in a source.

    Attributes:
        kind: rest, files or sql.
        source: the source as given, secrets masked.
        method: how it was read: an OpenAPI document, probing an endpoint, or discovery.
        resources: the collections (tables) found.
        base_url: a REST API's base URL (None for other kinds, or when the document gives
            none).
        document: what the document is ({'format': 'openapi', 'version': '3.1.0',
            'title': …}); empty when there is none.
        auth: the security schemes declared.
        rate_limit: rate-limit headers seen or declared, name -> value or description.
        decisions: guesses about the source as a whole, with their evidence.
        warnings: what could not be used, and why.
        issues: quality problems not tied to one resource (an empty file); each
            resource's own are on it.
        sample_rows: rows sampled per resource to infer types and profile (None: the
            report was not made from a sample).
    """

    kind: str
    source: str
    method: Method
    resources: list[ResourceReport] = field(default_factory=list)
    base_url: str | None = None
    document: dict[str, str] = field(default_factory=dict)
    auth: list[AuthScheme] = field(default_factory=list)
    rate_limit: dict[str, str] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    sample_rows: int | None = None

    def all_issues(self) -> list[Issue]:
        """Every issue: the source's, then each resource's."""
        return [*self.issues, *(i for r in self.resources for i in r.issues)]

    def resource(self, name: str) -> ResourceReport:
        """The resource called ``name``.

        Raises:
            KeyError: there is none.
        """
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data (what ``aoetl analyze --json`` prints)."""
        return {
            "kind": self.kind,
            "source": self.source,
            "method": self.method,
            "base_url": self.base_url,
            "document": dict(self.document),
            "auth": [a.to_dict() for a in self.auth],
            "rate_limit": dict(self.rate_limit),
            "resources": [r.to_dict() for r in self.resources],
            "decisions": [d.to_dict() for d in self.decisions],
            "warnings": list(self.warnings),
            "issues": [i.to_dict() for i in self.issues],
            "sample_rows": self.sample_rows,
        }
