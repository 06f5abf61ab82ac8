"""A client that cancels a `run` call stops the run: nothing is committed, and the server
goes on serving (the process-wide interruption is lifted once the run has stopped)."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import duckdb
import pytest

SLOW_STEP = """
import time
from pathlib import Path

def slow(batch):
    Path("started").write_text("yes")
    for _ in range(30):  # 3 s: long enough to be cancelled, short enough for the suite
        time.sleep(0.1)
    return batch
"""
PIPELINE = """
name: slow
source: {uri: ten.csv}
transforms:
  - python: slowstep:slow
target: duckdb:///wh.duckdb
"""


def test_a_cancelled_run_commits_nothing_and_the_server_serves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_orchestrated_etl.mcp import ServerOptions, build_server
    from mcp import Client

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOETL_HOME", str(tmp_path / ".aoetl"))
    (tmp_path / "slowstep.py").write_text(SLOW_STEP)
    (tmp_path / "ten.csv").write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(10)))
    outcome: dict[str, object] = {}

    async def main() -> None:
        async with Client(build_server(ServerOptions(allow_write=True))) as client:
            async with anyio.create_task_group() as group:

                async def call() -> None:
                    outcome["result"] = await client.call_tool("run", {"pipeline": PIPELINE})

                group.start_soon(call)
                with anyio.fail_after(30):
                    while not (tmp_path / "started").exists():
                        await anyio.sleep(0.05)
                started = time.monotonic()
                group.cancel_scope.cancel()
            runs = await client.call_tool("runs", {})
            outcome["waited_s"] = time.monotonic() - started
            outcome["runs"] = runs.structured_content
            again = await client.call_tool(
                "run", {"source": "ten.csv", "target": "duckdb:///wh.duckdb"}
            )
            outcome["again"] = again.structured_content

    anyio.run(main)
    assert "result" not in outcome  # the call was cancelled, not answered
    latest = outcome["runs"]["runs"][0]  # type: ignore[index]
    assert latest["pipeline"] == "slow"
    assert latest["status"] == "interrupted", latest
    assert outcome["again"]["status"] == "success", outcome["again"]  # type: ignore[index]
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "slow" not in tables and "ten" in tables, tables  # the cancelled load never landed
