"""Folder targets: a table name is one plain folder name, and nothing is written outside ROOT.

The probe behind issue 11 wrote files outside the target with ``--table ../../escape``, an
absolute ``--table``, and ``sub/../../..``; ``.aoetl`` and ``_commits`` collided with aoetl's
own folders. Every attempt here must exit 2 with one line and create no file anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = "parquet:///a/b/root"


def snapshot(top: Path) -> set[str]:
    """Every path under ``top`` (the test's folder and its siblings) but AOETL_HOME's."""
    home = Path(os.environ["AOETL_HOME"])
    return {str(p.relative_to(top)) for p in top.rglob("*") if not p.is_relative_to(home)}


def assert_refused(done: object, before: set[str], work: Path) -> str:
    assert getattr(done, "returncode", None) == 2, done
    lines = str(getattr(done, "stderr", "")).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in lines[0] and "Error:" not in lines[0]
    assert snapshot(work.parent) == before  # nothing written anywhere, not even the root
    return lines[0]


@pytest.mark.parametrize(
    "table",
    [
        "../../escape",
        "sub/../../..",
        "..",
        "a\\..\\..\\escape",
        ".aoetl",
        ".hidden",
        "_commits",
        "_COMMITS",
        "tab\nle",
        "x" * 300,
    ],
)
def test_bad_table_names_are_refused(work: Path, table: str) -> None:
    (work / "d.csv").write_text("id,name\n1,a\n2,b\n")
    before = snapshot(work.parent)
    line = assert_refused(
        run_cli("run", "d.csv", "--to", ROOT, "--table", table, cwd=work), before, work
    )
    assert "cannot be a folder in" in line and "choose another name" in line


@pytest.mark.parametrize("target", [ROOT, "csv:///a/b/root"])
def test_absolute_table_name_is_refused(work: Path, target: str) -> None:
    (work / "d.csv").write_text("id\n1\n")
    outside = work.parent / f"escape-{os.getpid()}"
    before = snapshot(work.parent)
    done = run_cli("run", "d.csv", "--to", target, "--table", str(outside), cwd=work)
    assert_refused(done, before, work)
    assert not outside.exists()


def test_bad_table_name_from_a_pipeline_file(work: Path) -> None:
    (work / "d.csv").write_text("id\n1\n")
    (work / "p.yaml").write_text(
        "source: {uri: d.csv, table: ../../escape}\ntarget: {uri: 'parquet:///a/b/root'}\n"
    )
    before = snapshot(work.parent)
    line = assert_refused(run_cli("run", "p.yaml", cwd=work), before, work)
    assert "'../../escape'" in line


@pytest.mark.parametrize("name", ["_commits.csv", "a\\..\\..\\escape.csv", "..escape.csv"])
def test_file_names_never_lead_outside(work: Path, name: str) -> None:
    (work / "in").mkdir()
    (work / "in" / name).write_text("id\n1\n")
    before = snapshot(work.parent)
    done = run_cli("run", str(Path("in") / name), "--to", ROOT, cwd=work)
    if done.returncode == 2:  # the name the file gives is not a folder name: refused
        assert_refused(done, before, work)
        return
    assert done.returncode == 0, done.stderr
    created = snapshot(work.parent) - before
    root = Path(work.name) / "a" / "b" / "root"
    assert created and all(Path(p).is_relative_to(root) or root.is_relative_to(p) for p in created)


def test_a_symlinked_bookkeeping_folder_is_not_followed(work: Path) -> None:
    (work / "d.csv").write_text("id\n1\n")
    (work / "elsewhere").mkdir()
    (work / "lake").mkdir()
    (work / "lake" / ".aoetl").symlink_to(work / "elsewhere")
    done = run_cli("run", "d.csv", "--to", "parquet:///lake", "--table", "t", cwd=work)
    assert done.returncode == 2
    assert "leads outside the target folder" in done.stderr
    assert list((work / "elsewhere").iterdir()) == []


def test_a_file_as_the_target_folder(work: Path) -> None:
    (work / "d.csv").write_text("id\n1\n")
    (work / "notes").write_text("keep me")
    before = snapshot(work.parent)
    line = assert_refused(
        run_cli("run", "d.csv", "--to", "parquet:///notes", cwd=work), before, work
    )
    assert "is a file, not a folder" in line
    assert (work / "notes").read_text() == "keep me"


def test_target_folder_holding_aoetl_home_is_refused(work: Path) -> None:
    (work / "d.csv").write_text("id\n1\n")
    done = run_cli("run", "d.csv", "--to", "parquet:///.", cwd=work)
    assert done.returncode == 2
    assert "AOETL_HOME" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (work / "d").exists()
