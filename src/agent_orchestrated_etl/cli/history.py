"""``aoetl runs``, ``secrets`` and ``dlq``: run history, secret checks and dead letters."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._text import plural, points
from ..errors import AoetlError, UserError
from ._app import app, err, out

if TYPE_CHECKING:
    from ..api import DataOrchestrator
    from ..quality import CheckResult, QualityReport


@app.command()
def runs(
    run_id: Annotated[
        str | None, typer.Argument(help="A run id or prefix: show it, or with --clean clean it.")
    ] = None,
    shown_id: Annotated[
        str | None, typer.Argument(hidden=True, help="'aoetl runs show ID' shows run ID.")
    ] = None,
    pipeline: Annotated[str | None, typer.Option(help="Only runs of this pipeline.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to list.")] = 20,
    show: Annotated[
        str | None,
        typer.Option(help="Show one run (id or prefix): its spec, staging and quarantined rows."),
    ] = None,
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Drop the staging that unfinished runs keep for a resume (all, or RUN_ID's).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List recent runs: id, pipeline, status, rows, duration."""
    if shown_id is not None:
        if run_id != "show":
            raise UserError(
                f"unexpected argument {shown_id!r}: show a run with 'aoetl runs show ID' "
                "or 'aoetl runs ID'"
            )
        run_id = shown_id
    orch = _orchestrator()
    if clean:
        _clean(orch, show or run_id, as_json)
        return
    if show or run_id:
        _show(orch, show or run_id or "", as_json)
        return
    records = orch.runs(pipeline=pipeline, limit=limit)
    if as_json:
        out.print_json(json.dumps([r.__dict__ for r in records]))
        return
    grid = Table(header_style="bold")
    for col in ("run id", "pipeline", "status", "rows", "rejected", "duration"):
        grid.add_column(col)
    for r in records:
        grid.add_row(
            r.run_id,
            r.pipeline,
            r.status,
            f"{r.rows_loaded:,}",
            f"{r.rows_rejected:,}",
            f"{r.duration_s:.2f}s" if r.duration_s is not None else "-",
        )
    out.print(grid)


# Quarantined entries listed by `runs --show` (a quarantine check can put thousands in the
# DLQ; its checks and scores follow them). --json and `aoetl dlq list` give every one.
_SHOWN_ENTRIES = 20


def _show(orch: DataOrchestrator, prefix: str, as_json: bool) -> None:
    import yaml

    details = orch.run_details(prefix)
    if as_json:
        out.print_json(json.dumps(details.to_dict()))
        return
    record, staged, entries = details.record, details.staging, details.quarantined
    checks, reports = details.checks, details.quality
    started, finished = details.started, details.finished
    fields = [
        ("run", record.run_id),
        ("pipeline", record.pipeline),
        ("status", record.status),
        ("started", started),
        ("finished", finished or "-"),
        ("duration", f"{record.duration_s:.2f} s" if record.duration_s is not None else "-"),
        (
            "rows",
            f"{plural(record.rows_loaded, 'row')} loaded, {record.rows_rejected:,} rejected",
        ),
        ("target", staged.target or "-"),
        ("attempts", str(record.attempts)),
    ]
    if record.error:
        fields.append(("error", record.error))
    if staged.error:
        fields.append(("staging", f"cannot tell: {staged.error}"))
    elif staged.tables:
        tables = ", ".join(f"{t} ({plural(n, 'row')})" for t, n in staged.tables.items())
        if record.status == "staged":  # between the tasks of a run run one at a time
            why = f"waiting for the run's next task; 'aoetl runs --clean {record.run_id}' drops it"
        else:
            why = "kept for a resume, 'aoetl runs --clean' drops it"
        fields.append(("staging", f"{tables}; {why}"))
    for key, value in fields:
        out.print(f"{key + ':':<10}{value}", markup=False, highlight=False, soft_wrap=True)
    spec = _spec_document(record.spec_json)
    if spec is not None:
        out.print("spec:", highlight=False)
        text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=76)
        out.print(_indent(text), markup=False, highlight=False, soft_wrap=True)
    _print_checks(checks)
    _print_quality(reports)
    if entries:
        out.print(f"quarantined: {plural(len(entries), 'entry', 'entries')}", highlight=False)
    for e in entries[:_SHOWN_ENTRIES]:
        where = f"{e.file}:{e.line}" if e.file else "-"
        status = "" if e.status == "open" else f"[{e.status}]  "
        out.print(
            f"  {e.table}  {where}  {status}{e.reason}  | {e.payload_text()}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if len(entries) > _SHOWN_ENTRIES:
        out.print(
            f"  … and {len(entries) - _SHOWN_ENTRIES:,} more: "
            f"aoetl dlq list --run {record.run_id} --limit {len(entries)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


_TREND = 10  # scores shown in a table's trend, the newest last


def _print_checks(checks: list[CheckResult]) -> None:
    """The run's check results, one row each."""
    if not checks:
        return
    out.print(f"checks: {plural(len(checks), 'result')}", highlight=False)
    grid = Table(header_style="bold", box=None, padding=(0, 2, 0, 0), pad_edge=False)
    for col in ("  check", "table", "severity", "status", "failing/checked", "message"):
        grid.add_column(col, overflow="fold")
    for c in checks:
        cells = (f"  {c.name}", c.table, c.severity, c.status,
                 f"{c.failing:,}/{c.checked:,}", c.message)  # fmt: skip
        grid.add_row(*(Text(cell) for cell in cells))
    out.print(grid)


def _print_quality(reports: list[QualityReport]) -> None:
    """Each profiled table's score, its breakdown, the trend (oldest first) and what
    lowered it, then its anomalies."""
    if not reports:
        return
    out.print("quality:", highlight=False)
    for r in reports:
        s = r.score
        trend = " → ".join(points(p.total) for p in r.history[-_TREND:])
        if len(r.history) > _TREND:
            trend = "… → " + trend
        head = f"  {s.table}: {points(s.total)}/100"
        lines = [f"{head}  (trend {trend})" if len(r.history) > 1 else head]
        parts = [
            f"{name} {'-' if value is None else points(value)}"
            for name, value in s.dimensions.items()
        ]
        lines.append("    " + ", ".join(parts))
        lines += [f"    - {note}" for note in s.notes]
        if r.anomalies:
            lines.append(f"    anomalies: {len(r.anomalies)}")
            lines += [f"      {a.kind} ({a.method}): {a.message}" for a in r.anomalies]
        for line in lines:
            out.print(line, markup=False, highlight=False, soft_wrap=True)


def _clean(orch: DataOrchestrator, run_id: str | None, as_json: bool) -> None:
    results = orch.clean_staging(run_id)
    removed = [r for r in results if r.tables]
    failed = [r for r in results if r.error]
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in removed + failed]))
    else:
        for r in removed:
            tables = ", ".join(f"{t} ({plural(n, 'row')})" for t, n in r.tables.items())
            out.print(
                f"removed the staging of run {r.run_id} from {r.target}: {tables}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if not removed:
            which = f"run {run_id}" if run_id else "no unfinished run"
            out.print(f"nothing to clean: {which} has staging left", highlight=False)
        for r in failed:
            err.print(
                f"error: run {r.run_id}: {r.error}", markup=False, highlight=False, soft_wrap=True
            )
    if failed:
        raise typer.Exit(1)


def _spec_document(spec_json: str | None) -> dict[str, Any] | None:
    """The spec as the user would write it: only the fields that differ from the defaults."""
    if not spec_json:
        return None
    from ..spec import validate_spec

    data: dict[str, Any] = json.loads(spec_json)
    try:
        return validate_spec(data).model_dump(mode="json", exclude_defaults=True)
    except AoetlError:
        return data  # written by another version: show it as it was stored


def _indent(text: str) -> str:
    return "".join("  " + line for line in text.splitlines(keepends=True)).rstrip("\n")


secrets_app = typer.Typer(
    help="Check the ${…} secret references of a pipeline.", no_args_is_help=True
)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("check")
def secrets_check(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline file to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Resolve every reference in PIPELINE and say ok or failed for each; never a value.

    The exit code is 1 if any reference fails.
    """
    report = _orchestrator().check_secrets(pipeline)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        if not report:
            out.print(f"{pipeline}: no secret references")
        for row in report:
            status = "ok" if row["ok"] else "failed"
            line = f"{status:<7}{row['reference']}"
            if not row["ok"]:
                line += f"  {row['detail']}"
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if all(r["ok"] for r in report) else 1)


dlq_app = typer.Typer(
    help="The dead-letter queue: quarantined rows and failed tasks, and their replay.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")


class DlqStatus(StrEnum):
    """The states of a dead-letter entry."""

    open = "open"
    replayed = "replayed"


@dlq_app.command("list")
def dlq_list(
    run_id: Annotated[
        str | None, typer.Option("--run", help="Only this run (id or prefix).")
    ] = None,
    status: Annotated[
        DlqStatus | None, typer.Option(help="open or replayed (default: all).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many entries.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List dead-letter entries: id, run, kind, table, where, reason, status."""
    entries = _orchestrator().dlq(run_id, status=status.value if status else None, limit=limit)
    if as_json:
        out.print_json(json.dumps([e.to_dict() for e in entries]))
        return
    grid = Table(header_style="bold")
    for col in ("id", "run", "kind", "table", "where", "reason", "status"):
        grid.add_column(col, overflow="fold")
    for e in entries:
        where = f"{e.file}:{e.line}" if e.file else "-"
        grid.add_row(str(e.id), e.run_id or "", e.kind, e.table, where, e.reason, e.status)
    out.print(grid)


@dlq_app.command("show")
def dlq_show(entry_id: Annotated[int, typer.Argument(help="The entry id.")]) -> None:
    """Show one entry with its full payload."""
    from ..errors import UserError

    entries = _orchestrator().dlq(ids=[entry_id])
    if not entries:
        raise UserError(f"no dead-letter entry {entry_id}; list them with 'aoetl dlq list'")
    out.print_json(json.dumps(entries[0].to_dict()))


@dlq_app.command("replay")
def dlq_replay(
    entry_id: Annotated[int | None, typer.Argument(help="The entry to replay.")] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Replay every open entry of this run.")
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(help="A fixed pipeline file whose columns, CSV options and target to use."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Reprocess entries once their cause is fixed. Replayed rows are never loaded twice."""
    result = _orchestrator().replay(entry_id, run_id=run_id, pipeline=pipeline)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        replayed = plural(len(result.replayed), "entry", "entries")
        out.print(f"replayed {replayed}; {len(result.still_bad):,} still bad", highlight=False)
        for i, reason in result.still_bad.items():
            out.print(f"  {i}: {reason}", markup=False, highlight=False)
    raise typer.Exit(1 if result.still_bad else 0)


def _orchestrator() -> DataOrchestrator:
    """The Python API these commands call, with the settings of this process."""
    from ..api import DataOrchestrator

    return DataOrchestrator()
