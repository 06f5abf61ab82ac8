"""DuckDB errors as aoetl's: one line, no SQL, typed the same on every target.

The DuckDB, PostgreSQL, SQLite and folder targets all run their SQL in DuckDB, so one table's
failure reads the same and has the same exit code whatever the target.
"""

from __future__ import annotations

import re

import duckdb

from ..errors import FatalError, UserError
from ..secrets import redact
from ._schema import shown

# Errors in the data or in a step's SQL: running again will not help, the input must change.
_USER_ERRORS = (
    duckdb.ConversionException,
    duckdb.BinderException,
    duckdb.ParserException,
    duckdb.InvalidInputException,
    duckdb.CatalogException,
    duckdb.ConstraintException,
    duckdb.OutOfRangeException,
)
_RELAYED = re.compile(r"\b(?:ERROR|error):\s+(.*)$")  # a server's own message, after its SQL
# A server's data and constraint errors (SQLSTATE classes 22 and 23) reach DuckDB as plain
# text in a generic error; these are their usual words.
_RELAYED_DATA = re.compile(
    r"violates|value too long|invalid input syntax|out of range|malformed|cannot be null",
    re.IGNORECASE,
)
_MAX_MESSAGE = 300
_HINTS = ("Did you mean", "Candidate bindings")


def as_error(exc: duckdb.Error, table: str | None) -> Exception:
    """A DuckDB error as aoetl's: one line, no SQL, typed the same on every target.

    ``table`` names the table the error belongs to; None for the commit of every table.
    ``duckdb_target._as_error`` is this function, under the name the folder target imports.
    """
    where = f"table {shown(table)}" if table is not None else "commit failed"
    if isinstance(exc, duckdb.InterruptException):
        return FatalError(f"{where}: load cancelled")
    message = one_line(str(exc))
    user = isinstance(exc, _USER_ERRORS) or (
        type(exc) is duckdb.Error and _RELAYED_DATA.search(message) is not None
    )
    return (UserError if user else FatalError)(f"{where}: {message}")


def one_line(message: str) -> str:
    """The first line of an engine message, without the SQL it may quote, short enough to read.

    A server's error relayed by an extension (``Failed to execute query "…": ERROR: …``)
    keeps only the server's words.
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else "unknown error"
    relayed = _RELAYED.search(first)
    if relayed is None and len(lines) > 1 and first.endswith(":"):
        relayed = _RELAYED.search(" ".join(lines[:3]))
    text = relayed.group(1) if relayed else first
    if relayed is None:  # DuckDB's own hints help: "Did you mean …", "Candidate bindings: …"
        text = " ".join([text, *(line for line in lines[1:] if line.startswith(_HINTS))])
    text = redact(text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
