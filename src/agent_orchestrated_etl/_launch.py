"""The ``aoetl`` console script: signal handlers first, then the imports, then the command.

Importing the CLI takes a few tenths of a second (Typer, Rich, pydantic, DuckDB). A signal in
that time must end the process as it would later: exit 130, nothing started, nothing to undo.

``aoetl`` and ``aoetl --help`` are answered here without importing Typer or Rich: rendering
the command list through them costs more than a whole ``python -c "import duckdb"``. The
text is drawn as Typer draws it (``tests/face/test_start.py`` compares the two), from
``COMMANDS``, which the same test holds equal to the commands the CLI registers.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

HELP = (
    "Agent-orchestrated ETL: point it at files or a database and it plans and loads them into "
    "a warehouse (DuckDB by default), exactly once, quarantining bad rows instead of losing "
    "them."
)
# Each command and the first line of its help, in the order `aoetl --help` lists them.
COMMANDS = (
    ("run", "Load SOURCE into a target, quarantining rows that cannot be read."),
    ("analyze", "Analyse SOURCE: its collections, fields, keys, paging and auth, with evidence."),
    ("plan", "Discover SOURCE and write a pipeline file with what discovery proposes."),
    ("sources", "List connectors, the schemes and formats they take, and what they can do."),
    ("schema", "Print the JSON Schema of a pipeline file."),
    ("dag", "Write a pipeline's plan as an Airflow 3 DAG file: one Airflow task per aoetl task."),
    ("profile", "Profile SOURCE's tables: statistics, anomalies and a quality score 0-100."),
    ("sample", "Write a sample of ROWS rows of SOURCE's table to a file, reading the source once."),
    ("runs", "List recent runs: id, pipeline, status, rows, duration."),
    ("agents", "List the agents a run may call and what each can do (action:subject)."),
    ("audit", "Show a run's decisions: which agent did each step and why, routes, memory used."),
    ("query", "Run one read-only SQL statement on a target and show at most --limit rows."),
    ("mcp", "Serve aoetl to LLM agents over MCP: analyze, plan, run, profile, query and explain."),
    ("secrets", "Check the ${…} secret references of a pipeline."),
    ("dlq", "The dead-letter queue: quarantined rows and failed tasks, and their replay."),
    ("memory", "What aoetl remembers of sources and runs: search it, list it."),
)
OPTIONS = (
    ("--verbose", "-v", "Show tracebacks and debug logs."),
    ("--help", "", "Show this message and exit."),
)
# Settings under which Typer draws its help differently (colours forced, a fixed width).
_TYPER_ENV = ("TERMINAL_WIDTH", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TYPER_USE_RICH")


def _before_start(signum: int, frame: FrameType | None) -> None:
    os._exit(130)  # nothing has begun: no run, no file, no connection


def main() -> None:
    """Install the early handlers, then hand over to the CLI (which installs its own)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _before_start)
    if sys.argv[1:] in ([], ["--help"]) and _quick_help():
        # As Typer does: asking for help succeeds; no command at all is a usage error.
        raise SystemExit(0 if sys.argv[1:] else 2)
    from .cli import main as cli_main

    cli_main()


def _width(tty: bool) -> int:
    """The width Rich would use: COLUMNS, else the terminal's, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    if tty:
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns
        except OSError:
            pass
    return 80


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


def help_text(width: int, *, colour: bool = False) -> str:
    """The top-level help at ``width`` columns, as Typer's Rich formatter draws it."""

    def style(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour and text else text

    def panel(title: str, rows: list[tuple[list[tuple[str, str]], str]], indent: int) -> list[str]:
        inner = width - 4
        top = f"╭─ {title} " + "─" * (width - 5 - len(title)) + "╮"
        lines = [style(top, "2")]
        for cells, description in rows:
            wrapped = _wrap(description, inner - indent)
            for i, part in enumerate(wrapped):
                first = i == 0
                lead = "".join(style(t, c) for t, c in cells) if first else ""
                pad = " " * (indent - (sum(len(t) for t, _ in cells) if first else 0))
                rest = " " * (inner - indent - len(part))
                lines.append(f"{style('│', '2')} {lead}{pad}{part}{rest} {style('│', '2')}")
        lines.append(style("╰" + "─" * (width - 2) + "╯", "2"))
        return lines

    blank = " " * width
    usage = " " + style("Usage:", "33") + " " + style("aoetl [OPTIONS] COMMAND [ARGS]...", "1")
    out = [blank, usage + " " * (width - 41), blank]
    out += [f" {line}".ljust(width) for line in _wrap(HELP, width - 2)]
    out.append(blank)
    opts = [([(o, "1;36"), ("  " if s else "", ""), (s, "1;32")], h) for o, s, h in OPTIONS]
    out += panel("Options", opts, 21)  # Typer's column for the option's help
    name_width = max(len(name) for name, _ in COMMANDS) + 2
    out += panel("Commands", [([(n, "1;36")], h) for n, h in COMMANDS], name_width)
    return "\n".join(out) + "\n\n"


def _quick_help() -> bool:
    """Print the top-level help without Typer; False where only Typer draws it right."""
    if any(os.environ.get(name) for name in _TYPER_ENV):
        return False
    tty = sys.stdout.isatty()
    width = _width(tty)
    if width < 60:  # narrow: Typer's table layout wraps columns differently
        return False
    colour = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    sys.stdout.write(help_text(width, colour=colour))
    sys.stdout.flush()
    return True
