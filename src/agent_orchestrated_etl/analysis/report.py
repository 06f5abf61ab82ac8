"""The typed report of ``aoetl analyze``: what a source holds and every guess made about it.

It is general on purpose: a REST API (read from its OpenAPI document or probed), a folder of
files or a database all report a :class:`SourceReport` of resources with their fields, keys
and decisions. REST endpoints carry their own part (:class:`EndpointReport`): the path, where
the records are, the paginator and the parent, as a pipeline would name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..connectors import Decision
from ..spec.rest import PaginatorSpec, ParentSpec

Method = Literal["openapi", "probe", "discovery"]


@dataclass(frozen=True)
class FieldReport:
    """One field of a record: its type as the source states it ('integer', 'date-time',
    'VARCHAR'…); a nested object's or an array of objects' fields are in ``fields``."""

    name: str
    type: str
    required: bool = False
    nullable: bool = False
    fields: tuple[FieldReport, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.required:
            data["required"] = True
        if self.nullable:
            data["nullable"] = True
        if self.fields:
            data["fields"] = [f.to_dict() for f in self.fields]
        return data


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

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "location": self.location,
            "format": self.format,
            "fields": [f.to_dict() for f in self.fields],
            "primary_key": list(self.primary_key),
            "foreign_keys": list(self.foreign_keys),
            "row_estimate": self.row_estimate,
            "decisions": [d.to_dict() for d in self.decisions],
        }
        if self.endpoint is not None:
            data["endpoint"] = self.endpoint.to_dict()
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
        }
