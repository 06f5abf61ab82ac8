"""Encrypted DuckDB files: attached with a key that is a secret reference, resolved late."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ...data.duck import connect, quote_literal
from ...errors import FatalError, UserError
from ...secrets import RESOLVER, redact, resolve


class WrongKeyError(UserError):
    """The encryption key does not open the DuckDB file."""


def open_encrypted(
    path: str, key_ref: str, alias: str, *, home: Path | None
) -> duckdb.DuckDBPyConnection:
    """Attach ``path`` as ``alias`` and use it; a refused key is resolved afresh once (rotation)."""

    def attempt() -> duckdb.DuckDBPyConnection:
        con = connect(home=home)
        try:
            con.execute("LOAD httpfs")  # DuckDB writes encrypted files only with OpenSSL
        except duckdb.Error as exc:
            con.close()
            raise UserError(
                "encrypted DuckDB targets need the httpfs extension: "
                "pip install 'agent-orchestrated-etl[encryption]'"
            ) from exc
        try:
            con.execute(
                f"ATTACH {quote_literal(path)} AS {alias} "
                f"(ENCRYPTION_KEY {quote_literal(resolve(key_ref))})"
            )
        except duckdb.Error as exc:
            con.close()
            if "encryption key" in str(exc).lower():
                raise WrongKeyError(
                    f"the encryption key from {key_ref} does not open {path}; "
                    f"check the secret, or point the target at another file"
                ) from None
            raise FatalError(f"cannot open {path}: {redact(str(exc))}") from None
        con.execute(f"USE {alias}")
        return con

    return RESOLVER.with_fresh_retry(
        [key_ref], attempt, is_auth_error=lambda e: isinstance(e, WrongKeyError)
    )
