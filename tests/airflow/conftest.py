"""Real Airflow for this folder: a metadata database (SQLite) migrated once per test session,
shared by the xdist workers, and copied into a home of its own for each module. Airflow's
commands run in subprocesses (see ``tests.helpers.AirflowHome``)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import AIRFLOW, AirflowHome


def _migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's migrated ``airflow.db``: ``airflow db migrate`` takes 8-15 s of CPU, so
    the first worker runs it and the others wait for it and copy it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's, common to its workers
    template = AirflowHome(shared / "airflow-template", shared / "airflow-template-dags")
    with (shared / "airflow-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template.home / "airflow.db").exists():
            template.home.mkdir(exist_ok=True)
            template.dags.mkdir(exist_ok=True)
            started = time.perf_counter()
            done = subprocess.run(
                [AIRFLOW, "db", "migrate"], env=template.env(), capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            print(f"airflow db migrate: {time.perf_counter() - started:.1f}s")
    return template.home / "airflow.db"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    root = tmp_path_factory.mktemp("airflow")
    ready = AirflowHome(root / "home", root / "dags")
    ready.home.mkdir()
    ready.dags.mkdir()
    shutil.copy2(_migrated(tmp_path_factory), ready.home / "airflow.db")
    return ready
