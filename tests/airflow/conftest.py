"""Real Airflow for this folder: one migrated metadata database (SQLite) per module, in a
temp folder; Airflow's commands run in subprocesses (see ``tests.helpers.AirflowHome``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.helpers import AIRFLOW, AirflowHome

MIGRATE_S: list[float] = []  # how long each module's `airflow db migrate` took


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowHome]:
    root = tmp_path_factory.mktemp("airflow")
    ready = AirflowHome(root / "home", root / "dags")
    ready.home.mkdir()
    ready.dags.mkdir()
    started = time.perf_counter()
    done = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=ready.env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    MIGRATE_S.append(time.perf_counter() - started)
    print(f"airflow db migrate: {MIGRATE_S[-1]:.1f}s")
    yield ready
