"""Shared fixtures: a private AOETL_HOME and working directory per test. Helpers that tests
import are in :mod:`tests.helpers`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from agent_orchestrated_etl import DataOrchestrator

if TYPE_CHECKING:  # imported as a plugin below: importing it here would skip its rewriting
    from tests.servers import Postgres

pytest_plugins = ["tests.servers"]

# Property tests: the suite runs a fixed set of cases, so a run fails the same way on every
# machine; HYPOTHESIS_PROFILE=explore searches fresh cases (run it before a change lands, and
# turn what it finds into an @example).
_PROPERTY = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
settings.register_profile("suite", max_examples=50, derandomize=True, **_PROPERTY)
settings.register_profile("explore", max_examples=1000, **_PROPERTY)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory with AOETL_HOME inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOETL_HOME", str(tmp_path / ".aoetl"))
    yield tmp_path


@pytest.fixture
def orch(work: Path) -> DataOrchestrator:
    return DataOrchestrator(home=work / ".aoetl")


# AOETL_TEST_STATE=postgresql runs a session with the state store in PostgreSQL: every test
# gets AOETL_STATE_URL, a fresh schema of its own on the real test server, which its
# DataOrchestrator, StateStore(home) and aoetl subprocesses (they inherit the environment) use
# instead of AOETL_HOME/state.db. `make test` runs the state-heavy suites a second time so.
STATE_ON_POSTGRES = os.environ.get("AOETL_TEST_STATE", "") == "postgresql"


@pytest.fixture(scope="session")
def state_suites_pg(postgres: Postgres) -> Postgres:
    """A database of its own, so these schemas never meet a test's own PostgreSQL tables."""
    return postgres.database("state_suites")


@pytest.fixture(autouse=True)
def state_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The state URL of this test: "" (SQLite in AOETL_HOME) unless AOETL_TEST_STATE selects
    PostgreSQL. A test that sets or unsets AOETL_STATE_URL itself overrides this."""
    if not STATE_ON_POSTGRES:
        yield ""
        return
    import psycopg

    pg: Postgres = request.getfixturevalue("state_suites_pg")
    schema = "t_" + os.urandom(6).hex()
    url = f"{pg.url()}?schema={schema}"
    monkeypatch.setenv("AOETL_STATE_URL", url)
    yield url
    # Each worker has a server of its own and runs one test at a time, so every state
    # connection still open is this test's: the store keeps one per thread and URL for the
    # life of the process, and a session of fresh schemas would run out of connections.
    with psycopg.connect(pg.url(), autocommit=True) as con:
        con.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
            " AND application_name = 'aoetl state' AND pid <> pg_backend_pid()",
            (pg.db,),
        )
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
