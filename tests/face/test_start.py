"""A lighter start: ``aoetl --help`` imports neither Typer nor Rich and still draws exactly
what Typer draws; importing the CLI loads no pydantic model, Rich live view, pyarrow, DuckDB
or driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent_orchestrated_etl._launch import help_text
from tests.helpers import run_cli

HEAVY = ("pydantic", "pyarrow", "duckdb", "psycopg", "sqlalchemy", "adbc_driver_postgresql")


@pytest.mark.parametrize("width", [60, 80, 100, 137])
def test_the_quick_help_is_what_typer_draws(tmp_path: Path, width: int) -> None:
    env = {"COLUMNS": str(width)}
    quick = run_cli("--help", cwd=tmp_path, env=env)
    typer = run_cli("--help", cwd=tmp_path, env={**env, "TYPER_USE_RICH": "1"})
    assert quick.returncode == typer.returncode == 0, typer.stderr
    assert quick.stdout == typer.stdout == help_text(width)
    bare = run_cli(cwd=tmp_path, env=env)
    bare_typer = run_cli(cwd=tmp_path, env={**env, "TYPER_USE_RICH": "1"})
    assert bare.stdout == quick.stdout
    assert bare.returncode == bare_typer.returncode == 2  # no command is a usage error


def test_the_quick_help_imports_no_cli_library() -> None:
    code = (
        "import sys; sys.argv = ['aoetl', '--help']; "
        "from agent_orchestrated_etl._launch import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_importing_the_cli_loads_nothing_heavy() -> None:
    code = (
        "import sys; from agent_orchestrated_etl.cli import main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r} or m.startswith(('rich.progress', 'rich.live', "
        "'agent_orchestrated_etl.spec'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
