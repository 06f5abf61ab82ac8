"""``aoetl mcp``: serve aoetl's tools to LLM agents over the Model Context Protocol."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from ._app import app, err


@app.command()
def mcp(
    http: Annotated[
        int | None,
        typer.Option(
            "--http",
            metavar="PORT",
            help="Serve streamable HTTP on http://127.0.0.1:PORT/mcp instead of stdio.",
        ),
    ] = None,
    allow_write: Annotated[
        bool,
        typer.Option(
            "--allow-write",
            help="Let 'run', 'dlq_replay' and 'export_dag' (to a path) write. Off: the "
            "server only reads.",
        ),
    ] = False,
    allow_target: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-target",
            metavar="GLOB",
            help="With --allow-write, write only into targets whose URI matches GLOB "
            "(repeatable), e.g. `duckdb:///*` or `postgresql://*@localhost/*`.",
        ),
    ] = None,
    allow_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-secret",
            metavar="GLOB",
            help="Let clients use the secret references matching GLOB in their arguments "
            "(repeatable), e.g. `env:PGPASSWORD`, `env:PG*` or `secret:vault:kv/etl/*`. "
            "Others are refused; pipeline files on disk resolve theirs as always.",
        ),
    ] = None,
    allow_raw_samples: Annotated[
        bool,
        typer.Option(
            "--allow-raw-samples",
            help="Let 'sample' return personal data as it is when asked (anonymize=false).",
        ),
    ] = False,
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="The most rows or items one result lists.")
    ] = 100,
    max_chars: Annotated[
        int,
        typer.Option("--max-chars", help="The most characters of JSON one result holds."),
    ] = 40_000,
) -> None:
    """Serve aoetl to LLM agents over MCP: analyze, plan, run, profile, query and explain.

    Stdio by default (register it in an MCP client with the command 'aoetl mcp'); --http PORT
    serves streamable HTTP bound to 127.0.0.1. Read-only unless --allow-write; secrets stay
    references in every result; every result is bounded by --max-rows and --max-chars. See
    docs/mcp.md.
    """
    from ..errors import UserError

    if importlib.util.find_spec("mcp") is None:
        raise UserError("aoetl mcp needs the MCP SDK: pip install 'agent-orchestrated-etl[mcp]'")
    if allow_target and not allow_write:
        raise UserError("--allow-target limits --allow-write; add --allow-write")
    if http is not None and not 0 < http < 65536:
        raise UserError(f"--http {http}: give a port from 1 to 65535")
    from ..mcp import ServerOptions, serve

    options = ServerOptions(
        allow_write=allow_write,
        allow_targets=tuple(allow_target or ()),
        allow_raw_samples=allow_raw_samples,
        allow_secrets=tuple(allow_secret or ()),
        max_rows=max_rows,
        max_chars=max_chars,
    )
    if http is not None:
        _check_port(http)
        err.print(f"aoetl mcp: serving http://127.0.0.1:{http}/mcp", highlight=False)
    serve(options, http_port=http)


def _check_port(port: int) -> None:
    """A port another server holds is a UserError now, not uvicorn's log line and exit 3
    after 'serving' was already printed."""
    import socket

    from ..errors import UserError

    with socket.socket() as probe:
        # As uvicorn binds: a port left in TIME_WAIT by an earlier server is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UserError(
                f"--http {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror}); give "
                f"another port, or stop the server that holds it"
            ) from None
