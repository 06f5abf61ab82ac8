"""Where a pipeline document holds a secret written as it is, so it cannot be embedded.

An exported DAG file is read by everyone who can read the DAGs folder, and its text lands in
Airflow's database (the serialised DAG, the rendered source). A reference (``${env:PW}``,
``${secret:vault:kv/app#password}``) names a secret without holding it and stays as written;
a literal password in a URI or DSN, or a literal value in a field that is a secret as a
whole, is refused: the spec must use a reference, or the DAG must name the pipeline file.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from ..errors import QUERY_SECRET_KEYS, REFERENCE_PATTERN, redact_uri

_ONLY_REFERENCES = re.compile(rf"(?:{REFERENCE_PATTERN})+")
# Fields that are secrets as a whole wherever they are: a REST auth's secret fields, an
# encryption key, an s3: block's credentials.
_SECRET_FIELDS = frozenset(
    ("password", "token", "client_secret", "encryption_key", "access_key_id",
     "secret_access_key", "session_token")
)  # fmt: skip
# Query params whose names say they carry a credential: those redaction masks, and the
# signatures and credentials of presigned URLs (AWS SigV4, Google, Azure SAS).
_QUERY_KEYS = QUERY_SECRET_KEYS | frozenset(
    ("sig", "signature", "credential", "x-amz-signature", "x-amz-credential",
     "x-amz-security-token", "x-goog-signature", "x-goog-credential")
)  # fmt: skip
_CREDENTIAL_NAME = re.compile(
    r"authorization|api[-_]?key|token|secret|password|passwd|cookie|credential|signature",
    re.IGNORECASE,
)
# A header whose name holds 'auth' or 'key' (X-Auth-Key, X-Api-Key, Proxy-Authorization).
_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|password|cookie|credential", re.I)
# SQL, where "password = 'x'" is a predicate, not a DSN: never read as a URI.
_SQL_FIELDS = frozenset(("transforms", "checks", "when", "query", "sql", "filter", "derive"))


def _literal(value: object) -> bool:
    """A non-empty string that is not only ${…} references."""
    return isinstance(value, str) and bool(value) and not _ONLY_REFERENCES.fullmatch(value)


def _credential_key(name: str, where: str) -> bool:
    """Whether a header (``where`` 'headers') or query parameter named ``name`` carries a
    credential."""
    if where == "headers":
        return bool(_CREDENTIAL_HEADER.search(name))
    return name.lower() in _QUERY_KEYS or bool(_CREDENTIAL_NAME.search(name))


def _literal_in_query(text: str) -> bool:
    """A URL whose query string gives a credential parameter a literal value."""
    if "?" not in text or "=" not in text:
        return False
    query = text.split("?", 1)[1].split("#", 1)[0]
    return any(
        _credential_key(key, "params") and _literal(value)
        for key, value in parse_qsl(query, keep_blank_values=True)
    )


def _literal_secret(key: str, value: str, path: str) -> bool:
    parent = path.rsplit(".", 1)[-1]
    secret_field = key in _SECRET_FIELDS or (key == "value" and path.endswith("auth"))
    credential = parent in ("headers", "params") and _credential_key(key, parent)
    return (
        ((secret_field or credential) and _literal(value))
        or redact_uri(value) != value
        or _literal_in_query(value)
    )


def literal_secrets(document: Any, path: str = "") -> list[str]:
    """The dotted paths (``target.uri``, ``source.auth.token``) of every literal secret in a
    pipeline document, in document order; empty when every secret is a reference."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if key in _SQL_FIELDS:
                continue
            if isinstance(value, str):
                if _literal_secret(str(key), value, path):
                    found.append(where)
            else:
                found += literal_secrets(value, where)
    elif isinstance(document, list | tuple):
        for index, value in enumerate(document):
            where = f"{path}[{index}]"
            if isinstance(value, str):
                if redact_uri(value) != value or _literal_in_query(value):
                    found.append(where)
            else:
                found += literal_secrets(value, where)
    return found
