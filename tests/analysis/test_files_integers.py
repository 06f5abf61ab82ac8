"""Decimals in a column typed as integers: DuckDB's CSV reader would round them, so the
analysis says so (a load quarantines text in such a column, but loads 4.6 as 5)."""

from __future__ import annotations

from pathlib import Path

from agent_orchestrated_etl import DataOrchestrator


def test_late_decimals_in_an_integer_column_are_a_mixed_types_warning(tmp_path: Path) -> None:
    rows = [f"{i},{i % 100}" for i in range(30_000)]  # past the reader's type sniff
    rows += [f"{i},{i % 100}.49" for i in range(30_000, 30_100)]
    (tmp_path / "m.csv").write_text("id,amount\n" + "\n".join(rows) + "\n")
    (m,) = DataOrchestrator().analyze(str(tmp_path / "m.csv")).resources
    amount = next(f for f in m.fields if f.name == "amount")
    assert amount.type == "BIGINT" and amount.confidence is not None and amount.confidence < 1
    (issue,) = [i for i in m.issues if i.kind == "mixed_types"]
    assert issue.column == "amount" and "rounds a decimal" in issue.detail
    assert "source.columns: {amount: DOUBLE}" in issue.detail
