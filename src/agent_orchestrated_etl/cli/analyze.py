"""``aoetl analyze``: what a source holds and every guess about it, before any pipeline."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .._text import byte_size, plural
from ._app import BaseUrlOption, FormatOption, SampleRowsOption, app, err

if TYPE_CHECKING:
    from ..analysis import ResourceReport, SourceReport


@app.command()
def analyze(
    source: Annotated[
        str,
        typer.Argument(
            help="A REST API URL (a collection endpoint, or its OpenAPI document), an OpenAPI "
            "or Swagger file (JSON or YAML), or any source aoetl reads."
        ),
    ],
    base_url: BaseUrlOption = None,
    fmt: FormatOption = None,
    sample_rows: SampleRowsOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON object.")
    ] = False,
) -> None:
    """Analyse SOURCE: its collections, fields, keys, paging and auth, with evidence.

    A URL is fetched once: a JSON or YAML body with an 'openapi' or 'swagger' key is an
    OpenAPI 3.0/3.1 or Swagger 2.0 document, read with its $ref and allOf resolved; any other
    JSON is a collection endpoint, probed from its first page (records, fields, paginator,
    key, rate-limit headers). A local .json/.yaml/.yml file with such a key is a document.
    Files, folders and S3 prefixes are sampled: formats by name and content, types with a
    confidence, drift between files, partitions, quality issues, candidate and foreign keys.
    Databases report what discovery finds. Then 'aoetl plan SOURCE' writes the pipeline.
    """
    from ..api import DataOrchestrator

    report = DataOrchestrator().analyze(source, base_url=base_url, sample_rows=sample_rows, fmt=fmt)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
        return
    err.print(_table(report))
    for resource in report.resources:
        for decision in resource.decisions:
            err.print(f"{resource.name}: {decision}", markup=False, highlight=False)
    for scheme in report.auth:
        usable = "" if scheme.auth is not None else " (not supported)"
        err.print(
            f"auth {scheme.name}: {scheme.kind}{usable}; {scheme.detail}",
            markup=False,
            highlight=False,
        )
    for decision in report.decisions:
        err.print(f"source: {decision}", markup=False, highlight=False)
    if report.method == "sample":
        _profile_lines(report)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    sys.stdout.write(_summary(report) + "\n")


def _summary(report: SourceReport) -> str:
    how = {
        "openapi": "its document",
        "probe": "probing",
        "discovery": "discovery",
        "sample": f"sampling up to {report.sample_rows:,} rows a table",
    }[report.method]
    document = report.document
    what = f"{document['format']} {document['version']}" if document else report.kind
    title = f" '{document['title']}'" if document.get("title") else ""
    parts = [f"{report.source}: {what}{title}, read by {how}"]
    if report.base_url:
        parts.append(f"base URL {report.base_url}")
    noun = "collection" if report.kind == "rest" else "table"
    count = len(report.resources)
    parts.append(f"{count} {noun}{'s' if count != 1 else ''}")
    if report.auth:
        parts.append("auth " + ", ".join(s.name for s in report.auth))
    issues = report.all_issues()
    if issues:
        parts.append(f"{len(issues)} issue{'s' if len(issues) != 1 else ''}")
    if report.warnings:
        parts.append(f"{len(report.warnings)} warning{'s' if len(report.warnings) != 1 else ''}")
    plan = f"; plan it with: aoetl plan {report.source}" if report.resources else ""
    return "; ".join(parts) + plan


def _table(report: SourceReport) -> Table:
    rest = report.kind == "rest"
    grid = Table(title=f"{report.kind} source", header_style="bold", title_justify="left")
    heads = ["name", "path" if rest else "from", "fields", "primary key"]
    heads += ["records", "paginator", "parent", "auth"] if rest else ["kind", "rows ≈"]
    if report.method == "sample":
        heads += ["files", "size"]
    for head in heads:
        right = head in ("fields", "rows ≈", "files", "size")
        grid.add_column(head, justify="right" if right else "left")
    for resource in report.resources:
        row = [
            resource.name,
            resource.location,
            str(len(resource.fields)),
            ", ".join(resource.primary_key),
        ]
        row += _rest_cells(resource) if rest else _file_cells(resource)
        if report.method == "sample":
            size = resource.size_bytes
            row += [str(len(resource.files)), byte_size(size) if size is not None else ""]
        grid.add_row(*row)
    return grid


def _rest_cells(resource: ResourceReport) -> list[str]:
    endpoint = resource.endpoint
    if endpoint is None:
        return ["", "", "", ""]
    parent = ""
    if endpoint.parent is not None:
        params = ", ".join(f"{k} <- {v}" for k, v in endpoint.parent.params.items())
        parent = f"{endpoint.parent.resource} ({params})"
    paginator = endpoint.paginator.type if endpoint.paginator is not None else ""
    return [endpoint.records or "(body)", paginator, parent, " or ".join(endpoint.auth)]


def _file_cells(resource: ResourceReport) -> list[str]:
    estimate = resource.row_estimate
    return [resource.format, f"{estimate:,}" if estimate is not None else ""]


def _profile_lines(report: SourceReport) -> None:
    """What sampling found, one line a fact: keys, drift, partitions, issues."""

    def say(text: str) -> None:
        err.print(text, markup=False, highlight=False, soft_wrap=True)

    for resource in report.resources:
        rows = (
            plural(resource.sampled_rows, "row") + " sampled"
            if resource.sampled_rows
            else "no rows"
        )
        say(f"{resource.name}: {rows}")
        uncertain = [
            f"{f.name} {f.type} ({f.confidence:.1%})"
            for f in resource.fields
            if f.confidence is not None and f.confidence < 1
        ]
        if uncertain:
            say(f"  types with values that do not fit: {', '.join(uncertain)}")
        others = [", ".join(k.columns) for k in resource.candidate_keys[1:]]
        if others:
            say(f"  other candidate keys: {'; '.join(others)}")
        for ref in resource.references:
            say(f"  foreign key {ref} (coverage {ref.coverage:.1%})")
        if resource.partitions:
            say(f"  partitions: {', '.join(resource.partitions)}")
        if resource.cursors:
            say(f"  cursor candidates: {', '.join(resource.cursors)}")
        for issue in resource.issues:
            where = issue.column or (issue.file or "")
            say(f"  {issue.severity} {issue.kind}: {where}: {issue.detail}")
    for issue in report.issues:
        say(f"{issue.severity} {issue.kind}: {issue.file or ''}: {issue.detail}")
