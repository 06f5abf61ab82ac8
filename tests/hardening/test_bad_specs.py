"""Bad pipeline files, tried as an attacker or an unlucky user would, through the real CLI.

Each one must exit 2 with one line (two at most) naming what to change, and never show a
Python exception's name: these were RecursionError, UnicodeDecodeError, ValueError,
FileExistsError, TypeError and a raw Catalog Error, exiting 1.
"""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli

PYTHON_NAMES = re.compile(
    r"Traceback|\b(?:Recursion|UnicodeDecode|Value|Type|FileExists|Key|Attribute|OS|Runtime|"
    r"Index|Assertion|Lookup)Error\b|LINE \d+:"
)

CASES = {
    "nesting_5000_levels": ("source: d.csv\nx: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    "nesting_in_blocks": (
        "source: d.csv\nx:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 2000)),
        "nested",
    ),
    "yaml_alias_bomb": (
        "source: d.csv\nx0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        + "".join(f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
        "aliases",
    ),
    "yaml_alias_cycle": ("source: d.csv\nx: &a [*a]\n", "nested"),
    "control_character": ("source: d.csv\x07\n", "not valid YAML"),
    "target_port_over_65535": (
        "source: d.csv\ntarget: postgresql://u@localhost:99999/db\n",
        "field 'target.uri'",
    ),
    "source_port_over_65535": ("source: postgresql://u@localhost:70000/db\n", "port 70000"),
    "target_proc_self_environ": ("source: d.csv\ntarget: /proc/self/environ\n", "environ"),
    "python_step_path": (
        "source: d.csv\ntransforms:\n  - python: ../../etc/passwd:x\n",
        "transforms.0.python",
    ),
    "python_step_slash": (
        "source: d.csv\ntransforms:\n  - python: steps/clean:fix\n",
        "dotted module name",
    ),
    "derive_unknown_function": (
        "source: d.csv\ntransforms:\n  - derive: {y: nosuchfunc(id)}\n",
        "transform step 1 (derive",
    ),
    "derive_unknown_function_parquet": (
        "source: d.csv\ntarget: parquet:///lake\ntransforms:\n  - derive: {y: nosuchfunc(id)}\n",
        "transform step 1 (derive",
    ),
    "filter_unknown_column": (
        "source: d.csv\ntransforms:\n  - rename: {id: key}\n  - filter: nocol > 1\n",
        "transform step 2 (filter",
    ),
    "sql_syntax_error": (
        "source: d.csv\ntransforms:\n  - sql: SELEC * FROM input\n",
        "transform step 1 (sql)",
    ),
    "cast_to_unknown_type": (
        "source: d.csv\ntransforms:\n  - cast: {id: NOTATYPE}\n",
        "transform step 1 (cast",
    ),
}


def check_one_line(proc: subprocess.CompletedProcess[str], *, code: int = 2) -> str:
    """The CLI's answer to a bad file: exit ``code``, one or two lines, no Python names."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    err = proc.stderr
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    assert not PYTHON_NAMES.search(err), err
    return err


@pytest.fixture
def folder(work: Path) -> Path:
    (work / "d.csv").write_text("id,name\n1,a\n2,b\n")
    return work


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_pipeline_file_is_one_line_and_exit_2(folder: Path, case: str) -> None:
    text, expected = CASES[case]
    (folder / "p.yaml").write_text(text)
    err = check_one_line(run_cli("run", "p.yaml", cwd=folder))
    assert expected in err
    assert not (folder / "lake").exists()


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_not_a_pipeline(folder: Path, seed: int) -> None:
    data = random.Random(seed).randbytes(4096)
    (folder / "p.yaml").write_bytes(b"\xff" + data)  # never valid UTF-8
    err = check_one_line(run_cli("run", "p.yaml", cwd=folder))
    assert "not UTF-8" in err and "p.yaml:" in err


def test_json_nesting_is_refused_too(folder: Path) -> None:
    (folder / "p.json").write_text('{"source": "d.csv", "x": ' + "[" * 5000 + "]" * 5000 + "}")
    err = check_one_line(run_cli("run", "p.json", cwd=folder))
    assert "nested more than" in err


def test_a_step_error_names_the_same_step_on_every_target(folder: Path) -> None:
    """The same mistake, the same message and exit code, whatever the target."""
    (folder / "p.yaml").write_text("source: d.csv\ntransforms:\n  - filter: nocol > 1\n")
    answers = set()
    for target in ("duckdb:///w.duckdb", "parquet:///lake", "csv:///out"):
        err = check_one_line(run_cli("run", "p.yaml", "--to", target, cwd=folder))
        answers.add(err.strip().splitlines()[-1])
    assert len(answers) == 1, answers
    assert "transform step 1 (filter: nocol > 1)" in answers.pop()
