"""How aoetl reaches an S3-compatible store: the ``s3:`` block of a source or a target.

Every field is optional. Unset, boto3's standard chain applies: ``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``
and the shared config files. A credential may be a ``${secret:…}`` or ``${env:…}``
reference; the connector resolves it at the last moment and it never appears in output.
"""

from __future__ import annotations

from pydantic import Field

from ._model import Model


class S3Connection(Model):
    """Endpoint, region and credentials of an S3-compatible store (default: boto3's chain)."""

    endpoint_url: str | None = Field(
        None,
        description="The S3 endpoint, e.g. http://127.0.0.1:8333 for SeaweedFS or MinIO "
        "(default: AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS itself).",
    )
    region: str | None = Field(
        None, description="The region (default: AWS_REGION, the profile's, else us-east-1)."
    )
    profile: str | None = Field(
        None,
        description="A profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE).",
    )
    access_key_id: str | None = Field(
        None,
        description="Access key id, e.g. '${secret:vault:kv/s3#key_id}' (default: the chain).",
        json_schema_extra={"secret": True},
    )
    secret_access_key: str | None = Field(
        None,
        description="Secret access key, e.g. '${secret:vault:kv/s3#secret}' (default: the chain).",
        json_schema_extra={"secret": True},
    )
    session_token: str | None = Field(
        None,
        description="Session token of temporary credentials (default: the chain).",
        json_schema_extra={"secret": True},
    )
    url_style: str | None = Field(
        None,
        pattern="^(path|vhost)$",
        description="'path' (bucket in the path, as SeaweedFS and MinIO need) or 'vhost' "
        "(bucket in the host name). Default: path for a custom endpoint, else vhost.",
    )
