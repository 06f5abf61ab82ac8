"""The Typer app, its consoles, and the options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="aoetl",
    help="Agent-orchestrated ETL: point it at files or a database and it plans and loads them "
    "into a warehouse (DuckDB by default), exactly once, quarantining bad rows instead of "
    "losing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
# No emoji codes: 'load:a:' is a task id, not ':a:'.
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)
_state = {"verbose": False}


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug logs.")
    ] = False,
) -> None:
    if verbose:
        _verbose()


def _verbose() -> None:
    """-v: debug logs on stderr, through the redaction filter, and tracebacks on errors."""
    if _state["verbose"]:
        return
    _state["verbose"] = True
    import logging

    from ..secrets import RedactingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("aoetl")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


# Options that run and plan share: how to read the source.
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", help="File format when it cannot be told: csv, json, ndjson, parquet."
    ),
]
TablesOption = Annotated[
    str | None,
    typer.Option(
        help="For a database: the tables to read, comma-separated; globs such as "
        "`sales.*` work (default: all). For an OpenAPI document: the endpoints to plan."
    ),
]
# Options that run and dag share: how the target is written.
ModeOption = Annotated[
    str | None,
    typer.Option(help="append (default), replace (atomic swap) or merge (upsert on --key)."),
]
KeyOption = Annotated[
    str | None, typer.Option(help="Key columns for merge, comma-separated: id or a,b.")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="For an OpenAPI document: the API's base URL, where the document "
        "gives none or another.",
    ),
]
SampleRowsOption = Annotated[
    int | None,
    typer.Option(
        "--sample-rows",
        min=1,
        help="Rows sampled per table of files or an S3 prefix to infer types, profile "
        "columns and find keys (default 10000).",
    ),
]
QueryOption = Annotated[
    str | None,
    typer.Option(help="For a database: one SQL query to read (into --table)."),
]
PartitionsOption = Annotated[
    int | None,
    typer.Option(min=2, max=64, help="For a database: read each table as N key ranges."),
]
ReaderOption = Annotated[
    str | None,
    typer.Option(
        help="For a database: auto (DuckDB's scanners, else ADBC or SQLAlchemy), duckdb, "
        "adbc (PostgreSQL as Arrow) or sqlalchemy (any SQLAlchemy URL)."
    ),
]


def _split(names: str | None) -> list[str] | None:
    """A comma-separated option as a list; None when not given."""
    return [n.strip() for n in names.split(",") if n.strip()] if names else None
