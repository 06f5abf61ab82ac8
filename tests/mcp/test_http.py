"""``aoetl mcp --http PORT``: the same tools over streamable HTTP on 127.0.0.1.

One server for the module, started as a user would (``--allow-write`` limited to
``duckdb:///allowed*``, raw samples allowed, small bounds) and stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import duckdb
import pytest

from tests.helpers import (
    AOETL,
    REPO,
    mcp_data,
    mcp_error,
    mcp_http,
    proc_usage,
    query,
    run_cli,
)
from tests.servers import free_port, stop

MAX_ROWS = 5
MAX_CHARS = 8_000


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    root: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mcp-http")
    shutil.copytree(REPO / "examples" / "sample_data", root / "data")
    port = free_port()
    log = root / "server.log"
    args = [
        AOETL, "mcp", "--http", str(port), "--allow-write", "--allow-target",
        "duckdb:///allowed*", "--allow-raw-samples", "--max-rows", str(MAX_ROWS),
        "--max-chars", str(MAX_CHARS),
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "AOETL_HOME": str(root / ".aoetl")},
            start_new_session=True,
        )
    try:
        _wait_listening(port, proc, log)
        yield Server(f"http://127.0.0.1:{port}/mcp", proc.pid, root)
    finally:
        stop(proc)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    # The MCP endpoint answers only MCP requests: a plain GET is refused, so wait for the port.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"aoetl mcp --http exited early:\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"aoetl mcp --http did not listen within 30 s:\n{log.read_text()[-2000:]}")


def test_the_client_flow_over_http(server: Server) -> None:
    async def session() -> None:
        async with mcp_http(server.url) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"analyze", "plan", "run", "query", "sample"} <= tools and len(tools) == 13
            report = mcp_data(await client.call_tool("analyze", {"source": "data"}))
            assert {r["name"] for r in report["resources"]} == {
                "customers", "order_items", "orders", "products",
            }  # fmt: skip

            # A target that no --allow-target matches is refused, and left uncreated.
            refused = await client.call_tool(
                "run", {"source": "data/products.json", "target": "duckdb:///other.duckdb"}
            )
            text = mcp_error(refused)
            assert "no --allow-target" in text and "duckdb:///allowed*" in text
            # Nor can a pipeline's route, or '..', lead a run out of the allowed targets.
            routed = (
                "name: routed\nsource: data/products.json\ntarget: duckdb:///allowed.duckdb\n"
                "route:\n  - else: duckdb:///other.duckdb\n"
            )
            refused = await client.call_tool("run", {"pipeline": routed})
            assert "other.duckdb, which no --allow-target" in mcp_error(refused)
            out = "duckdb:///allowed/../other.duckdb"
            refused = await client.call_tool("run", {"source": "data", "target": out})
            assert "no --allow-target" in mcp_error(refused)
            dag = await client.call_tool(
                "export_dag", {"pipeline": "name: x\nsource: data\n", "path": "x_dag.py"}
            )
            assert "no --allow-target" in mcp_error(dag)

            # The allowed target, given with a source or in a pipeline (anchored at its folder).
            ran = mcp_data(
                await client.call_tool(
                    "run", {"source": "data/products.json", "target": "duckdb:///allowed.duckdb"}
                )
            )
            assert ran["status"] == "success"
            assert ran["tables"]["products"]["rows_loaded"] == 6
            pipeline = "name: again\nsource: data/products.json\ntarget: duckdb:///allowed.duckdb\n"
            again = mcp_data(await client.call_tool("run", {"pipeline": pipeline}))
            assert again["tables"]["products"]["target"].endswith("/allowed.duckdb#products")
            counted = await client.call_tool(
                "query",
                {"target": "duckdb:///allowed.duckdb", "sql": "SELECT count(*) FROM products"},
            )
            assert mcp_data(counted)["rows"] == [[12]]

    anyio.run(session)
    assert not (server.root / "other.duckdb").exists()
    assert not (server.root / "x_dag.py").exists()
    assert query(server.root / "allowed.duckdb", "SELECT count(*) FROM products") == [(12,)]


def test_results_are_bounded_by_the_servers_limits(server: Server) -> None:
    db = server.root / "bounds.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i, repeat('x', 20000) AS s FROM range(50)")
    target = f"duckdb:///{db.name}"

    async def session() -> None:
        async with mcp_http(server.url) as client:
            # Defaults above --max-rows fall to it rather than being refused.
            mcp_data(await client.call_tool("runs", {}))
            orders = {"source": "data/orders_2024-01.csv"}
            drawn = mcp_data(await client.call_tool("sample", orders))
            assert len(drawn["records"]) == MAX_ROWS
            over = await client.call_tool("runs", {"limit": MAX_ROWS + 1})
            assert mcp_error(over) == (
                f"error: limit={MAX_ROWS + 1}: give 1 to {MAX_ROWS} (this server's --max-rows)"
            )

            many = await client.call_tool("query", {"target": target, "sql": "SELECT i FROM t"})
            data = mcp_data(many)
            assert data["rows"] == [[i] for i in range(MAX_ROWS)]
            assert data["truncated"][0].startswith(f"rows: the first {MAX_ROWS} rows shown")
            few = await client.call_tool("query", {"target": target, "sql": "SELECT 1 AS one"})
            assert "truncated" not in mcp_data(few)

            long = await client.call_tool(
                "query", {"target": target, "sql": "SELECT s FROM t", "limit": 3}
            )
            data = mcp_data(long)
            text = long.content[0].text  # type: ignore[union-attr]
            assert len(text) <= MAX_CHARS
            # Rows and strings are halved together until the JSON fits; each cut is noted.
            assert 1 <= len(data["rows"]) <= 3
            assert all(len(r[0]) < 20_000 for r in data["rows"])
            notes = data["truncated"]
            assert notes[0].startswith("rows: the first 3 rows shown")
            assert any("of 20,000 characters shown" in n for n in notes[1:])
            if len(data["rows"]) < 3:
                assert f"rows: {len(data['rows'])} of 3 items shown" in notes

    anyio.run(session)


def test_raw_samples_when_the_server_allows_them(server: Server) -> None:
    source = server.root / "data" / "customers.csv"
    emails = {r[0] for r in query(":memory:", f"SELECT email FROM '{source}'")}

    async def session() -> list[dict[str, object]]:
        async with mcp_http(server.url) as client:
            args = {"source": "data/customers.csv", "method": "head", "rows": MAX_ROWS}
            fake = mcp_data(await client.call_tool("sample", args))
            assert "email" in fake["anonymized"]
            assert not {r["email"] for r in fake["records"]} & emails
            raw = mcp_data(await client.call_tool("sample", {**args, "anonymize": False}))
            assert raw["anonymized"] == {}
            return list(raw["records"])

    records = anyio.run(session)
    assert {r["email"] for r in records} <= emails
    assert [r["customer_id"] for r in records] == list(range(1, MAX_ROWS + 1))


def test_a_hundred_calls_leak_no_files_or_memory(server: Server) -> None:
    db = server.root / "leak.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
    (server.root / "tiny.csv").write_text("id,name\n1,ann\n2,bob\n")
    # Every tool of the mix, the slow ones (analyze, sample: ~0.1 s each) less often.
    runs = ("runs", {"limit": 3})
    queries = [
        ("query", {"target": "duckdb:///leak.duckdb", "sql": sql})
        for sql in ("SELECT sum(i) FROM t", "SELECT i FROM t WHERE i % 7 = 0", "SELECT 1")
    ]
    calls = [
        ("analyze", {"source": "tiny.csv"}),
        ("sample", {"source": "data/products.json", "rows": 2}),
        ("analyze", {"source": "missing.csv"}),  # a failing call leaks nothing either
        *queries,
        *queries,
        *[runs] * 11,
    ]

    async def session() -> tuple[tuple[int, int], tuple[int, int]]:
        async with mcp_http(server.url) as client:

            async def call(i: int) -> None:
                name, args = calls[i % len(calls)]
                result = await client.call_tool(name, args)
                assert result.is_error == (args.get("source") == "missing.csv"), name

            for i in range(10):
                await call(i)
            warm = proc_usage(server.pid)
            for i in range(100):
                await call(i)
            return warm, proc_usage(server.pid)

    (fds_warm, rss_warm), (fds_after, rss_after) = anyio.run(session)
    print(f"after 10 calls: {fds_warm} fds, {rss_warm / 2**20:.1f} MiB; after 100 more: "
          f"{fds_after} fds, {rss_after / 2**20:.1f} MiB")  # fmt: skip
    assert abs(fds_after - fds_warm) <= 3, (fds_warm, fds_after)
    assert rss_after - rss_warm < 50 * 2**20, (rss_warm, rss_after)


def test_a_port_in_use_is_one_line(server: Server, tmp_path: Path) -> None:
    port = server.url.split(":")[2].split("/")[0]
    taken = run_cli("mcp", "--http", port, cwd=tmp_path)
    assert taken.returncode == 2
    assert taken.stderr == (
        f"error: --http {port}: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "give another port, or stop the server that holds it\n"
    )
