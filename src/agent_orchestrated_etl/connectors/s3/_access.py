"""How this process reaches an S3 store: boto3's client and the DuckDB secret, from one place.

Settings come from the ``s3:`` block of a source or target, each field falling back to
boto3's standard chain (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``…, ``AWS_PROFILE``, the
shared config files). A credential written as a ``${…}`` reference is resolved here, at
connect time, and every value is registered for redaction: the DuckDB secret statement
holds them, so it is a relation's prelude (never logged) and never part of a message.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ...data.duck import quote_literal
from ...errors import UserError, classify_boto, register_secret
from ...secrets import resolve
from ...spec import S3Connection

# Retries for every request: botocore's standard mode (exponential backoff with jitter, and
# throttling codes retried), so one slow answer does not fail a listing of thousands. The
# timeouts bound a store that stops answering: a request waits 15 s for bytes, so a call gives
# up within about a minute (the run's own retries then decide), not after six.
_MAX_ATTEMPTS = 3
_CONNECT_TIMEOUT_S = 5
_READ_TIMEOUT_S = 15
_AWS_HOSTS = ("amazonaws.com", "amazonaws.com.cn")


def split(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` → ('bucket', 'some/key').

    Raises:
        UserError: not an s3:// URI with a bucket.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise UserError(f"{uri!r} is not an S3 URI; write s3://bucket/prefix/")
    return parts.netloc, parts.path.lstrip("/")


@dataclass(frozen=True)
class S3Access:
    """A connected S3 client and what DuckDB needs to read and write through the same store.

    Attributes:
        client: boto3's S3 client (thread-safe; retries in botocore's standard mode).
        endpoint_url: the endpoint requests go to (http(s)://host[:port]).
        region: the region requests are signed for.
        endpoint: host:port, which keys the store's circuit breaker.
    """

    client: Any
    endpoint_url: str
    region: str
    url_style: str
    # Out of the repr: an S3Access in a log line or a traceback must not show credentials.
    key_id: str | None = field(repr=False)
    secret: str | None = field(repr=False)
    token: str | None = field(repr=False)

    @property
    def endpoint(self) -> str:
        parts = urlsplit(self.endpoint_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def secret_name(self, bucket: str | None = None) -> str:
        """A name for the DuckDB secret, the same for the same store, key and bucket."""
        seed = f"{self.endpoint_url}\0{self.key_id}\0{self.region}\0{bucket or ''}"
        return "aoetl_s3_" + hashlib.sha256(seed.encode()).hexdigest()[:12]

    def prelude(self, bucket: str | None = None) -> tuple[str, ...]:
        """SQL that lets a DuckDB connection read and write ``s3://`` through this store
        (httpfs and a secret). It holds the credentials: run it, never log it.

        With ``bucket``, the secret is scoped to ``s3://bucket/``: a connection that also
        holds another store's secret (a source on one store, the target on another) picks
        the one of each path's bucket, where two unscoped secrets would leave DuckDB one
        for every path. Without it, the secret applies to every ``s3://`` path.
        """
        parts = urlsplit(self.endpoint_url)
        options = [
            "TYPE s3",
            f"REGION {quote_literal(self.region)}",
            f"URL_STYLE {quote_literal(self.url_style)}",
            f"USE_SSL {'true' if parts.scheme == 'https' else 'false'}",
            f"ENDPOINT {quote_literal(parts.netloc.rsplit('@', 1)[-1])}",
        ]
        if self.key_id and self.secret:
            options.append(f"KEY_ID {quote_literal(self.key_id)}")
            options.append(f"SECRET {quote_literal(self.secret)}")
        if self.token:
            options.append(f"SESSION_TOKEN {quote_literal(self.token)}")
        if bucket:
            options.append(f"SCOPE {quote_literal(f's3://{bucket}/')}")
        return (
            "LOAD httpfs",
            f"CREATE OR REPLACE SECRET {self.secret_name(bucket)} ({', '.join(options)})",
        )


def connect(settings: S3Connection | None) -> S3Access:
    """An :class:`S3Access` for ``settings`` (None: boto3's chain alone).

    Raises:
        UserError: boto3 is missing, no credentials are found, or a setting is invalid.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise UserError(
            "S3 needs boto3 and DuckDB's httpfs extension: pip install 'agent-orchestrated-etl[s3]'"
        ) from None
    settings = settings or S3Connection()
    key_id = _resolved(settings.access_key_id)
    secret = _resolved(settings.secret_access_key)
    token = _resolved(settings.session_token)
    if bool(key_id) != bool(secret):
        raise UserError(
            "s3.access_key_id and s3.secret_access_key go together: give both, or neither "
            "(to use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile)"
        )
    try:
        # boto3 reads AWS_DEFAULT_REGION but not AWS_REGION, which the AWS CLI and SDKs
        # for other languages read: both are honoured, as the s3: block documents.
        region = settings.region or os.environ.get("AWS_REGION") or None
        session = boto3.Session(profile_name=settings.profile, region_name=region)
        endpoint_url = _resolved(settings.endpoint_url) or os.environ.get("AWS_ENDPOINT_URL_S3")
        custom = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        style = settings.url_style or ("path" if custom else "virtual")
        config = Config(
            retries={"mode": "standard", "max_attempts": _MAX_ATTEMPTS},
            connect_timeout=_CONNECT_TIMEOUT_S,
            read_timeout=_READ_TIMEOUT_S,
            s3={"addressing_style": "virtual" if style == "vhost" else style},
            max_pool_connections=32,
        )
        client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=config,
        )
        if not key_id:
            found = session.get_credentials()
            if found is not None:
                frozen = found.get_frozen_credentials()
                key_id, secret, token = frozen.access_key, frozen.secret_key, frozen.token
    except Exception as exc:  # a profile that does not exist, a malformed endpoint…
        raise classify_boto(exc, "connecting to S3") from None
    for value in (key_id, secret, token):
        if value:
            register_secret(value)
    endpoint = str(client.meta.endpoint_url)
    host = urlsplit(endpoint).hostname or ""
    url_style = "path" if style == "path" else "vhost"
    if host.endswith(_AWS_HOSTS) and not settings.url_style:
        url_style = "vhost"
    region = str(client.meta.region_name or "us-east-1")
    return S3Access(client, endpoint, region, url_style, key_id, secret, token)


def _resolved(value: str | None) -> str | None:
    return resolve(value) if value else None
