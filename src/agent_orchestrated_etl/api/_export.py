"""The facade's export: a pipeline's plan written as an Airflow 3 DAG file
(:meth:`ExportMethods.export_dag`). Mixed into :class:`DataOrchestrator`.

It plans the pipeline (discovering the source, as ``aoetl run --list-tasks`` does), renders
the file with ``export.render_dag`` (pure) and writes it; every check happens before the
file is touched, so a refused export leaves what was there.
"""

from __future__ import annotations

import datetime
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NotSupportedError, UserError

if TYPE_CHECKING:
    from ..spec import PipelineSpec
    from ._pipeline import Pipeline, RunPlan


class _Facade(Protocol):
    home: Path

    def prepare(self, source: str | Path | None, **options: Any) -> Any: ...

    def plan(self, source: str | Path | PipelineSpec, target: str | None = ...) -> RunPlan: ...


@dataclass(frozen=True)
class ExportedTask:
    """One task of an exported DAG: its Airflow id (``orders.load``), the aoetl task it runs
    (``load:orders``), and the Airflow ids of the tasks it waits for."""

    airflow_id: str
    aoetl_id: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class DagExport:
    """What :meth:`ExportMethods.export_dag` wrote: where, the DAG id, its tasks in the
    plan's order, its schedule (None: triggered only), its TaskGroups, and whether the
    pipeline is embedded (False: the file names the pipeline file)."""

    path: Path
    dag_id: str
    tasks: tuple[ExportedTask, ...]
    schedule: str | None
    groups: tuple[str, ...]
    embedded: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``aoetl dag --json`` prints."""
        return {
            "path": str(self.path),
            "dag_id": self.dag_id,
            "tasks": [
                {
                    "airflow_id": t.airflow_id,
                    "aoetl_id": t.aoetl_id,
                    "depends_on": list(t.depends_on),
                }
                for t in self.tasks
            ],
            "schedule": self.schedule,
            "groups": list(self.groups),
            "embedded": self.embedded,
        }


class ExportMethods:
    """``export_dag`` (see it)."""

    def export_dag(
        self: _Facade,
        pipeline: str | Path | PipelineSpec | Pipeline,
        path: str | Path,
        *,
        dag_id: str | None = None,
        schedule: str | None = "@daily",
        start_date: datetime.date | str | None = None,
        owner: str = "aoetl",
        tags: tuple[str, ...] | list[str] = (),
        reference: bool = False,
        force: bool = False,
        base_dir: str | Path | None = None,
        command: str | None = None,
        **options: Any,
    ) -> DagExport:
        """Write ``pipeline``'s plan as an Airflow 3 DAG file at ``path``: one Airflow task
        per aoetl task, each calling ``agent_orchestrated_etl.airflow.run_task``; a
        TaskGroup per table; the plan's dependencies; retries, backoff and time limits from
        the spec. The same inputs write the same bytes.

        ``pipeline`` is a pipeline file, a SOURCE (with ``options``: ``target``, ``table``,
        ``mode``… as :meth:`create_pipeline` takes them), a spec or a :class:`Pipeline`.
        ``schedule`` is a cron expression, an Airflow preset (``@daily``, the default;
        ``@hourly``…) or None / ``"none"``. ``reference`` writes the pipeline file's absolute
        path instead of embedding the spec; a :class:`Pipeline` whose plan was read is
        exported with that plan, without discovering its source again. An existing file is
        replaced only if aoetl wrote it, or with ``force``. ``command`` is written in the
        file's docstring.

        Raises:
            UserError: bad input, a literal secret in a spec to embed, ``reference``
                without a pipeline file, or an existing file aoetl did not write.
            NotSupportedError: a transform calls a function only this process can import.
        """
        from ..engine import Plan
        from ..export import (
            DEFAULT_START,
            DagOptions,
            check_export,
            check_schedule,
            dag_id_for,
            dag_tasks,
            render_dag,
        )
        from ..spec import PipelineSpec, is_spec_file
        from ._pipeline import Pipeline

        out = _output(path, force)
        file: Path | None = None
        if isinstance(pipeline, Pipeline | PipelineSpec) and any(
            v is not None for v in options.values()
        ):
            raise UserError("options that change a pipeline go with a SOURCE or a file, not a spec")
        if isinstance(pipeline, Pipeline):
            spec, where = pipeline.spec, Path(base_dir or pipeline.base_dir)
        elif isinstance(pipeline, PipelineSpec):
            spec, where = pipeline, Path(base_dir or Path.cwd())
        else:
            prepared = self.prepare(str(pipeline), **options)
            spec, where = prepared.spec, Path(base_dir or prepared.base_dir)
            if is_spec_file(str(pipeline)):
                file = Path(pipeline).resolve()
        if reference:
            _check_reference(pipeline, file, options)
        _refuse_local(spec)
        dag_options = DagOptions(
            base_dir=str(where.resolve()),
            home=str(Path(self.home).resolve()),
            dag_id=dag_id,
            schedule=schedule,
            owner=owner,
            tags=tuple(tags),
            reference=str(file) if reference and file else None,
            command=command,
            version=_version(),
            start_date=_date(start_date) if start_date is not None else DEFAULT_START,
            from_file=file is not None,
        )
        # What can be refused without the source is refused before discovering it.
        document = check_export(spec, dag_options)
        # A Pipeline keeps its plan once made (replan() after its source changed).
        planned = pipeline.plan if isinstance(pipeline, Pipeline) else self.plan(spec)
        plan = Plan.from_dict(planned.to_dict())  # masked, as --list-tasks prints it
        tasks = dag_tasks(plan)
        text = render_dag(spec, plan, dag_options, document=document, tasks=tasks)
        _write(_output(path, force), text)  # checked again: planning took a while
        ids = {t.aoetl_id: t.airflow_id for t in tasks}
        return DagExport(
            out,
            dag_id_for(spec, dag_id),
            tuple(
                ExportedTask(t.airflow_id, t.aoetl_id, tuple(ids[d] for d in t.depends_on))
                for t in tasks
            ),
            check_schedule(schedule),
            tuple(dict.fromkeys(t.group for t in tasks if t.group)),
            dag_options.reference is None,
        )


def _output(path: str | Path, force: bool) -> Path:
    """The file to write, absolute; refused if it is a folder, not ``.py``, or a file aoetl
    did not write (unless ``force``)."""
    from ..export import is_generated

    out = Path(path).expanduser()
    if str(path).strip() == "" or out.is_dir():
        raise UserError(f"-o {path!s}: give the path of the DAG file to write (dags/NAME.py)")
    if out.suffix != ".py":
        raise UserError(f"-o {out}: Airflow imports only .py files from its DAGs folder")
    if out.exists() and not force and not is_generated(_head(out)):
        raise UserError(
            f"{out} exists and is not a DAG aoetl wrote; pass --force to replace it, or "
            "choose another -o"
        )
    return out.absolute()


def _check_reference(
    pipeline: str | Path | PipelineSpec | Pipeline, file: Path | None, options: dict[str, Any]
) -> None:
    if file is None:
        raise UserError(
            "--reference writes the path of a pipeline file, and "
            f"{_shown(pipeline)} is not one; write one first with "
            "'aoetl plan SOURCE -o pipeline.yaml', or leave out --reference to embed the spec"
        )
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise UserError(
            f"--reference names {file.name} as it is, so options that change it "
            f"({', '.join(given)}) cannot apply; put them in the file, or embed the spec"
        )
    if not _names_target(file):
        # The default target is relative to the working folder, and each Airflow worker
        # starts its tasks in a folder of its own: every task would write somewhere else.
        raise UserError(
            f"{file.name} has no target:, so each Airflow worker would write "
            "./warehouse.duckdb in its own working folder; add a target to the file (e.g. "
            "target: duckdb:///warehouse.duckdb, read from the file's folder), or embed the spec"
        )


def _names_target(file: Path) -> bool:
    """Whether the pipeline file says where it loads (prepare() has read it already)."""
    import yaml

    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True  # it was just read: a file that changed since is the worker's to refuse
    return not isinstance(document, dict) or bool(document.get("target"))


def _shown(pipeline: object) -> str:
    from ..secrets import redact

    return "a spec" if not isinstance(pipeline, str | Path) else redact(str(pipeline))


def _refuse_local(spec: PipelineSpec) -> None:
    """A transform callable only this process can import never reaches a worker."""
    from ._operations import local_functions

    local = local_functions(spec.transforms)
    if local:
        what = ", ".join(f"{desc} (step {target})" for target, desc in local.items())
        raise NotSupportedError(
            f"pipeline {spec.name!r} cannot run on an Airflow worker: its transform calls "
            f"{what}, which only this Python process can import; define each at module "
            "level of an importable module (not in __main__) and pass that function, or its "
            "'module:function'"
        )


def _date(value: datetime.date | str) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--start-date {value!r} is not a date; write it as YYYY-MM-DD") from None


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agent-orchestrated-etl")
    except PackageNotFoundError:
        return ""


def _head(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(4096).decode("utf-8", "replace")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _write(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all: a DAGs folder a scheduler is parsing never sees a
    half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
