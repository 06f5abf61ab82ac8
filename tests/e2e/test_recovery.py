"""Crash recovery through the real CLI: kill -9 at random points, SIGTERM, and reruns."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import AOETL, query, run_cli

pytestmark = pytest.mark.e2e

SLOW_STEP = "import time\n\ndef slow(batch):\n    time.sleep(1.0)\n    return batch\n"


def make_pipeline(root: Path, target: str = "w.duckdb") -> Path:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for t, n in (("alpha", 500), ("beta", 800), ("gamma", 300), ("delta", 1200)):
        rows = "".join(f"{i},{t}-{i},{i * 1.5}\n" for i in range(n))
        (data / f"{t}.csv").write_text("id,label,amount\n" + rows)
    (root / "slow.py").write_text(SLOW_STEP)
    pipeline = root / "pipeline.yaml"
    pipeline.write_text(
        f"name: recovery\nsource: data/\ntarget: duckdb:///{target}\nmode: append\n"
        "transforms:\n  - python: slow:slow\n"
    )
    return pipeline


def fingerprint(db: Path) -> dict[str, tuple[object, ...]]:
    if not db.exists():  # a run stopped before it staged anything leaves no file behind
        return {}
    tables = query(
        db,
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name NOT LIKE '_aoetl_stage%' ORDER BY 1",
    )
    return {
        t: query(db, f'SELECT count(*), sum(hash(id, label, amount)) FROM "{t}"')[0]  # type: ignore[misc]
        for (t,) in tables
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, ...]]:
    root = tmp_path_factory.mktemp("clean")
    make_pipeline(root)
    proc = run_cli("run", "pipeline.yaml", "--workers", "2", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return fingerprint(root / "w.duckdb")


def start(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AOETL_HOME": str(root / ".aoetl")}
    return subprocess.Popen(
        [AOETL, "run", "pipeline.yaml", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_at_a_random_point_then_rerun_is_exactly_once(
    tmp_path: Path, reference: dict[str, tuple[object, ...]], trial: int
) -> None:
    make_pipeline(tmp_path)
    proc = start(tmp_path, "--workers", "2")
    time.sleep(random.Random(trial).uniform(0.4, 4.0))
    proc.kill()
    proc.wait()
    db = tmp_path / "w.duckdb"
    history = json.loads(run_cli("runs", "--json", cwd=tmp_path).stdout)
    if history and history[0]["status"] == "success":
        # The run finished before the kill landed: it must simply be complete, and a rerun
        # of an append pipeline would (rightly) append again.
        assert fingerprint(db) == reference
        return
    if db.exists():  # whatever the kill interrupted, no table is half loaded
        assert fingerprint(db) in ({}, reference)
    again = run_cli("run", "pipeline.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert fingerprint(db) == reference
    history = json.loads(run_cli("runs", "--json", cwd=tmp_path).stdout)
    assert history[0]["status"] == "success"


def test_sigterm_cancels_cleanly_and_a_rerun_finishes(
    tmp_path: Path, reference: dict[str, tuple[object, ...]]
) -> None:
    make_pipeline(tmp_path)
    proc = start(tmp_path, "--workers", "1", "--json", "--monitor", "events.jsonl")
    events = tmp_path / "events.jsonl"
    deadline = time.time() + 60  # signal once loading has begun, however slow the machine
    while not (events.exists() and '"task_started"' in events.read_text()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert json.loads(out)["status"] == "interrupted"
    assert fingerprint(tmp_path / "w.duckdb") == {}
    history = json.loads(run_cli("runs", "--json", cwd=tmp_path).stdout)
    assert history[0]["status"] == "interrupted"
    resumed = run_cli("run", "--resume", history[0]["run_id"][:15], "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert fingerprint(tmp_path / "w.duckdb") == reference


def test_list_tasks_runs_nothing(tmp_path: Path) -> None:
    make_pipeline(tmp_path)
    proc = run_cli("run", "pipeline.yaml", "--list-tasks", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["pipeline"] == "recovery"
    tasks = plan["tasks"]
    assert [t["id"] for t in tasks] == [
        "load:alpha",
        "load:beta",
        "load:delta",
        "load:gamma",
        "commit",
    ]
    assert tasks[-1]["depends_on"] == ["load:alpha", "load:beta", "load:delta", "load:gamma"]
    assert [t["action"] for t in tasks] == ["load"] * 4 + ["commit"]
    assert tasks[0]["params"] == {"table": "alpha", "endpoint": None}
    assert tasks[-1]["params"] == {"tables": ["alpha", "beta", "delta", "gamma"]}
    assert "-> table alpha" in tasks[0]["description"] and tasks[-1]["description"]
    decisions = tasks[0]["decisions"]
    assert all(set(d) == {"what", "value", "reason"} for d in decisions), decisions
    assert any("header" in d["what"] + d["value"] for d in decisions), decisions
    assert tasks[-1]["decisions"] == []
    assert not (tmp_path / "w.duckdb").exists()
    text = run_cli("run", "pipeline.yaml", "--list-tasks", cwd=tmp_path).stdout
    assert "5. commit" in text and "after load:alpha" in text


def test_monitor_writes_every_event_as_json_lines(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    proc = run_cli("run", "a.csv", "--monitor", "events.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {"task_started", "task_attempt", "task_finished"} <= set(kinds)
    assert all(e["run_id"] == events[0]["run_id"] for e in events)


def test_resume_of_an_unknown_run_is_a_user_error(tmp_path: Path) -> None:
    proc = run_cli("run", "--resume", "nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no run matches 'nope'" in proc.stderr
