"""The MCP server: its tools, resources and prompts, over stdio or streamable HTTP."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from . import _guide, _reads, _writes
from ._calls import Calls
from ._options import ServerOptions

INSTRUCTIONS = """\
aoetl loads undescribed sources (files, folders, S3 prefixes, databases, REST APIs) into a
warehouse (DuckDB by default, PostgreSQL, Parquet, S3) with exactly-once loads. The usual
path: analyze(source) -> plan(source, target) -> run(pipeline=<plan's YAML>, dry_run=true)
-> run(pipeline=...) -> query(target, 'SELECT ...'). A failed run or rejected rows:
run_details(run_id), audit(run_id). Secrets are written as ${env:NAME} or
${secret:vault:path#key} and are never shown. Results are bounded: 'truncated' lists what
was cut."""


def build_server(options: ServerOptions | None = None) -> MCPServer[Any]:
    """An MCP server exposing aoetl's work as tools, with ``options``' safety limits."""
    from .. import __version__

    options = options or ServerOptions()
    server: MCPServer[Any] = MCPServer(
        "aoetl",
        title="aoetl: agent-orchestrated ETL",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    calls = Calls(options)
    _reads.register(server, calls)
    _writes.register(server, calls)
    _guide.register(server)
    return server


def serve(options: ServerOptions | None = None, *, http_port: int | None = None) -> None:
    """Serve on stdio, or on streamable HTTP at http://127.0.0.1:PORT/mcp; until stopped."""
    server = build_server(options)
    if http_port is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=http_port)
