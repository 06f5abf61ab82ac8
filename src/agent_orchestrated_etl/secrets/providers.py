"""Secret providers: env, file, HashiCorp Vault (hvac) and AWS Secrets Manager (boto3).

A provider turns a Reference into a Fetched value. It raises SecretError saying which reference,
which provider and why (not found, permission denied, unreachable), never the value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import TransientError, UserError
from .refs import Reference


@dataclass(frozen=True)
class Fetched:
    """A looked-up value, with how long it may be cached and its lease, if any."""

    value: str
    ttl_s: float | None = None
    lease_id: str | None = None
    renewable: bool = False


class SecretError(UserError):
    """A reference could not be resolved. The message names it and says why."""

    def __init__(self, ref: Reference, why: str) -> None:
        super().__init__(f"cannot resolve {ref.text} ({ref.provider}): {why}")
        self.ref = ref
        self.why = why


class SecretUnavailable(TransientError):
    """The secret store did not answer; worth retrying."""

    def __init__(self, ref: Reference, why: str) -> None:
        super().__init__(f"cannot resolve {ref.text} ({ref.provider}): unreachable: {why}")
        self.ref = ref


class Provider(Protocol):
    def fetch(self, ref: Reference) -> Fetched: ...


def pick(ref: Reference, data: Any) -> str:
    """The value of ``ref.key`` in a mapping (or the whole value when no key is named)."""
    if ref.key is None:
        if isinstance(data, dict):
            if len(data) == 1:
                return str(next(iter(data.values())))
            keys = ", ".join(sorted(map(str, data))) or "none"
            raise SecretError(ref, f"it holds several keys ({keys}); name one after '#'")
        return str(data)
    if not isinstance(data, dict):
        raise SecretError(ref, f"it is not a key/value document, so it has no key {ref.key!r}")
    if ref.key not in data:
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise SecretError(ref, f"no key {ref.key!r} (keys present: {keys})")
    return str(data[ref.key])


class EnvProvider:
    def fetch(self, ref: Reference) -> Fetched:
        value = os.environ.get(ref.path)
        if value is None:
            if ref.default is not None:
                return Fetched(ref.default)
            raise SecretError(ref, f"environment variable {ref.path} is not set")
        return Fetched(value)


class FileProvider:
    """A .env file, a JSON or YAML document, or (with no key) a file's whole text."""

    def fetch(self, ref: Reference) -> Fetched:
        path = Path(ref.path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretError(ref, f"file {path} not found") from None
        except PermissionError:
            raise SecretError(ref, f"permission denied reading {path}") from None
        if ref.key is None:
            return Fetched(text.strip())
        suffix = path.suffix.lower()
        import yaml  # only a YAML secrets file needs it

        try:
            if suffix == ".json":
                data = json.loads(text)
            elif suffix in (".yaml", ".yml"):
                data = yaml.safe_load(text)
            else:
                data = _dotenv(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise SecretError(
                ref, f"{path} is not valid {suffix[1:] or 'dotenv'}: {type(exc).__name__}"
            ) from None
        return Fetched(pick(ref, data))


def _dotenv(text: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        data[name.strip()] = value
    return data


class AwsProvider:
    """AWS Secrets Manager through boto3's standard chain (AWS_ENDPOINT_URL included).

    ``${secret:aws:SECRET_ID#json_key}``; add ``?version_stage=AWSPREVIOUS`` or
    ``?version_id=…`` to the id for another version.
    """

    def __init__(self) -> None:
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise UserError(
                    "AWS Secrets Manager references need boto3: "
                    "pip install 'agent-orchestrated-etl[aws]'"
                ) from None
            self._client = boto3.client("secretsmanager")
        return self._client

    def fetch(self, ref: Reference) -> Fetched:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
        )

        secret_id, _, query = ref.path.partition("?")
        args: dict[str, str] = {"SecretId": secret_id}
        for part in filter(None, query.split("&")):
            name, _, value = part.partition("=")
            if name == "version_stage":
                args["VersionStage"] = value
            elif name == "version_id":
                args["VersionId"] = value
            else:
                raise SecretError(ref, f"unknown option {name!r}; use version_stage or version_id")
        try:
            response = self.client().get_secret_value(**args)
        except NoRegionError:
            raise SecretError(ref, "no AWS region; set AWS_DEFAULT_REGION") from None
        except NoCredentialsError:
            raise SecretError(ref, "no AWS credentials in the standard chain") from None
        except EndpointConnectionError as exc:
            raise SecretUnavailable(ref, str(exc)) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise SecretError(ref, f"secret {secret_id!r} not found") from None
            if code in ("AccessDeniedException", "UnrecognizedClientException"):
                raise SecretError(ref, f"permission denied ({code})") from None
            if code in ("ThrottlingException", "InternalServiceError"):
                raise SecretUnavailable(ref, code) from None
            raise SecretError(ref, code or "request failed") from None
        except BotoCoreError as exc:
            raise SecretUnavailable(ref, type(exc).__name__) from None
        if "SecretString" in response:
            raw = response["SecretString"]
        else:
            raw = bytes(response["SecretBinary"]).decode("utf-8")
        if ref.key is None:
            return Fetched(raw)
        try:
            data = json.loads(raw)
        except ValueError:
            raise SecretError(
                ref, "the secret is plain text, not JSON, so it has no keys"
            ) from None
        return Fetched(pick(ref, data))
