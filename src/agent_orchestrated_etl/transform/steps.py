"""Transform steps: each turns one Relation into the next.

SQL and declarative steps compile to DuckDB SQL over ``input`` and stay fused with the source
scan, so they cost no Python work. A ``python:`` step streams: the SQL so far runs in DuckDB,
its batches pass through the user's function one at a time, and the result is bound as an
Arrow stream that later steps and the destination read from.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..connectors import Relation
from ..connectors._duck import quote_ident, unique_name
from ..errors import FatalError, UserError
from ..spec.models import (
    CastStep,
    DedupeStep,
    DeriveStep,
    DropStep,
    FilterStep,
    PythonStep,
    RenameStep,
    SqlStep,
)

Step = (
    SqlStep | RenameStep | CastStep | FilterStep | DeriveStep | DropStep | DedupeStep | PythonStep
)
BatchFunction = Callable[[pa.Table | pa.RecordBatch], pa.Table | pa.RecordBatch]


def step_sql(step: Step) -> str | None:
    """The SELECT over ``input`` that a declarative or SQL step stands for (None for python)."""
    if isinstance(step, SqlStep):
        return step.sql
    if isinstance(step, RenameStep):
        pairs = ", ".join(f"{quote_ident(a)} AS {quote_ident(b)}" for a, b in step.rename.items())
        return f"SELECT * RENAME ({pairs}) FROM input"
    if isinstance(step, CastStep):
        casts = ", ".join(
            f"CAST({quote_ident(c)} AS {t}) AS {quote_ident(c)}" for c, t in step.cast.items()
        )
        return f"SELECT * REPLACE ({casts}) FROM input"
    if isinstance(step, FilterStep):
        return f"SELECT * FROM input WHERE ({step.filter})"
    if isinstance(step, DeriveStep):
        exprs = ", ".join(f"({e}) AS {quote_ident(n)}" for n, e in step.derive.items())
        return f"SELECT *, {exprs} FROM input"
    if isinstance(step, DropStep):
        return f"SELECT * EXCLUDE ({', '.join(quote_ident(c) for c in step.drop)}) FROM input"
    if isinstance(step, DedupeStep):
        if not step.dedupe:
            return "SELECT DISTINCT * FROM input"
        keys = ", ".join(quote_ident(k) for k in step.dedupe)
        return (
            "SELECT * EXCLUDE (__aoetl_row) FROM "
            "(SELECT *, row_number() OVER () AS __aoetl_row FROM input) "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY __aoetl_row DESC) = 1"
        )
    return None


def describe_step(step: Step) -> str:
    """One line for plans and --list-tasks."""
    kind = next(iter(type(step).model_fields))
    value = getattr(step, kind)
    return f"{kind}: {value}"


def apply_steps(relation: Relation, steps: tuple[Any, ...], *, base_dir: Path) -> Relation:
    """Apply ``steps`` in order, fusing SQL steps and streaming through python steps."""
    for step in steps:
        sql = step_sql(step)
        if sql is not None:
            relation = Relation(
                f"WITH input AS ({relation.sql}) SELECT * FROM ({sql})",
                relation.bindings,
                relation.rejects,
                relation.extra_bad_rows,
            )
        else:
            relation = _python(relation, step, base_dir)
    return relation


def load_function(target: str, base_dir: Path) -> BatchFunction:
    """Import 'module:function', looking in ``base_dir`` and the working directory too."""
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise UserError(f"python step {target!r} must look like 'module:function'")
    for folder in (str(base_dir), str(Path.cwd())):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"python step {target!r}: cannot import {module_name}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise UserError(f"python step {target!r}: {module_name} has no function {func_name}")
    return func  # type: ignore[no-any-return]


def _python(relation: Relation, step: PythonStep, base_dir: Path) -> Relation:
    func = load_function(step.python, base_dir)
    source = relation.to_reader()
    batches = iter(source)
    first = next(batches, None)
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
    reader = pa.RecordBatchReader.from_batches(schema, stream())
    # The earlier bindings were consumed by the private connection behind ``source``.
    return Relation(
        f"SELECT * FROM {name}", {name: reader}, relation.rejects, relation.extra_bad_rows
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
