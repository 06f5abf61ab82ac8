"""Choosing tables from what a reader found: names, schema.names and globs."""

from __future__ import annotations

import pytest

from agent_orchestrated_etl.connectors.sql._catalog import Found, choose
from agent_orchestrated_etl.errors import SourceNotFoundError, UserError
from agent_orchestrated_etl.spec import SqlSourceSpec

FOUND = [
    Found("public", "orders", "table"),
    Found("sales", "orders", "table"),
    Found("sales", "customers", "table"),
    Found("sales", "stg_*", "table"),  # a name with a glob character in it
    Found("sales", "stg_orders", "table"),
    Found("staging", "stg_events", "view"),
]


def names(*tables: str) -> list[tuple[str, str]]:
    spec = SqlSourceSpec(uri="postgresql://db/shop", tables=tables or None)
    return [(f"{f.schema}.{f.table}", name) for f, name in choose(FOUND, spec, "db")]


def test_every_table_by_default_with_clashing_names_kept_apart() -> None:
    assert names() == [
        ("public.orders", "public_orders"),
        ("sales.orders", "sales_orders"),
        ("sales.customers", "customers"),
        ("sales.stg_*", "stg_*"),
        ("sales.stg_orders", "stg_orders"),
        ("staging.stg_events", "stg_events"),
    ]


def test_names_and_schema_names() -> None:
    assert names("customers", "public.orders") == [
        ("public.orders", "orders"),
        ("sales.customers", "customers"),
    ]


def test_globs_match_schema_names_or_bare_names() -> None:
    assert [q for q, _ in names("sales.*")] == [
        "sales.orders",
        "sales.customers",
        "sales.stg_*",
        "sales.stg_orders",
    ]
    assert [q for q, _ in names("*.orders")] == ["public.orders", "sales.orders"]
    assert [q for q, _ in names("stg_e?ents")] == ["staging.stg_events"]


def test_a_name_that_exists_as_written_is_not_a_glob() -> None:
    assert [q for q, _ in names("sales.stg_*")] == ["sales.stg_*"]
    assert [q for q, _ in names("sales.stg_?rders")] == ["sales.stg_orders"]


def test_a_glob_that_matches_nothing_lists_the_tables() -> None:
    with pytest.raises(SourceNotFoundError, match=r"db has no table nope\.\*; tables: public"):
        names("nope.*", "orders")


def test_one_target_name_for_many_tables_is_refused() -> None:
    spec = SqlSourceSpec(uri="postgresql://db/shop", tables=("sales.*",), table="one")
    with pytest.raises(UserError, match="--table names one target table, but 4 tables"):
        choose(FOUND, spec, "db")
