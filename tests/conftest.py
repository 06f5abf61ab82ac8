"""Shared fixtures: a private AOETL_HOME and working directory per test. Helpers that tests
import are in :mod:`tests.helpers`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from agent_orchestrated_etl import DataOrchestrator

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
