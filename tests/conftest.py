"""Shared fixtures: a private AOETL_HOME and working directory per test, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator

pytest_plugins = ["tests.servers"]

FIXTURES = Path(__file__).parent / "fixtures"
AOETL = str(Path(sys.executable).with_name("aoetl"))


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory with AOETL_HOME inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOETL_HOME", str(tmp_path / ".aoetl"))
    yield tmp_path


@pytest.fixture
def orch(work: Path) -> DataOrchestrator:
    return DataOrchestrator(home=work / ".aoetl")


def query(db: Path | str, sql: str) -> list[tuple[object, ...]]:
    """Run a read-only query against a DuckDB file."""
    con = duckdb.connect(str(db), read_only=str(db) != ":memory:")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``aoetl`` console script as a new user would."""
    full_env = {**os.environ, "AOETL_HOME": str(cwd / ".aoetl"), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [AOETL, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )
