"""Every ``python`` block of docs/python-api.md runs, in order, in one namespace, in a fresh
working directory: the page's examples are real and cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).parents[1] / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def blocks() -> list[str]:
    return BLOCK.findall(PAGE.read_text(encoding="utf-8"))


def test_the_page_has_its_examples() -> None:
    code = "\n".join(blocks())
    for call in ("analyze(", "plan(", "create_pipeline(", "execute()", "runs()", "register_agent("):
        assert call in code, f"docs/python-api.md has no example of {call}"


def test_every_example_runs(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    for number, code in enumerate(blocks(), 1):
        try:
            exec(compile(code, f"{PAGE.name} block {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"docs/python-api.md block {number} failed: {exc!r}") from exc
    printed = capsys.readouterr().out
    assert "load:sales" in printed  # str(plan) lists the tasks
    assert "dags/sales.py" in printed and "sales_hourly" in printed
    assert (work / "dags" / "sales.py").exists()
    assert "the function with_vat" in printed
    assert (work / "warehouse.duckdb").exists() and (work / "custom.duckdb").exists()
