"""The data-plane contract: a :class:`Relation` (DuckDB SQL plus its Arrow bindings), rejected
rows (:class:`BadRow`, :class:`RejectSink`), DuckDB connections with offline extensions, and
SQL quoting. Connectors, transforms and the pipeline all speak it; it imports only errors and
secrets' redaction."""

from __future__ import annotations

from .duck import (
    BadRow,
    RejectSink,
    Relation,
    connect,
    fold,
    guarded,
    key_match,
    last_per_key,
    quote_ident,
    quote_literal,
    sql_list,
    unique_name,
)

__all__ = [
    "BadRow",
    "RejectSink",
    "Relation",
    "connect",
    "fold",
    "guarded",
    "key_match",
    "last_per_key",
    "quote_ident",
    "quote_literal",
    "sql_list",
    "unique_name",
]
