"""``aoetl plan``, ``sources`` and ``schema``: what a source holds and what aoetl can read."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._app import (
    BaseUrlOption,
    FormatOption,
    PartitionsOption,
    QueryOption,
    ReaderOption,
    SampleRowsOption,
    TablesOption,
    _split,
    app,
    err,
    out,
)


@app.command()
def plan(
    source: Annotated[
        str,
        typer.Argument(
            help="A file, folder, glob or database URL; or a REST API: a collection endpoint's "
            "URL, or an OpenAPI/Swagger document (a URL, or a .json/.yaml file)."
        ),
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="The target to write into the file.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the pipeline file here.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Pipeline name.")] = None,
    table: Annotated[
        str | None, typer.Option(help="The target table for --query or a single source table.")
    ] = None,
    fmt: FormatOption = None,
    tables: TablesOption = None,
    query: QueryOption = None,
    partitions: PartitionsOption = None,
    reader: ReaderOption = None,
    base_url: BaseUrlOption = None,
    sample_rows: SampleRowsOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the pipeline, the reasons, everything discovered (columns, types, "
            "keys, row estimates) and, for files and S3, the analysis report as one JSON "
            "object.",
        ),
    ] = False,
) -> None:
    """Discover SOURCE and write a pipeline file with what discovery proposes.

    It lists what it found: each table with its kind, estimated rows, columns, primary key
    and foreign keys. For database tables it proposes an incremental cursor (an update
    timestamp or an integer primary key) and merge on the primary key. Every proposal is
    explained; edit the file, then 'aoetl run FILE'.

    Files, folders and S3 prefixes are analysed (as 'aoetl analyze' does) and planned per
    table: merge on the key found in the data, else append (reading each file once); tables
    load after the tables their foreign keys refer to; checks drawn from the analysis are
    written commented out; comments in the file say what was inferred and why.

    A REST API: a URL whose JSON (or YAML) body has an 'openapi' or 'swagger' key, or a local
    file that does, is an OpenAPI document, and every collection endpoint in it is planned
    (path, records, primary key, paginator, parent, auth from ${env:NAME}); --tables picks
    endpoints by name. Any other URL is one collection endpoint, probed from its first page.
    """
    import yaml

    from ..api import DataOrchestrator, build_spec
    from ..errors import UserError

    rest = DataOrchestrator.is_rest(source)
    if base_url is not None and not rest:
        raise UserError("--base-url is for a REST API's URL or OpenAPI document")
    spec = build_spec(
        source,
        target=to,
        name=name,
        table=table,
        fmt=fmt,
        tables=None if rest else _split(tables),
        query=query,
        partitions=partitions,
        reader=reader,
    )
    # The file holds what was asked here, not AOETL_* (those apply when the file runs).
    if rest:  # its endpoints are picked by name, as tables are
        proposal = DataOrchestrator().propose(spec, tables=_split(tables), base_url=base_url)
    else:
        proposal = DataOrchestrator().propose(spec, sample_rows=sample_rows)
    pipeline = proposal.document
    if output is not None:
        # A pipeline file reads its paths relative to its own folder, as 'aoetl run' loads it.
        pipeline = _relative_to(pipeline, output.parent)
    if proposal.comments or proposal.checks:
        text = proposal.to_yaml(pipeline)
    else:
        text = yaml.safe_dump(pipeline, sort_keys=False, allow_unicode=True)
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"cannot write the pipeline file {output}: {exc.strerror or exc}; "
                f"choose another --output"
            ) from None
    if as_json:
        document = {
            "pipeline": pipeline,
            "proposals": proposal.reasons,
            "discovered": proposal.discovered,
            "written_to": str(output) if output is not None else None,
        }
        if proposal.report is not None:
            document["report"] = proposal.report.to_dict()
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        return
    err.print(_discovery_table(proposal.discovered))
    for reason in proposal.reasons:
        err.print(f"proposed: {reason}", markup=False, highlight=False)
    if output is None:
        sys.stdout.write(text)
        return
    err.print(f"wrote {output}; run it with: aoetl run {output}", markup=False, highlight=False)


def _relative_to(document: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``document`` with its local source and target paths made relative to ``folder``."""
    document = dict(document)
    for part in ("source", "target"):
        value = document.get(part)
        if isinstance(value, str):
            document[part] = _rebase(value, folder)
        elif isinstance(value, dict) and isinstance(value.get("uri"), str):
            document[part] = {**value, "uri": _rebase(value["uri"], folder)}
    return document


def _rebase(uri: str, folder: Path) -> str:
    """A relative local path (given from the working directory) as seen from ``folder``."""
    from ..spec import parse_uri
    from ..spec.uri import LOCAL_SCHEMES

    parsed = parse_uri(uri)
    path = parsed.path
    if (
        parsed.scheme.split("+")[0] not in LOCAL_SCHEMES
        or not path
        or "${" in uri  # a reference: where it points is known only when it is resolved
        or path.startswith("~")
        or os.path.isabs(path)
    ):
        return uri
    absolute = os.path.normpath(os.path.join(os.getcwd(), path))
    if parsed.scheme == "file" and parsed.raw != path:
        return "file://" + absolute  # file:// has no relative form
    try:
        rebased = os.path.relpath(absolute, os.path.abspath(folder))
    except ValueError:  # another drive: only an absolute path reaches it
        rebased = absolute
    return parsed.raw[: len(parsed.raw) - len(path)] + rebased


def _discovery_table(found: list[dict[str, Any]]) -> Table:
    grid = Table(title="discovered", header_style="bold", title_justify="left")
    for col, justify in (
        ("table", "left"),
        ("from", "left"),
        ("kind", "left"),
        ("rows ≈", "right"),
        ("columns", "right"),
        ("primary key", "left"),
        ("foreign keys", "left"),
    ):
        grid.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in found:
        origin = r["from"][0] + (f" (+{len(r['from']) - 1} more)" if len(r["from"]) > 1 else "")
        estimate = r["row_estimate"]
        grid.add_row(
            r["table"],
            origin,
            r["kind"],
            f"{estimate:,}" if estimate is not None else "",
            str(len(r["columns"])) if r["columns"] else "",
            r["primary_key"] or "",
            "; ".join(r["foreign_keys"]),
        )
    return grid


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List connectors, the schemes and formats they take, and what they can do."""
    from ..api import DataOrchestrator

    connectors = DataOrchestrator.connectors()
    if as_json:
        out.print_json(json.dumps([c.__dict__ for c in connectors]))
        return
    grid = Table(header_style="bold")
    for col in ("connector", "kind", "schemes", "formats", "capabilities"):
        grid.add_column(col)
    for c in connectors:
        grid.add_row(
            c.name, c.kind, ", ".join(c.schemes), ", ".join(c.formats), ", ".join(c.capabilities)
        )
    out.print(grid)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a pipeline file."""
    from ..api import DataOrchestrator

    sys.stdout.write(json.dumps(DataOrchestrator.schema(), indent=2) + "\n")
