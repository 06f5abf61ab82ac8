"""A REST API as a source: ``RestSourceSpec``, its auth, paginator and resources.

Every string that holds a credential (a token, a password, a client secret, an API key) may be
a ``${secret:…}`` or ``${env:…}`` reference; the connector resolves it at the last moment and
never shows the value.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from ._model import Model


class BearerAuth(Model):
    """``Authorization: Bearer <token>``."""

    type: Literal["bearer"] = "bearer"
    token: str = Field(description="The token, e.g. '${env:API_TOKEN}'.")


class BasicAuth(Model):
    """HTTP basic auth."""

    type: Literal["basic"] = "basic"
    username: str
    password: str = Field(description="The password, e.g. '${secret:vault:kv/api#password}'.")


class ApiKeyAuth(Model):
    """An API key sent in a header or in the query string."""

    type: Literal["api_key"] = "api_key"
    name: str = Field("X-API-Key", description="The header or query parameter that holds the key.")
    value: str = Field(description="The key, e.g. '${env:API_KEY}'.")
    location: Literal["header", "query"] = Field("header", description="Where the key goes.")


class OAuth2ClientCredentials(Model):
    """OAuth2 client credentials: a token from ``token_url``, fetched again before it expires
    and when the API answers 401."""

    type: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: str = Field(description="The token endpoint (absolute, or relative to the uri).")
    client_id: str
    client_secret: str = Field(description="The secret, e.g. '${secret:vault:kv/api#secret}'.")
    scopes: tuple[str, ...] = Field((), description="Scopes to ask for (space-joined).")


AuthSpec = Annotated[
    Annotated[BearerAuth, Tag("bearer")]
    | Annotated[BasicAuth, Tag("basic")]
    | Annotated[ApiKeyAuth, Tag("api_key")]
    | Annotated[OAuth2ClientCredentials, Tag("oauth2_client_credentials")],
    Discriminator(
        lambda v: v.get("type") if isinstance(v, dict) else getattr(v, "type", None),
        custom_error_type="auth_type",
        custom_error_message="auth 'type' is one of bearer, basic, api_key, "
        "oauth2_client_credentials",
    ),
]

PaginatorType = Literal[
    "auto", "none", "page_number", "offset", "cursor", "next_url", "link_header"
]


class PaginatorSpec(Model):
    """How to get the next page. 'auto' detects it from the first response and says why.

    Paths into the response body are dotted ('meta.next_cursor'). Every paginator stops on an
    empty page, on ``has_more_path`` false, on the total when one is known, and with an error
    when the API sends a cursor or next URL it sent before (a loop).
    """

    type: PaginatorType = Field("auto", description="The pagination style.")
    # page_number
    page_param: str = Field("page", description="page_number: the page number parameter.")
    start_page: int = Field(1, ge=0, description="page_number: the first page's number.")
    page_size_param: str | None = Field(
        None, description="page_number: the page size parameter (e.g. 'per_page'), if sent."
    )
    page_size: int | None = Field(None, ge=1, description="The page size to ask for.")
    total_pages_path: str | None = Field(
        None, description="page_number: where the body gives the number of pages."
    )
    # offset
    offset_param: str = Field("offset", description="offset: the offset parameter.")
    limit_param: str = Field("limit", description="offset: the limit parameter.")
    limit: int = Field(100, ge=1, description="offset: records per request.")
    # page_number and offset
    total_path: str | None = Field(
        None,
        description="Where the body gives the total number of records; with it (or "
        "total_pages_path) pages are fetched concurrently.",
    )
    # cursor
    cursor_path: str = Field("next_cursor", description="cursor: where the body gives it.")
    cursor_param: str = Field("cursor", description="cursor: the parameter that sends it back.")
    # next_url
    next_url_path: str = Field("next", description="next_url: where the body gives the URL.")
    # any
    has_more_path: str | None = Field(
        None, description="A boolean in the body; false means this was the last page."
    )
    max_pages: int | None = Field(
        None, ge=1, description="Stop after this many pages (a safety cap; default: none)."
    )


class ParentSpec(Model):
    """A child resource is read once per record of its parent: ``/users/{user_id}/posts``."""

    resource: str = Field(description="The parent resource's name.")
    params: dict[str, str] = Field(
        description="Placeholder in the path (or query parameter) -> the parent record's "
        "field that fills it, e.g. {'user_id': 'id'}. The child table gets each as a column "
        "'_<parent>_<field>'."
    )


class RestResourceSpec(Model):
    """One collection endpoint, loaded into one table (and a child table per nested array)."""

    name: str = Field(description="The table it loads into.")
    path: str = Field(description="The path under the uri: 'users', '/users/{user_id}/posts'.")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query parameters sent with every request."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    records: str | None = Field(
        None,
        description="Where the records are in the body: a dotted path ('data.items') or a "
        "JSONPath ('$.data[*]'). Detected if unset: the body itself when it is a list, else "
        "its one list of objects.",
    )
    primary_key: tuple[str, ...] = Field(
        (),
        description="The record's key columns (merge upserts on them). Detected if unset: "
        "an 'id' field present in every sampled record.",
    )
    paginator: PaginatorSpec | None = Field(None, description="Overrides the source's.")
    parent: ParentSpec | None = Field(None, description="Read once per parent record.")
    since_param: str | None = Field(
        None,
        description="With an incremental cursor for this table: the query parameter that "
        "sends the last loaded value ('since', 'updated_after').",
    )

    @field_validator("primary_key", mode="before")
    @classmethod
    def _split_key(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class RestOptions(Model):
    """What a REST source has beside the base spec (mixed into ``RestSourceSpec``)."""

    headers: dict[str, str] = Field(default_factory=dict, description="Headers for every request.")
    auth: Annotated[AuthSpec | None, Field(None, description="How to authenticate.")]
    resources: tuple[RestResourceSpec, ...] = Field(
        (),
        description="The endpoints to load. Empty: the uri itself is one collection endpoint, "
        "probed for its records and paginator.",
    )
    paginator: PaginatorSpec = Field(
        default_factory=PaginatorSpec, description="The paginator resources use by default."
    )
    max_concurrency: int = Field(
        8, ge=1, le=64, description="Requests in flight at once, at most (pages and parents)."
    )
    requests_per_second: float | None = Field(
        None,
        gt=0,
        description="A cap on the request rate (default: none beyond the API's "
        "own rate-limit headers, which are always honoured).",
    )
    timeout_s: float = Field(30.0, gt=0, description="Time limit of one request, in seconds.")

    @model_validator(mode="before")
    @classmethod
    def _base_url(cls, data: Any) -> Any:
        """``base_url`` is another name for ``uri``."""
        if isinstance(data, dict) and "base_url" in data:
            data = dict(data)
            base = data.pop("base_url")
            data.setdefault("uri", base)
        return data

    @model_validator(mode="after")
    def _parents_exist(self) -> RestOptions:
        names = [r.name for r in self.resources]
        if len(set(names)) != len(names):
            raise ValueError("two REST resources have the same name")
        for resource in self.resources:
            if resource.parent is not None and resource.parent.resource not in names:
                raise ValueError(
                    f"resource {resource.name!r} names parent {resource.parent.resource!r}, "
                    "which is not a resource of this source"
                )
        return self
