"""``aoetl dag``: write a pipeline's plan as an Airflow 3 DAG file."""

from __future__ import annotations

import datetime
import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ._app import (
    FormatOption,
    KeyOption,
    ModeOption,
    PartitionsOption,
    QueryOption,
    ReaderOption,
    TablesOption,
    _split,
    _verbose,
    app,
    err,
    out,
)

if TYPE_CHECKING:
    from ..api import DagExport

_SHOWN = 12  # tasks listed in the summary


@app.command()
def dag(
    source: Annotated[
        str,
        typer.Argument(
            help="A pipeline file (`*.yaml`, `*.yml`, `*.json`), or a SOURCE as `aoetl run` "
            "takes it (a file, glob, folder or URI), planned with the options below."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The DAG file to write (`dags/NAME.py`); its folder is created. An existing "
            "file is replaced only if aoetl wrote it (else --force).",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Target, as `aoetl run --to` takes it (with a SOURCE)."),
    ] = None,
    table: Annotated[
        str | None, typer.Option(help="Load every file into this one table (with a SOURCE).")
    ] = None,
    mode: ModeOption = None,
    key: KeyOption = None,
    fmt: FormatOption = None,
    tables: TablesOption = None,
    query: QueryOption = None,
    partitions: PartitionsOption = None,
    reader: ReaderOption = None,
    name: Annotated[str | None, typer.Option(help="Pipeline name (the default DAG id).")] = None,
    timeout: Annotated[
        float | None,
        typer.Option(min=0.001, help="Time limit per task, in seconds (Airflow's is a bit more)."),
    ] = None,
    dag_id: Annotated[
        str | None,
        typer.Option(
            "--dag-id", help="The DAG's id (default: the pipeline's name, in Airflow's characters)."
        ),
    ] = None,
    schedule: Annotated[
        str,
        typer.Option(
            help="A cron expression ('30 2 * * *'), @hourly, @daily, @weekly, @monthly, "
            "@quarterly, @yearly, @once, @continuous, or none (runs only when triggered)."
        ),
    ] = "@daily",
    start_date: Annotated[
        str | None,
        typer.Option(
            "--start-date", help="The first day the schedule counts from, YYYY-MM-DD (2026-01-01)."
        ),
    ] = None,
    owner: Annotated[str, typer.Option(help="The DAG's owner in Airflow.")] = "aoetl",
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="A tag to add (repeat it); 'aoetl' and the name are always on."),
    ] = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference",
            help="Write the pipeline file's absolute path instead of embedding the spec: each "
            "task reads the file on the worker.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace -o even if aoetl did not write it.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print what was written (path, DAG id, tasks) as JSON."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Write a pipeline's plan as an Airflow 3 DAG file: one Airflow task per aoetl task.

    The source is discovered and planned as `aoetl run --list-tasks` does. Each table's load
    and check go in a TaskGroup, the commit after them; retries, backoff and time limits come
    from the spec. The file does no I/O when Airflow imports it; secrets stay references,
    resolved inside each task on the worker. The same inputs write the same bytes.

    Examples:

      aoetl dag pipeline.yaml -o dags/orders.py

      aoetl dag ./exports/ --to duckdb:///wh.duckdb -o dags/exports.py --schedule '0 3 * * *'

      aoetl dag pipeline.yaml -o dags/orders.py --reference --tag finance --json
    """
    if verbose:
        _verbose()
    from ..errors import UserError

    if output is None:
        raise UserError("give the DAG file to write with -o dags/NAME.py")
    from ..api import DataOrchestrator

    result = DataOrchestrator().export_dag(
        source,
        output,
        dag_id=dag_id,
        schedule=schedule,
        start_date=start_date,
        owner=owner,
        tags=tuple(tag or ()),
        reference=reference,
        force=force,
        command=_command(
            source,
            output,
            {
                "--to": to,
                "--table": table,
                "--mode": mode,
                "--key": key,
                "--format": fmt,
                "--tables": ",".join(_split(tables) or []) or None,
                "--query": query,
                "--partitions": None if partitions is None else str(partitions),
                "--reader": reader,
                "--name": name,
                "--timeout": None if timeout is None else _number(timeout),
                "--dag-id": dag_id,
                "--schedule": _schedule(schedule),
                "--start-date": _day(start_date),
                "--owner": None if owner == "aoetl" else owner,
            },
            tag or [],
            reference,
        ),
        target=to,
        table=table,
        mode=mode,
        key=key,
        fmt=fmt,
        tables=_split(tables),
        query=query,
        partitions=partitions,
        reader=reader,
        name=name,
        timeout_s=timeout,
    )
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    else:
        _summary(result)


def _command(
    source: str, output: Path, options: dict[str, str | None], tags: list[str], reference: bool
) -> str:
    """The command line written in the DAG file: the options that shape the file, in one
    order, paths normalised, so that however a user spelled the command (``./dags/x.py``,
    options in another order, ``--json``) the same inputs write the same bytes."""
    words = ["aoetl", "dag", _path(source), "-o", _path(str(output))]
    for option, value in options.items():
        if value is not None:
            words += [option, value]
    for tag in tags:
        words += ["--tag", tag]
    if reference:
        words.append("--reference")
    return shlex.join(words)


def _path(text: str) -> str:
    """A local path normalised (``./a/../b/`` is ``b``); a URI or a reference as given."""
    if not text or "://" in text or "${" in text or text.startswith("s3:"):
        return text
    return os.path.normpath(text)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _schedule(text: str) -> str | None:
    value = " ".join(text.split())
    if value in ("none", "None", "null"):
        return "none"
    return None if value == "@daily" else value


def _day(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        return text  # refused with its own message by the export


def _summary(result: DagExport) -> None:
    from .._text import plural

    groups = f" in {plural(len(result.groups), 'TaskGroup')}" if result.groups else ""
    spec = "the spec embedded" if result.embedded else "the pipeline file referenced"
    when = result.schedule or "no schedule (runs when triggered)"
    err.print(
        f"wrote {escape(str(result.path))}: DAG {escape(result.dag_id)}, "
        f"{plural(len(result.tasks), 'task')}{groups}, {escape(when)}, {spec}",
        highlight=False,
        soft_wrap=True,
    )
    for t in result.tasks[:_SHOWN]:
        after = f"  (after {', '.join(t.depends_on)})" if t.depends_on else ""
        err.print(f"  {t.airflow_id} runs {t.aoetl_id}{after}", markup=False, highlight=False)
    if len(result.tasks) > _SHOWN:
        err.print(f"  … and {len(result.tasks) - _SHOWN} more (--json lists them all)")
    err.print(
        "next: copy it into Airflow's DAGs folder (new DAGs start paused), then try it with "
        f"'airflow dags test {result.dag_id}'",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
