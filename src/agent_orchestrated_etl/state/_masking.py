"""What the state DB stores of a spec: every literal secret masked, references kept.

A reference (``${env:PW}``) is stored as written and resolved again on resume; a literal
password, key or token is replaced by the mask, so the history never holds one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import MASK, REFERENCE_PATTERN, redact_uri

_ONLY_REFERENCES = re.compile(rf"(?:{REFERENCE_PATTERN})+")
# The s3: block's credentials (of a source or a target), each a secret as a whole.
_S3_CREDENTIALS = ("access_key_id", "secret_access_key", "session_token")
# A REST source's fields that are secrets as a whole, and the headers that carry credentials.
_CREDENTIAL_FIELDS = ("token", "password", "client_secret", "value")
_CREDENTIAL_NAME = re.compile(
    r"authorization|api[-_]?key|token|secret|password|cookie", re.IGNORECASE
)


def _literal(value: object) -> bool:
    """A non-empty string that is not only ${…} references: a secret written as it is."""
    return isinstance(value, str) and bool(value) and not _ONLY_REFERENCES.fullmatch(value)


def masked(value: Any) -> Any:
    """Every string in ``value`` with its URL and DSN passwords masked."""
    if isinstance(value, str):
        return redact_uri(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def masked_spec(spec_json: str) -> str:
    """The spec as stored: literal passwords masked (string by string, so the JSON stays
    valid), and the fields that are secrets as a whole (an encryption key, S3 keys, a REST
    source's credentials), in the spec's target and in every target a route may pick."""
    if not spec_json:
        return spec_json
    spec = masked(json.loads(spec_json))
    if not isinstance(spec, dict):
        return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    source = spec.get("source")
    if isinstance(source, dict):
        _mask_credentials(source)
        _mask_s3(source)
    targets = [spec.get("target")]
    routed = spec.get("route")
    for rule in routed if isinstance(routed, list) else ():
        if isinstance(rule, dict):
            targets += [rule.get("target"), rule.get("otherwise")]
    for target in targets:
        if isinstance(target, dict):
            if _literal(target.get("encryption_key")):
                target["encryption_key"] = MASK
            _mask_s3(target)
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))


def _mask_s3(part: dict[str, Any]) -> None:
    """Mask the literal credentials of ``part``'s ``s3:`` block, in place."""
    block = part.get("s3")
    if isinstance(block, dict):
        for name in _S3_CREDENTIALS:
            if _literal(block.get(name)):
                block[name] = MASK


def _mask_credentials(source: dict[str, Any]) -> None:
    """Mask a REST source's literal credentials in place: its auth's secret fields, and the
    headers and query params whose names say they carry one (its own and each resource's)."""
    auth = source.get("auth")
    if isinstance(auth, dict):
        for name in _CREDENTIAL_FIELDS:
            if _literal(auth.get(name)):
                auth[name] = MASK
    resources = source.get("resources")
    for holder in [source, *(resources if isinstance(resources, list) else [])]:
        for part in ("headers", "params"):
            values = holder.get(part) if isinstance(holder, dict) else None
            if isinstance(values, dict):
                for name, value in values.items():
                    if _CREDENTIAL_NAME.search(name) and _literal(value):
                        values[name] = MASK
