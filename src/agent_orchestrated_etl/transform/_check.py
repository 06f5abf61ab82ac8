"""Check transform steps before any data moves, so a mistake in one names that step.

Each SQL or declarative step is bound (``DESCRIBE``, which plans but reads no rows) over the
steps before it, in a private connection where every Arrow binding is an empty table of the
same schema. An unknown function, column or type, or a syntax error, is then the user's error
(exit 2) with the step's number and kind, on every target alike; without this check it would
surface from the load as the engine's text, naming only the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..connectors import Relation
from ..data.duck import connect
from ..errors import UserError
from ..spec.models import SqlStep

if TYPE_CHECKING:
    from .steps import Step

# What binding a query raises for a mistake in its text; anything else (a file that cannot be
# read, a server that is down) is the source's problem, reported by the load as before.
STEP_ERRORS = (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException)
_HINTS = ("Did you mean", "Candidate bindings")


class StepChecker:
    """Binds steps one by one over a relation's schema; closed after the last step."""

    def __init__(self, relation: Relation, *, home: Path | None = None) -> None:
        self._con = connect(home=home)
        self._registered: set[str] = set()
        self.usable = True
        try:
            for statement in relation.prelude:
                self._con.execute(statement)
            self._register(relation)
            self._con.execute(f"DESCRIBE {relation.sql}")
        except duckdb.Error:
            self.usable = False  # the source itself does not bind: the load will say why

    def check(self, relation: Relation, number: int, step: Step) -> None:
        """Raise UserError naming step ``number`` if ``relation`` (its output) does not bind."""
        if not self.usable:
            return
        self._register(relation)
        try:
            self._con.execute(f"DESCRIBE {relation.sql}")
        except STEP_ERRORS as exc:
            raise UserError(
                f"transform step {number} ({_label(step)}): {engine_message(exc)}; "
                "fix the step in the pipeline file"
            ) from None
        except duckdb.Error:
            self.usable = False

    def close(self) -> None:
        self._con.close()

    def _register(self, relation: Relation) -> None:
        for name, reader in relation.bindings.items():
            if name not in self._registered:
                empty: Any = reader.schema.empty_table()
                self._con.register(name, empty)
                self._registered.add(name)


def engine_message(exc: BaseException) -> str:
    """DuckDB's message on one line: its first line and any hint, never the SQL it quotes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [lines[0]] if lines else ["unknown error"]
    kept += [line for line in lines[1:] if line.startswith(_HINTS)]
    text = " ".join(kept)
    return text if len(text) <= 300 else text[:299] + "…"


def _label(step: Step) -> str:
    from .steps import describe_step

    if isinstance(step, SqlStep):  # its number names it; its SQL would read as an engine dump
        return "sql"
    text = " ".join(describe_step(step).split())
    return text if len(text) <= 60 else text[:59] + "…"
