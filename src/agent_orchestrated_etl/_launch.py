"""The ``aoetl`` console script: signal handlers first, then the imports, then the command.

Importing the CLI takes a few tenths of a second (Typer, Rich, pydantic, DuckDB). A signal in
that time must end the process as it would later: exit 130, nothing started, nothing to undo.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


def _before_start(signum: int, frame: FrameType | None) -> None:
    os._exit(130)  # nothing has begun: no run, no file, no connection


def main() -> None:
    """Install the early handlers, then hand over to the CLI (which installs its own)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _before_start)
    from .cli import main as cli_main

    cli_main()
