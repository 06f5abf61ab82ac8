"""A ``python:`` step in a long-lived process (``aoetl mcp``, a notebook) runs the module a
fresh ``aoetl run`` would: the one beside the pipeline, as the file holds it now."""

from __future__ import annotations

import sys
from pathlib import Path

from agent_orchestrated_etl import DataOrchestrator
from tests.helpers import query

TAG = (
    "import pyarrow as pa\n"
    "def tag(batch):\n"
    "    return batch.append_column('who', pa.array([{who!r}] * batch.num_rows))\n"
)


def pipeline(folder: Path, who: str, step: str = "tagsteps:tag") -> Path:
    """A folder with a CSV, a step module tagging rows with ``who`` and a pipeline."""
    folder.mkdir(exist_ok=True)
    (folder / "in.csv").write_text("id\n1\n2\n")
    (folder / "tagsteps.py").write_text(TAG.format(who=who))
    spec = folder / "p.yaml"
    spec.write_text(
        "name: tagged\nsource: {uri: in.csv, table: t}\n"
        f"transforms: [{{python: '{step}'}}]\ntarget: duckdb:///out.duckdb\nmode: replace\n"
    )
    return spec


def who(folder: Path) -> list[tuple[object, ...]]:
    return query(folder / "out.duckdb", "SELECT DISTINCT who FROM t")


def test_two_pipelines_run_their_own_step_modules(orch: DataOrchestrator, work: Path) -> None:
    a, b = pipeline(work / "a", "A"), pipeline(work / "b", "B")
    assert orch.run(a).status == "success"
    assert DataOrchestrator(home=work / ".aoetl").run(b).status == "success"
    assert who(work / "a") == [("A",)]
    assert who(work / "b") == [("B",)]
    assert orch.run(a).status == "success"  # and back: a's own file again
    assert who(work / "a") == [("A",)]


def test_an_edited_step_module_runs_its_new_code(orch: DataOrchestrator, work: Path) -> None:
    spec = pipeline(work / "a", "A")
    assert orch.run(spec).status == "success"
    # The same size, at once: a check of mtime in seconds and size would miss this edit.
    (work / "a" / "tagsteps.py").write_text(TAG.format(who="Z"))
    assert orch.run(spec).status == "success"
    assert who(work / "a") == [("Z",)]
    before = sys.modules["tagsteps"]
    assert orch.run(spec).status == "success"
    assert sys.modules["tagsteps"] is before  # unchanged: not executed again


def test_a_package_beside_each_pipeline(orch: DataOrchestrator, work: Path) -> None:
    """``pkg.mod:tag`` with a relative import inside the package: each folder's own, the
    submodules the package imports included."""
    specs = []
    for name in ("a", "b"):
        package = work / name / "stepspkg"
        package.mkdir(parents=True)
        if name == "a":  # b's is a namespace package: a folder with no __init__.py
            (package / "__init__.py").write_text("")
        (package / "label.py").write_text(f"WHO = {name.upper()!r}\n")
        (package / "mod.py").write_text(
            "import pyarrow as pa\nfrom .label import WHO\ndef tag(batch):\n"
            "    return batch.append_column('who', pa.array([WHO] * batch.num_rows))\n"
        )
        specs.append(pipeline(work / name, "unused", step="stepspkg.mod:tag"))
    for spec in specs:
        assert orch.run(spec).status == "success", spec
    assert who(work / "a") == [("A",)]
    assert who(work / "b") == [("B",)]


def test_a_local_file_never_replaces_an_installed_module(
    orch: DataOrchestrator, work: Path
) -> None:
    stdlib_json = sys.modules["json"]
    spec = pipeline(work / "a", "A", step="json:tag")
    (work / "a" / "json.py").write_text(TAG.format(who="A"))
    result = orch.run(spec)
    assert result.exit_code == 2
    assert "json has no function tag" in (result.error or "")
    assert sys.modules["json"] is stdlib_json
