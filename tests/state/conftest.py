"""The state store on both backends: ``store`` is a fresh SQLite file or a fresh schema of the
real PostgreSQL server (the ``postgres`` session fixture), so every test starts empty."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_orchestrated_etl.state import StateStore
from tests.servers import Postgres


@pytest.fixture(scope="module")
def state_pg(postgres: Postgres) -> Postgres:
    """A database of its own on the shared server: other files' tables never meet these."""
    return postgres.database("state_tests")


@pytest.fixture
def pg_url(state_pg: Postgres) -> Iterator[str]:
    """A PostgreSQL state URL whose schema is this test's alone (dropped afterwards)."""
    import psycopg

    schema = "t_" + os.urandom(6).hex()
    yield f"{state_pg.url()}?schema={schema}"
    with psycopg.connect(state_pg.url(), autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a fresh, not yet opened store: "" (SQLite in the test's home), or a
    PostgreSQL schema of the test's own (with its password)."""
    monkeypatch.delenv("AOETL_STATE_URL", raising=False)
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(state_url: str, tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / ".aoetl", url=state_url)
