"""An MCP client session with `aoetl mcp`, as an LLM agent would drive it, printed as a
transcript: a folder nobody described goes from analysis to a loaded, checked warehouse, then
a run that fails is explained.

    .venv/bin/python examples/mcp_session.py [FOLDER]     (default: examples/sample_data)

It starts `aoetl mcp --allow-write --allow-target 'duckdb:///*'` over stdio with the SDK's
own client (`mcp.ClientSession`), in a fresh scratch folder, and calls: analyze, plan, run
with dry_run, run (progress notifications printed as they come), query, then the same
pipeline with a `not_null` check on a column analyze found nulls in (a `fail` check: the
run fails and loads nothing), runs, and run_details, which says why. Results are shortened
for reading; each is a compact JSON object with the same data as `aoetl … --json`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import anyio
import yaml
from mcp.client.stdio import stdio_client

from mcp import ClientSession, StdioServerParameters

ROOT = Path(__file__).resolve().parent
AOETL = str(Path(sys.executable).with_name("aoetl"))
WIDTH = 600  # characters of each result printed


async def call(session: ClientSession, tool: str, **args: Any) -> dict[str, Any]:
    shown = {
        k: (v if not isinstance(v, str) or len(v) < 60 else v[:57] + "...") for k, v in args.items()
    }
    print(f"\n>>> {tool}({', '.join(f'{k}={v!r}' for k, v in shown.items())})")

    async def progress(done: float, total: float | None, message: str | None) -> None:
        print(f"    progress {done:g}: {message}")

    result = await session.call_tool(tool, args, progress_callback=progress)
    text = result.content[0].text if result.content else ""
    flag = " [is_error]" if result.is_error else ""
    print(textwrap.indent(textwrap.shorten(text, WIDTH, placeholder=" …") + flag, "<<< "))
    return result.structured_content or {"error": text}


def nullable_column(report: dict[str, Any]) -> tuple[str, str] | None:
    """A table and a column analyze found nulls in, for a check that fails."""
    for resource in report.get("resources", []):
        for field in resource.get("fields", []):
            if (field.get("null_ratio") or 0) > 0:
                return resource["name"], field["name"]
    return None


async def session(folder: Path, scratch: Path) -> None:
    params = StdioServerParameters(
        command=AOETL,
        args=["mcp", "--allow-write", "--allow-target", "duckdb:///*"],
        env={"AOETL_HOME": str(scratch / ".aoetl")},
        cwd=scratch,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        init = await client.initialize()
        tools = await client.list_tools()
        print(f"connected to {init.server_info.name} {init.server_info.version}; tools:")
        print("  " + ", ".join(t.name for t in tools.tools))

        source, target = str(folder), "duckdb:///warehouse.duckdb"
        report = await call(client, "analyze", source=source)
        planned = await call(client, "plan", source=source, target=target)
        pipeline = planned["pipeline_yaml"]
        await call(client, "run", pipeline=pipeline, dry_run=True)
        ran = await call(client, "run", pipeline=pipeline)
        for table in ran.get("tables", {}):
            await call(
                client, "query", target=target, sql=f'SELECT count(*) AS rows FROM "{table}"'
            )

        found = nullable_column(report)
        if found is None:
            print("\n(no column with nulls: no failing check to show)")
            return
        table, column = found
        document = yaml.safe_load(pipeline)
        # A pipeline of its own, reading every row again (no incremental cursor), into a
        # warehouse of its own: the check judges the whole table.
        document["name"] = f"{document['name']}-checked"
        if isinstance(document["source"], dict):
            document["source"].pop("incremental", None)
        document["target"] = "duckdb:///checked.duckdb"
        document["checks"] = [{"check": "not_null", "table": table, "columns": [column]}]
        failing = yaml.safe_dump(document, sort_keys=False)
        print(f"\n# the same pipeline with checks: [not_null on {table}.{column}] (severity fail)")
        failed = await call(client, "run", pipeline=failing)
        await call(client, "runs", limit=2)
        details = await call(client, "run_details", run_id=failed.get("run_id", ""))
        for check in details.get("checks", []):
            if check.get("status") != "pass":
                print(f"\nwhy: {json.dumps(check)}")


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "sample_data").resolve()
    with tempfile.TemporaryDirectory(prefix="aoetl-mcp-session-") as scratch:
        anyio.run(session, folder, Path(scratch))


if __name__ == "__main__":
    main()
