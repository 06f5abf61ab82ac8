"""The ``python:`` step: stream Arrow batches through a user's function, one batch at a time."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from ..connectors import Relation
from ..data.duck import guarded, unique_name
from ..errors import AoetlError, FatalError, UserError
from ..spec.models import PythonStep
from ._step_modules import find_local, load_local

BatchFunction = Callable[[pa.Table | pa.RecordBatch], pa.Table | pa.RecordBatch]
# Where DataOrchestrator.create_pipeline registers a callable with no importable name (a
# lambda, a nested function): modules of this package exist only in that Python process.
LOCAL_PACKAGE = "aoetl_local"
_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")  # else only import_module can say why


def load_function(target: str, base_dir: Path) -> BatchFunction:
    """Import 'module:function': from its file when the module is in ``base_dir`` or the
    working directory (executed again once that file changes, or another folder's file of
    the same name is meant), else as an installed module."""
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise UserError(f"python step {target!r} must look like 'module:function'")
    folders = (base_dir.resolve(), Path.cwd())
    for folder in (str(base_dir), str(folders[1])):  # the step's own imports of its neighbours
        if folder not in sys.path:
            sys.path.insert(0, folder)
    local = module_name.split(".")[0] == LOCAL_PACKAGE
    if local and module_name not in sys.modules:
        raise UserError(
            f"python step {target!r} is a callable given to create_pipeline in another Python "
            "process, and only that process can run it; run the pipeline there, or give "
            "create_pipeline a function defined at module level of an importable module"
        )
    chain = None if local or not _NAME.fullmatch(module_name) else find_local(module_name, folders)
    try:
        if chain is not None:
            module = load_local(module_name, chain)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"python step {target!r}: cannot import {module_name}: {exc}") from exc
    except SyntaxError as exc:
        where = f"{Path(exc.filename or module_name).name} line {exc.lineno}"
        raise UserError(f"python step {target!r}: {where}: {exc.msg}; fix the module") from exc
    except Exception as exc:  # the module's own code failed as it was imported
        raise FatalError(
            f"python step {target!r}: importing {module_name} raised {type(exc).__name__}: {exc}"
        ) from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise UserError(f"python step {target!r}: {module_name} has no function {func_name}")
    return func  # type: ignore[no-any-return]


def python_step(
    relation: Relation,
    step: PythonStep,
    base_dir: Path,
    number: int = 1,
    *,
    home: Path | None = None,
) -> Relation:
    func = load_function(step.python, base_dir)
    try:
        source = relation.to_reader(home=home)
        batches = iter(source)
        first = next(batches, None)
    except duckdb.Error as exc:
        # The SQL before this step ran here, not in the destination: report it as the
        # destination would, on one line, typed by whose mistake it is.
        raise relation.stream_error() or _engine_error(exc, number, step) from exc
    if first is None:
        first = pa.RecordBatch.from_pylist([], schema=source.schema)
    head = _call(func, step.python, first)
    schema = head[0].schema if head else _call(func, step.python, first.slice(0, 0))[0].schema

    def stream() -> Iterator[pa.RecordBatch]:
        yield from head
        for batch in batches:
            for out in _call(func, step.python, batch):
                if out.schema != schema:
                    try:
                        out = out.cast(schema)
                    except (pa.ArrowInvalid, ValueError, NotImplementedError) as exc:
                        raise FatalError(
                            f"python step {step.python!r} returned columns {out.schema.names} "
                            f"where it first returned {schema.names}; return one schema"
                        ) from exc
                yield out

    name = unique_name("py")
    errors = relation.stream_errors  # an upstream stream's error surfaces here too
    reader = pa.RecordBatchReader.from_batches(schema, guarded(stream(), errors))
    # The earlier bindings were consumed by the private connection behind ``source``.
    return Relation(
        f"SELECT * FROM {name}",
        {name: reader},
        relation.rejects,
        relation.extra_bad_rows,
        stream_errors=errors,
        rows_read=relation.rows_read,  # the source's count still tells how far the read is
    )


def _engine_error(exc: duckdb.Error, number: int, step: PythonStep) -> AoetlError:
    from ._check import STEP_ERRORS, engine_message

    kind = UserError if isinstance(exc, (*STEP_ERRORS, duckdb.ConversionException)) else FatalError
    return kind(
        f"reading the input of transform step {number} ({step.python}): {engine_message(exc)}"
    )


def _call(func: BatchFunction, label: str, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
    try:
        out = func(batch)
    except Exception as exc:
        raise FatalError(f"python step {label!r} raised {type(exc).__name__}: {exc}") from exc
    if isinstance(out, pa.RecordBatch):
        return [out]
    if isinstance(out, pa.Table):
        return out.to_batches() or [pa.RecordBatch.from_pylist([], schema=out.schema)]
    raise FatalError(
        f"python step {label!r} returned {type(out).__name__}; "
        "return a pyarrow Table or RecordBatch"
    )
