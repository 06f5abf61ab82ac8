"""``aoetl mcp`` over stdio, with the SDK's own client, as an MCP client starts it.

Each test starts the real server once (about a second) and makes many calls on its one
session: the whole workflow, the safety refusals and the bad input a new user gives.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import yaml

from tests.helpers import (
    REPO,
    finish_cli,
    mcp_data,
    mcp_error,
    mcp_stdio,
    query,
    start_cli,
)

TOOLS = {
    "analyze", "plan", "run", "runs", "run_details", "dlq_replay", "profile", "sample",
    "query", "memory_search", "agents", "audit", "export_dag",
}  # fmt: skip


def _folder(root: Path) -> Path:
    """The example export (CSV, gzipped NDJSON with a malformed line, JSON), copied."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(REPO / "examples" / "sample_data", root / "data"))


def test_tools_resources_prompts_and_a_read_only_server(tmp_path: Path) -> None:
    _folder(tmp_path)
    # The CLI's lines for the same bad sources, got while the server works.
    missing = start_cli("analyze", "missing.csv", cwd=tmp_path)
    scheme = start_cli("analyze", "ftp://x/y.csv", cwd=tmp_path)
    said: dict[str, str] = {}

    async def session() -> None:
        async with mcp_stdio(tmp_path) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            for tool in tools.values():
                assert tool.description, tool.name
                assert tool.input_schema["type"] == "object", tool.name
            run_args = tools["run"].input_schema["properties"]
            assert {"pipeline", "source", "target", "dry_run"} <= set(run_args)
            assert "ctx" not in run_args  # the SDK's context is not an argument
            assert tools["query"].input_schema["required"] == ["target", "sql"]
            assert tools["analyze"].annotations and tools["analyze"].annotations.read_only_hint
            assert tools["run"].annotations and not tools["run"].annotations.read_only_hint

            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            assert {"aoetl://schema/pipeline", "aoetl://runs/recent", "aoetl://docs/cli"} <= uris
            schema = await client.read_resource("aoetl://schema/pipeline")
            document = json.loads(getattr(schema.contents[0], "text", ""))
            assert "source" in document["properties"] and "target" in document["properties"]
            prompts = {p.name for p in (await client.list_prompts()).prompts}
            assert prompts == {"load_new_source", "explain_failed_run"}
            prompt = await client.get_prompt("load_new_source", {"source": "data"})
            assert "analyze" in getattr(prompt.messages[0].content, "text", "")

            # A bad source: the CLI's own line, and the server answers the next call.
            for source in ("missing.csv", "ftp://x/y.csv"):
                said[source] = mcp_error(await client.call_tool("analyze", {"source": source}))
            # Arguments that do not fit the schema: one line naming them, as for bad input.
            bad = await client.call_tool("sample", {"source": "data", "rows": 0})
            assert mcp_error(bad) == (
                "error: sample: argument 'rows': Input should be greater than or equal to 1"
            )
            bad = await client.call_tool("query", {"sql": "SELECT 1", "limit": "many"})
            assert mcp_error(bad).startswith("error: query: argument 'target': Field required;")
            bad = await client.call_tool("run", {"pipeline": "name: x\nsource: [\n"})
            assert "not valid YAML" in mcp_error(bad)
            bad = await client.call_tool("run_details", {"run_id": "nosuchrun"})
            assert "no run matches 'nosuchrun'" in mcp_error(bad)
            assert mcp_data(await client.call_tool("runs", {})) == {"runs": []}

            # A read-only server refuses writes and says how to allow them.
            target = "duckdb:///refused.duckdb"
            refused = await client.call_tool("run", {"source": "data", "target": target})
            assert "--allow-write" in mcp_error(refused)
            dag = await client.call_tool(
                "export_dag", {"pipeline": "name: x\nsource: data\n", "path": "dags/x.py"}
            )
            assert "--allow-write" in mcp_error(dag)
            dry = mcp_data(
                await client.call_tool("run", {"source": "data", "target": target, "dry_run": True})
            )
            assert dry["dry_run"] is True
            ids = [t["id"] for t in dry["tasks"]]
            assert ids[-1] == "commit" and "load:orders" in ids
            raw = await client.call_tool(
                "sample", {"source": "data/customers.csv", "anonymize": False}
            )
            assert "--allow-raw-samples" in mcp_error(raw)

    anyio.run(session)
    for source, proc in (("missing.csv", missing), ("ftp://x/y.csv", scheme)):
        cli = finish_cli(proc)
        assert cli.returncode == 2 and cli.stderr.count("\n") == 1, cli.stderr
        assert said[source] == cli.stderr.strip()
    assert not (tmp_path / "refused.duckdb").exists()
    assert not (tmp_path / "dags").exists()


def test_a_folder_from_analysis_to_a_checked_warehouse(tmp_path: Path) -> None:
    """analyze → plan → run (progress) → query, as a new user would, against the CLI's run
    of the same folder; then the run explained, writes refused by query, samples anonymised."""
    data = _folder(tmp_path / "mcp")
    _folder(tmp_path / "cli")
    # The CLI's run of the same folder, made while the server works.
    cli = start_cli("run", "data", "--to", "duckdb:///cli.duckdb", cwd=tmp_path / "cli")
    target = "duckdb:///wh.duckdb"
    seen: dict[str, Any] = {}

    async def session() -> None:
        async with mcp_stdio(tmp_path / "mcp", "--allow-write") as client:
            report = mcp_data(await client.call_tool("analyze", {"source": "data"}))
            tables = sorted(r["name"] for r in report["resources"])
            assert tables == ["customers", "order_items", "orders", "products"]
            seen["tables"] = tables

            planned = mcp_data(await client.call_tool("plan", {"source": "data", "target": target}))
            pipeline = planned["pipeline_yaml"]
            assert yaml.safe_load(pipeline)["target"]["uri"] == target
            assert {g["table"] for g in planned["guesses"]} == set(tables)
            assert all(g["decisions"] for g in planned["guesses"])

            dry = await client.call_tool("run", {"pipeline": pipeline, "dry_run": True})
            seen["tasks"] = [t["id"] for t in mcp_data(dry)["tasks"]]
            progress: list[tuple[float, str]] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append((done, message or ""))

            ran = await client.call_tool(
                "run", {"pipeline": pipeline}, progress_callback=on_progress
            )
            result = mcp_data(ran)
            assert result["status"] == "success" and set(result["tables"]) == set(tables)
            seen["progress"], seen["result"] = progress, result

            counts = {}
            for table in tables:
                sql = f'SELECT count(*) AS n FROM "{table}"'
                answer = mcp_data(await client.call_tool("query", {"target": target, "sql": sql}))
                assert answer["columns"][0]["name"] == "n"
                counts[table] = answer["rows"][0][0]
            seen["counts"] = counts

            details = mcp_data(
                await client.call_tool("run_details", {"run_id": result["run_id"][:12]})
            )
            assert details["run"]["run_id"] == result["run_id"]
            assert "spec_json" not in details["run"]
            seen["quarantined"] = details["quarantined"]
            audit = mcp_data(await client.call_tool("audit", {"run_id": result["run_id"]}))
            assert any(e["choice"] == "extract-files" for e in audit["entries"])
            recent = mcp_data(await client.call_tool("runs", {"limit": 5}))["runs"]
            assert [r["run_id"] for r in recent] == [result["run_id"]]
            resource = await client.read_resource("aoetl://runs/recent")
            assert result["run_id"] in getattr(resource.contents[0], "text", "")

            # A query that tries to write is refused, and the table stays as it was.
            for sql in (
                "INSERT INTO orders SELECT * FROM orders",
                "COPY orders TO 'leak.csv'",
                "SELECT 1; DROP TABLE orders",
                "DELETE FROM orders",
                "ATTACH 'other.duckdb' AS o",
            ):
                refused = await client.call_tool("query", {"target": target, "sql": sql})
                mcp_error(refused)
            left = await client.call_tool(
                "query", {"target": target, "sql": "SELECT count(*) FROM orders"}
            )
            assert mcp_data(left)["rows"] == [[counts["orders"]]]

            # Samples anonymise personal data unless asked otherwise.
            drawn = mcp_data(
                await client.call_tool(
                    "sample", {"source": "data/customers.csv", "rows": 20, "method": "head"}
                )
            )
            assert "email" in drawn["anonymized"]
            seen["emails"] = [r["email"] for r in drawn["records"]]

            dag = mcp_data(await client.call_tool("export_dag", {"pipeline": pipeline}))
            assert dag["written"] is False and "airflow" in dag["dag_py"]

    anyio.run(session)
    ran = finish_cli(cli)
    assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "mcp" / "leak.csv").exists()
    # The same rows as the CLI's run of the same folder.
    cli_db = tmp_path / "cli" / "cli.duckdb"
    expected = {t: query(cli_db, f'SELECT count(*) FROM "{t}"')[0][0] for t in seen["tables"]}
    assert seen["counts"] == expected
    assert all(n > 0 for n in expected.values())
    loaded = {t: r["rows_loaded"] for t, r in seen["result"]["tables"].items()}
    assert loaded == expected
    # The malformed NDJSON line is quarantined with its reason.
    bad = [q for q in seen["quarantined"] if q["table"] == "order_items"]
    assert len(bad) == 1 and bad[0]["reason"] == "malformed JSON line"
    assert bad[0]["file"].endswith("order_items.jsonl.gz") and bad[0]["line"] > 1
    assert len(seen["quarantined"]) == seen["result"]["tables"]["orders"]["rows_rejected"] + 1
    # One progress notification per task, growing, the last after the commit.
    progress = seen["progress"]
    done = [m.rsplit(":", 1)[0] for _, m in progress if not m.endswith("%")]
    assert sorted(done) == sorted(seen["tasks"]) and seen["tasks"][-1] == "commit"
    assert progress[-1] == (len(seen["tasks"]), "commit: finished")
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    # Anonymised: the sample's emails are none of the source's.
    source_emails = {r[0] for r in query(":memory:", f"SELECT email FROM '{data}/customers.csv'")}
    shown = [e for e in seen["emails"] if e is not None]
    assert shown and not set(shown) & source_emails
