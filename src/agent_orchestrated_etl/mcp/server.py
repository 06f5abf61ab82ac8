"""The MCP server: its tools, resources and prompts, over stdio or streamable HTTP."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult
from pydantic import ValidationError

from ..errors import UserError
from . import _guide, _reads, _writes
from ._calls import Calls
from ._options import ServerOptions
from ._results import error_result

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
    server = _Server(
        options,
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


class _Server(MCPServer[Any]):
    """The SDK's server, with two checks before a tool runs: a secret reference the server
    does not allow its clients is refused, and arguments that do not fit a tool's schema are
    answered as every other bad input is, in one 'error: …' line (the SDK's own text spans
    lines and links to pydantic's site); so is an unknown tool."""

    def __init__(self, options: ServerOptions, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = options

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            if self._tool_manager.get_tool(name) is None:
                known = ", ".join(sorted(t.name for t in self._tool_manager.list_tools()))
                raise UserError(f"no tool {name!r}; the tools are {known}")
            self.options.check_secrets(name, arguments)
        except UserError as exc:
            return error_result(exc)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            return error_result(UserError(_arguments(name, exc.__cause__)))


def _arguments(tool: str, exc: ValidationError) -> str:
    # Names and pydantic's reasons only: the values given may be secrets.
    wrong = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        wrong.append(f"'{where}': {error['msg']}" if where else str(error["msg"]))
    return f"{tool}: argument {'; argument '.join(wrong)}"


def serve(options: ServerOptions | None = None, *, http_port: int | None = None) -> None:
    """Serve on stdio, or on streamable HTTP at http://127.0.0.1:PORT/mcp; until stopped."""
    server = build_server(options)
    if http_port is None:
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=http_port)
