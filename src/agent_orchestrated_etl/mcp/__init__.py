"""``aoetl mcp``: aoetl as tools for LLM agents, over the Model Context Protocol.

A face beside the CLI: every tool calls the same :class:`~agent_orchestrated_etl.api.
DataOrchestrator` method the matching command calls, and returns what that command's
``--json`` prints, bounded, with secrets masked. Built on the official ``mcp`` SDK
(``mcp.server.mcpserver.MCPServer``); see docs/mcp.md.
"""

from __future__ import annotations

from ._options import ServerOptions
from .server import build_server, serve

__all__ = ["ServerOptions", "build_server", "serve"]
