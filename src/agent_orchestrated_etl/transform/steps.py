"""Transform steps: each turns one Relation into the next.

SQL and declarative steps compile to DuckDB SQL over ``input`` and stay fused with the source
scan, so they cost no Python work. A ``python:`` step streams: the SQL so far runs in DuckDB,
its batches pass through the user's function one at a time, and the result is bound as an
Arrow stream that later steps and the destination read from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..connectors import Relation
from ..data.duck import last_per_key, quote_ident
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


def step_sql(step: Step) -> str | None:
    """The SELECT over ``input`` that a declarative or SQL step stands for (None for python)."""
    if isinstance(step, SqlStep):
        return step.sql
    if isinstance(step, RenameStep):
        pairs = ", ".join(f"{quote_ident(a)} AS {quote_ident(b)}" for a, b in step.rename.items())
        # RENAME skips a column that is not there; naming each one in a predicate that is
        # always true (and folded away) makes a misspelt column an error, as drop and cast do.
        named = " AND ".join(f"({quote_ident(a)} IS NULL OR true)" for a in step.rename)
        return f"SELECT * RENAME ({pairs}) FROM input WHERE {named}"
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
        return last_per_key("SELECT * FROM input", step.dedupe)
    return None


def describe_step(step: Step) -> str:
    """One line for plans and --list-tasks."""
    kind = next(iter(type(step).model_fields))
    value = getattr(step, kind)
    return f"{kind}: {value}"


def apply_steps(
    relation: Relation, steps: tuple[Any, ...], *, base_dir: Path, home: Path | None = None
) -> Relation:
    """Apply ``steps`` in order, fusing SQL steps and streaming through python steps.

    ``home`` holds the DuckDB extensions for the connections a check or a python step opens.

    Raises:
        UserError: a step's SQL does not bind (unknown function, column or type, bad syntax);
            the message names the step.
    """
    if not any(step_sql(step) is not None for step in steps):
        checker = None
    else:
        from ._check import StepChecker

        checker = StepChecker(relation, home=home)
    try:
        for number, step in enumerate(steps, 1):
            sql = step_sql(step)
            if sql is not None:
                relation = relation.wrap(f"WITH input AS ({relation.sql}) SELECT * FROM ({sql})")
                if checker is not None:
                    checker.check(relation, number, step)
            else:
                from .python_step import python_step  # imports pyarrow, so only when needed

                relation = python_step(relation, step, base_dir, number, home=home)
    finally:
        if checker is not None:
            checker.close()
    return relation
