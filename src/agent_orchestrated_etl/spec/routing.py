"""Routing rules in a spec: where a whole workflow goes (``route:``) and which target table
each row of a table goes to (``routes:``). First match wins in both.

The decisions themselves are made by :mod:`agents.routing`; these models only say what a
rule may hold and refuse a malformed one with a line that says how to fix it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import duckdb
from pydantic import AliasChoices, Field, WithJsonSchema, field_validator, model_validator

from ..errors import one_line
from ._model import Model

if TYPE_CHECKING:  # models.py imports this module, then completes WorkflowRoute with it
    from .models import TargetSpec

Unroutable = Literal["fail", "dlq"]

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*", re.IGNORECASE)
_POWER = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def size_bytes(value: str | float) -> int:
    """Bytes in ``value``: a number, or text such as ``500MB``, ``1.5 GB`` or ``2GiB``
    (kB, MB, GB are powers of 1000 as :func:`_text.byte_size` prints them; KiB, MiB, GiB
    powers of 1024)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; write bytes or e.g. 500MB, 1GB")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a size cannot be negative ({value})")
        return int(value)
    found = _SIZE.fullmatch(value)
    if found is None:
        raise ValueError(f"{value!r} is not a size; write bytes or e.g. 500MB, 1.5GB, 2GiB")
    unit = (found.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    return int(float(found.group(1)) * base ** _POWER[unit[:1] if unit[:1] != "b" else ""])


def predicate_sql(when: str) -> str:
    """``when`` parsed as one DuckDB expression and printed back by DuckDB: balanced and
    without comments, so wrapped in the router's SQL it means what it says and nothing more
    (text that closes the wrapping, or a second statement, never reaches a connection)."""
    try:
        parsed = duckdb.SQLExpression(when)
    except duckdb.Error as exc:
        raise ValueError(
            f"when {when!r} is not one SQL condition ({one_line(str(exc))}); write a "
            "condition over the row's columns, such as country = 'DE' or amount > 100"
        ) from None
    text = str(parsed)
    if text == "*":
        raise ValueError(
            f"when {when!r} is not one SQL condition; write a condition over the row's "
            "columns, such as country = 'DE' or amount > 100"
        )
    return text


# Bytes, given as a number or as text ('500MB'): the schema says both are fine.
Size = Annotated[
    int | None,
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"},
                              {"type": "null"}]}),
]  # fmt: skip


def _listed(value: Any) -> Any:
    """``parquet`` stands for ``[parquet]``."""
    return (value,) if isinstance(value, str) else value


class RouteWhen(Model):
    """Conditions on what discovery found in the source; every one given must hold."""

    format: tuple[str, ...] = Field(
        (),
        description="The source's format, or one of these (csv, parquet, json, ndjson, table, "
        "rest…): every table the source holds has it.",
    )
    min_size: Size = Field(
        None, description="At least this many bytes in all (a number, or 500MB, 1GB, 2GiB)."
    )
    max_size: Size = Field(None, description="At most this many bytes in all.")
    min_rows: int | None = Field(
        None, ge=0, description="At least this many rows by discovery's estimate."
    )
    max_rows: int | None = Field(
        None, ge=0, description="At most this many rows by discovery's estimate."
    )
    tags: tuple[str, ...] = Field(
        (), description="The pipeline's 'tags' include every one of these."
    )
    environment: tuple[str, ...] = Field(
        (), description="AOETL_ENV is this, or one of these (dev, prod…)."
    )

    @field_validator("format", "tags", "environment", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("min_size", "max_size", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> Any:
        return None if value is None else size_bytes(value)

    @model_validator(mode="after")
    def _something(self) -> RouteWhen:
        if not any(getattr(self, name) not in (None, ()) for name in type(self).model_fields):
            raise ValueError(
                "'when' needs a condition: format, min_size, max_size, min_rows, max_rows, "
                "tags or environment (use 'else' for the route taken otherwise)"
            )
        return self


class WorkflowRoute(Model):
    """One rule of ``route:``: ``{when: …, target: …}``, or the last, ``{else: target}``."""

    when: RouteWhen | None = Field(None, description="What the source must be for this rule.")
    target: TargetSpec | None = Field(None, description="Where the workflow then goes.")
    otherwise: TargetSpec | None = Field(
        None,
        validation_alias=AliasChoices("else", "otherwise"),
        description="'else': the target when no rule matched (the last rule).",
    )

    @model_validator(mode="before")
    @classmethod
    def _uri_shorthand(cls, data: Any) -> Any:
        # `target: duckdb:///w.duckdb` and `else: duckdb:///w.duckdb` stand for {uri: …}.
        if isinstance(data, dict):
            data = {
                k: {"uri": v} if isinstance(v, str) and k != "when" else v for k, v in data.items()
            }
        return data

    @model_validator(mode="after")
    def _one_form(self) -> WorkflowRoute:
        if self.otherwise is not None and (self.when is not None or self.target is not None):
            raise ValueError("a route is either {when: …, target: …} or {else: target}, not both")
        if self.otherwise is None and (self.when is None or self.target is None):
            raise ValueError("a route needs 'when' and 'target' (or is {else: target})")
        return self


class RowRoute(Model):
    """One rule of ``routes.<table>``: ``{when: SQL, to: table}``, ``{else: table}``, or
    ``{unroutable: fail|dlq}`` for rows no rule takes when there is no ``else``."""

    when: str | None = Field(
        None, min_length=1, description="A SQL predicate over the transformed row."
    )
    to: str | None = Field(None, min_length=1, description="The target table for those rows.")
    otherwise: str | None = Field(
        None,
        min_length=1,
        validation_alias=AliasChoices("else", "otherwise"),
        description="'else': the table for rows no earlier rule took.",
    )
    unroutable: Unroutable | None = Field(
        None,
        description="Without 'else': fail the run (default) or send rows no rule took to the "
        "dead-letter queue.",
    )

    @field_validator("when")
    @classmethod
    def _one_condition(cls, value: str | None) -> str | None:
        if value is not None:
            predicate_sql(value)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> RowRoute:
        forms = [
            self.when is not None or self.to is not None,
            self.otherwise is not None,
            self.unroutable is not None,
        ]
        if sum(forms) != 1:
            raise ValueError(
                "a row route is one of {when: SQL, to: table}, {else: table} or "
                "{unroutable: fail|dlq}"
            )
        if forms[0] and (self.when is None or self.to is None):
            raise ValueError("a row route needs both 'when' (SQL) and 'to' (a table)")
        return self


def check_row_routes(table: str, rules: tuple[RowRoute, ...]) -> None:
    """The order of one table's rules: rules first, then at most one of else/unroutable."""
    where = f"routes.{table}"
    ordinary = [r for r in rules if r.when is not None]
    if not ordinary:
        raise ValueError(f"{where}: give at least one {{when: SQL, to: table}} rule")
    if len(rules) - len(ordinary) > 1 or any(r.when is None for r in rules[: len(ordinary)]):
        raise ValueError(
            f"{where}: 'else' or 'unroutable' comes once, as the last rule (not both: "
            "with 'else' every row has a route)"
        )
    names = [n for r in rules if (n := r.to or r.otherwise)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"{where}: table {twice[0]!r} is named by two rules; merge their conditions with OR"
        )
