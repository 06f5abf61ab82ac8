"""Shared fixtures: a private AOETL_HOME and working directory per test. Helpers that tests
import are in :mod:`tests.helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator

pytest_plugins = ["tests.servers"]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory with AOETL_HOME inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOETL_HOME", str(tmp_path / ".aoetl"))
    yield tmp_path


@pytest.fixture
def orch(work: Path) -> DataOrchestrator:
    return DataOrchestrator(home=work / ".aoetl")
