"""``aoetl sample``: a representative sample of a source's table, anonymised on request."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._text import plural
from ._app import FormatOption, _split, app, err

if TYPE_CHECKING:
    from ..quality import SampleResult


@app.command()
def sample(
    source: Annotated[
        str,
        typer.Argument(
            help="Any source aoetl reads: files, a folder, s3://…, a database URL, a REST API."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The file to write: .csv, .parquet, .json (one array) or .ndjson/.jsonl.",
        ),
    ],
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many rows to keep.")],
    table: Annotated[
        str | None,
        typer.Option("--table", help="The table to sample, when the source holds several."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="random (a seeded draw over every row), head (the first rows) or "
            "stratified (--by a column, each value in proportion).",
        ),
    ] = "random",
    by: Annotated[
        str | None, typer.Option("--by", help="For --method stratified: the column.")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="The same seed draws the same rows (default: a random one)."),
    ] = None,
    anonymize: Annotated[
        bool,
        typer.Option(
            "--anonymize", help="Replace the values of columns suspected of personal data."
        ),
    ] = False,
    pii: Annotated[
        str | None,
        typer.Option(
            "--pii", help="Columns to anonymise too, comma-separated (implies --anonymize)."
        ),
    ] = None,
    how: Annotated[
        str | None,
        typer.Option(
            "--with",
            help="fake (consistent fake values of the same kind; the default), hash (keyed "
            "SHA-256) or mask (irreversible: j***@e******.com). Implies --anonymize.",
        ),
    ] = None,
    salt: Annotated[
        str | None,
        typer.Option(
            "--salt",
            help="The key of hash and fake, best a reference such as ${env:SALT} (default: "
            "AOETL_SAMPLE_SALT, else one kept in AOETL_HOME/sample.salt). Implies --anonymize.",
        ),
    ] = None,
    fmt: FormatOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Write a sample of ROWS rows of SOURCE's table to a file, reading the source once.

    random keeps the rows whose seeded hash is smallest (the same seed, the same rows, in
    whatever order the source returns them); head the first rows; stratified shares the rows
    among the values of --by in proportion, at least one each. --anonymize replaces emails,
    phone numbers, names, card numbers and the like (found by column name and by value, also
    inside STRUCT, LIST, MAP, JSON and BLOB values) and the --pii columns: fake and hash are
    pseudonymous (whoever holds the salt can test a guess), mask is irreversible. Nulls stay
    null.
    """
    from ..api import DataOrchestrator

    result = DataOrchestrator().sample(
        source,
        output,
        rows=rows,
        table=table,
        method=method,
        by=by,
        seed=seed,
        # Asking how to anonymise is asking to anonymise: a raw sample would be a surprise.
        anonymize=anonymize or how is not None or salt is not None,
        pii=tuple(_split(pii) or ()),
        anonymize_with=how or "fake",
        salt=salt,
        fmt=fmt,
    )
    err.print(summary(result), markup=False, highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")


def summary(result: SampleResult) -> str:
    """One line: what was written, from how much, how drawn and how anonymised."""
    seen = f" of {result.rows_seen:,}" if result.rows_seen is not None else ""
    how = result.method + (f" (seed {result.seed})" if result.seed is not None else "")
    line = f"{result.output}: {plural(result.rows, 'row')}{seen} of {result.table}, {how}"
    if result.anonymized:
        cols = ", ".join(f"{c}={h}" for c, h in result.anonymized.items())
        kind = "irreversibly masked" if result.irreversible else "anonymised"
        line += f"; {kind}: {cols}"
    elif result.rows:
        line += "; not anonymised"
    return line
