"""URI parsing shared by every layer: which system a string names, and where."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UserError, redact_uri

SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")  # what names a URI's system
_DUCKDB_SUFFIXES = (".duckdb", ".ddb")
LOCAL_SCHEMES = ("file", "duckdb", "parquet", "csv", "sqlite")
# Schemes whose authority is host:port, as for database drivers and HTTP.
NETWORK_SCHEMES = (
    "postgresql", "mysql", "mariadb", "mssql", "oracle", "redshift", "snowflake", "trino",
    "clickhouse", "http", "https", "s3",
)  # fmt: skip


@dataclass(frozen=True)
class ParsedUri:
    """A source or target location.

    Attributes:
        scheme: 'file', 'duckdb', 'parquet', 'csv', 's3', 'postgresql', 'sqlite', 'http', 'https'…
        path: the local path for file-like schemes, else the part after ``scheme://``.
        raw: the string as the user gave it.
    """

    scheme: str
    path: str
    raw: str

    @property
    def display(self) -> str:
        """The URI with any password removed, safe for logs and messages."""
        return redact_uri(self.raw)


def parse_uri(value: str) -> ParsedUri:
    """Classify ``value``. A string with no scheme is a local path (scheme 'file')."""
    match = SCHEME.match(value)
    if not match:
        return ParsedUri("file", value, value)
    scheme = match.group("scheme").lower()
    rest = value[match.end() :]
    if scheme.split("+")[0] in LOCAL_SCHEMES:  # sqlite+pysqlite:/// too, as SQLAlchemy has it
        # As in SQLAlchemy URLs: duckdb:///rel/path is relative, duckdb:////abs/path absolute.
        # file:// follows RFC 8089 instead: file:///abs/path is absolute.
        if scheme == "file":
            path = urlsplit(value).path or rest
        else:
            path = rest[1:] if rest.startswith("/") else rest
        return ParsedUri(scheme, path, value)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        scheme = "postgresql"
    if scheme.split("+")[0] in NETWORK_SCHEMES:  # a plugin's scheme may use ':' otherwise
        _check_port(scheme, rest, value)
    return ParsedUri(scheme, rest, value)


_REFERENCE = re.compile(r"\$\{[^}]*\}")  # ${secret:vault:kv/app#password} may hold / # @ :


def _check_port(scheme: str, rest: str, value: str) -> None:
    """Refuse a port no server can have, before a driver fails on it in its own words."""
    masked = _REFERENCE.sub(lambda m: "x" * len(m.group()), rest)
    authority = re.split(r"[/?#]", masked, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    port = host.rpartition("]")[2] if host.startswith("[") else host
    digits = port.rpartition(":")[2] if ":" in port else ""
    if digits.isdigit() and digits.isascii() and not 0 < int(digits) <= 65535:
        raise UserError(
            f"{redact_uri(value)}: port {int(digits)} is out of range; "
            "a port is a number from 1 to 65535"
        )


def anchored(parsed: ParsedUri, base: Path) -> ParsedUri:
    """``parsed`` with a relative local path made relative to ``base`` (a pipeline file's
    folder); other URIs, absolute paths and ``~`` paths as they are."""
    local = parsed.scheme.split("+")[0] in LOCAL_SCHEMES
    path = parsed.path
    if not local or not path or Path(path).is_absolute() or path.startswith("~"):
        return parsed
    absolute = str((base / path).resolve())
    if parsed.scheme == "file" and parsed.raw == parsed.path:
        return ParsedUri("file", absolute, absolute)
    if parsed.scheme == "file":
        return ParsedUri("file", absolute, "file://" + absolute)
    return ParsedUri(parsed.scheme, absolute, f"{parsed.scheme}:///{absolute}")


# 'sqlite:/x.db' (a '/' short) or '://x' (no scheme): a URL mistyped, not a folder's name.
_MISTYPED = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:(?!//)|:)")


def check_target_text(value: str) -> None:
    """Refuse a target that is neither a URL nor a plain path, which would otherwise be
    written as a folder of that name (``sqlite:/x.db`` makes a folder 'sqlite:')."""
    if _MISTYPED.match(value):
        raise UserError(
            f"target {redact_uri(value)} is neither a URL nor a plain path: a URL is "
            f"scheme://… (sqlite:///file.db, duckdb:///file.duckdb, postgresql://host/db); "
            f"for a folder of that name, write ./{value}"
        )


def target_kind(value: str, fmt: str | None = None) -> ParsedUri:
    """Resolve a target string to a scheme: duckdb, parquet or csv for local targets."""
    parsed = parse_uri(value)
    if parsed.scheme != "file":
        return parsed
    check_target_text(value)
    if Path(parsed.path).suffix.lower() in _DUCKDB_SUFFIXES:
        return ParsedUri("duckdb", parsed.path, value)
    return ParsedUri(fmt or "parquet", parsed.path, value)
