"""A key found unique in a sample is checked over the whole table before it is trusted."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.analysis import _profile


@pytest.fixture(autouse=True)
def _first_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sample every table by its first rows, as a table over 16 MB is sampled.
    monkeypatch.setattr(_profile, "WHOLE_SCAN_BYTES", 0)


def test_a_key_unique_only_in_the_sample_is_not_the_primary_key(tmp_path: Path) -> None:
    # ts is unique in the first rows and repeats further on; id is unique everywhere.
    path = tmp_path / "events.csv"
    duckdb.sql(
        "COPY (SELECT i AS id, CASE WHEN i < 1000 THEN i ELSE i % 1000 END AS ts, "
        "'x' AS v FROM range(5000) t(i)) TO '" + str(path) + "' (HEADER)"
    )
    report = DataOrchestrator().analyze(str(path), sample_rows=500)
    (events,) = report.resources
    assert events.primary_key == ("id",)
    assert all("ts" not in k.columns for k in events.candidate_keys)
    assert "all 5,000 rows (read whole to check)" in events.candidate_keys[0].reason


def test_no_key_survives_when_every_candidate_repeats(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    duckdb.sql(
        "COPY (SELECT i % 700 AS n, i % 1000 AS m FROM range(3000) t(i)) TO '"
        + str(path)
        + "' (HEADER)"
    )
    (log,) = DataOrchestrator().analyze(str(path), sample_rows=500).resources
    assert log.primary_key == () and log.candidate_keys == ()


def test_a_broken_ndjson_line_does_not_cost_a_table_its_key(tmp_path: Path) -> None:
    lines = [f'{{"id": {i}, "v": "x"}}' for i in range(2000)]
    lines[1500] = '{"id": 1500, "v": '  # truncated: a load quarantines it
    (tmp_path / "events.ndjson").write_text("\n".join(lines) + "\n")
    (events,) = DataOrchestrator().analyze(str(tmp_path), sample_rows=500).resources
    assert events.primary_key == ("id",)


def test_a_column_unique_by_chance_is_no_primary_key(tmp_path: Path) -> None:
    # A population is unique in these rows, but nothing says it names a city: a merge on it
    # would overwrite a city the day two share a population.
    rows = "".join(f"city{i},{1000 + i * 7}\n" for i in range(200))
    (tmp_path / "cities.csv").write_text("city,pop\n" + rows)
    (cities,) = DataOrchestrator().analyze(str(tmp_path)).resources
    assert cities.primary_key == ()
    assert ("pop",) in [k.columns for k in cities.candidate_keys]  # still listed
    (why,) = [d for d in cities.decisions if d.what == "primary key"]
    assert why.value == "none" and "tasks.cities.key" in why.reason
