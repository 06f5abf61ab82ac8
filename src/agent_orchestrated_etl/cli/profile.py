"""``aoetl profile``: statistics, anomalies and the quality score of a source's tables."""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table
from rich.text import Text

from .._text import plural, points
from ._app import FormatOption, app, err

if TYPE_CHECKING:
    from ..quality import ColumnProfile, QualityReport


@app.command()
def profile(
    source: Annotated[
        str,
        typer.Argument(
            help="Any source aoetl reads: a file, folder or glob, s3://…, postgresql://…, "
            "sqlite:///…, duckdb:///warehouse.duckdb (a warehouse after a load), a REST URL."
        ),
    ],
    table: Annotated[
        str | None, typer.Option("--table", help="Profile only this table (default: all).")
    ] = None,
    depth: Annotated[
        Literal["quick", "standard", "deep"],
        typer.Option(
            "--depth",
            help="quick: one scan, approximate (histograms estimated); standard: a few "
            "scans, exact histograms, outliers and keys; deep: everything exact, plus "
            "correlations and two-column keys.",
        ),
    ] = "standard",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reports as a JSON list on stdout.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as one self-contained HTML file."),
    ] = None,
    fmt: FormatOption = None,
    no_record: Annotated[
        bool,
        typer.Option(
            "--no-record",
            help="Do not store this profile (the next profile's drift and the score's trend "
            "compare with stored ones).",
        ),
    ] = False,
) -> None:
    """Profile SOURCE's tables: statistics, anomalies and a quality score 0-100.

    Computed in DuckDB: per column type, nulls, distinct values, min/max, mean, median,
    std, quantiles, histogram, top values, string lengths, a semantic type (email, phone,
    url, uuid, ip_address, date_string, numeric_string, category, free_text) and a PII flag
    (values of PII columns are never shown); per table rows, duplicate rows and candidate
    keys. Then anomalies (outliers, rare categories, and against the previous profile of the
    same table: row count, null rates, drift) and a quality score 0-100 with its breakdown.
    Each profile is stored for the next one unless --no-record.
    """
    from ..api import DataOrchestrator

    if html is not None and not html.parent.is_dir():  # say so before the profile's work
        raise typer.BadParameter(f"the folder of {html} does not exist", param_hint="--html")
    if html is not None and _reads(source, html):
        raise typer.BadParameter(
            f"{html} is a file of the source {source}; write the report to another file",
            param_hint="--html",
        )
    orch = DataOrchestrator()
    with err.status(f"profiling {source} ({depth})", spinner="dots"):
        reports = orch.profile(source, table=table, depth=depth, fmt=fmt, record=not no_record)
        if html is not None:
            page = orch.render_html(reports, title=f"Data quality: {source}")
    if html is not None:
        try:
            html.write_text(page, encoding="utf-8")
        except OSError as exc:
            err.print(
                f"error: cannot write the report to {html}: {exc.strerror or exc}; "
                "give --html a path in a folder you can write to",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in reports], indent=2) + "\n")
    for report in reports:
        _show(report)
    if html is not None:
        err.print(f"report written to {html}", markup=False, highlight=False)


def _reads(source: str, html: Path) -> bool:
    """Whether writing ``html`` would overwrite a local file ``source`` reads: the file, a
    file its glob matches, or a file (not an earlier report) in its folder."""
    from ..spec.uri import LOCAL_SCHEMES, parse_uri

    parsed = parse_uri(source)
    if parsed.scheme.split("+")[0] not in LOCAL_SCHEMES or not parsed.path:
        return False
    target = html.expanduser().resolve()
    path = Path(parsed.path).expanduser()
    if any(c in parsed.path for c in "*?["):
        return any(Path(p).resolve() == target for p in glob.glob(str(path), recursive=True))
    where = path.resolve()
    if where.is_dir():
        inside = target.is_relative_to(where) and target.is_file()
        return inside and target.suffix.lower() not in (".html", ".htm")
    return where == target


def _show(report: QualityReport) -> None:
    from ..quality.profile import MAX_CORRELATED

    p = report.profile
    dups = "?" if p.duplicate_rows is None else f"{p.duplicate_rows:,}"
    dups = dups if p.duplicates_exact or p.duplicate_rows is None else f"≈ {dups}"
    keys = ", ".join("+".join(k) for k in p.candidate_keys) or "none"
    title = (
        f"{p.table}: {plural(p.rows, 'row')}, {dups} duplicate rows, keys: {keys} "
        f"({p.depth}, {p.duration_s:.2f} s)"
    )
    if p.rejected:
        title += (
            f"; {plural(p.rejected, 'record')} could not be read and are not in this profile "
            "('aoetl run' quarantines them; 'aoetl analyze' says why)"
        )
    # Names and values are data: Text keeps '[/b]' in a column name from being read as markup.
    grid = Table(title=Text(title), header_style="bold", title_justify="left")
    for head in ("column", "type", "nulls %", "distinct", "min", "max", "mean"):
        grid.add_column(
            head, justify="right" if head in ("nulls %", "distinct", "mean") else "left"
        )
    for head in ("semantic", "PII", "issues"):
        grid.add_column(head)
    issues: dict[str, list[str]] = {}
    for anomaly in report.anomalies:
        issues.setdefault(anomaly.column or "", []).append(anomaly.kind.replace("_", " "))
    for c in p.columns:
        approx = "" if c.distinct_exact else "≈"
        grid.add_row(
            Text(c.name),
            Text(c.type),
            f"{100 * c.null_rate:.1f}",
            "" if c.distinct is None else f"{approx}{c.distinct:,}",
            Text(_cell(c.min)),
            Text(_cell(c.max)),
            _mean(c),
            c.semantic or "",
            c.pii or "",
            Text(", ".join(dict.fromkeys(issues.get(c.name, [])))),
        )
    err.print(grid)
    numeric = [c for c in p.columns if c.pii is None and c.mean is not None and c.histogram]
    numeric = [c for c in numeric if c.histogram is not None and c.histogram.kind == "numeric"]
    if p.correlations is not None and len(numeric) > MAX_CORRELATED:
        err.print(
            f"correlations cover the first {MAX_CORRELATED} of {len(numeric)} numeric columns",
            markup=False,
            highlight=False,
        )
    for anomaly in report.anomalies:
        err.print(f"anomaly: {anomaly.message}", markup=False, highlight=False)
    score = report.score
    parts = [
        f"{name} {points(value)}" if value is not None else f"{name} n/a"
        for name, value in score.dimensions.items()
    ]
    trend = ""
    if len(report.history) > 1:
        trend = " (before: " + ", ".join(points(h.total) for h in report.history[-4:-1]) + ")"
    err.print(
        f"score {points(score.total)}/100{trend}: {', '.join(parts)}", markup=False, highlight=False
    )
    for note in score.notes:
        err.print(f"  {note}", markup=False, highlight=False)


def _cell(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _number(value)
    return value if len(value) <= 24 else value[:23] + "…"


def _number(value: float) -> str:
    """1,999,999 and 2,516.23 rather than 2e+06; very large or small numbers in e-notation."""
    if value == 0 or 1e-3 <= abs(value) < 1e15:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def _mean(c: ColumnProfile) -> str:
    if c.mean is None or (c.histogram is not None and c.histogram.kind == "temporal"):
        return ""
    return _number(c.mean)
