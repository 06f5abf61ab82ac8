"""``aoetl runs show ID`` with a run's check results and each profiled table's score, its
breakdown and trend, as text and as --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_orchestrated_etl.quality import ColumnProfile, Histogram, TableProfile
from agent_orchestrated_etl.quality.anomalies import detect
from agent_orchestrated_etl.quality.score import score
from agent_orchestrated_etl.spec import AnomalySpec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e


def orders(nulls: int, *, taken_at: float, run_id: str | None = None) -> TableProfile:
    amount = ColumnProfile(
        name="amount",
        type="DOUBLE",
        count=40,
        nulls=nulls,
        histogram=Histogram(edges=[0.0, 20.0, 40.0], counts=[20 - nulls, 20]),
        mad=5.0,
        outliers_mad=0,
        outliers_iqr=0,
    )
    return TableProfile(
        resource="w.duckdb#orders",
        table="orders",
        source="orders.csv",
        depth="standard",
        rows=40,
        columns=[ColumnProfile(name="id", type="BIGINT", count=40, nulls=0), amount],
        duplicate_rows=0,
        candidate_keys=[["id"]],
        taken_at=taken_at,
        run_id=run_id,
    )


PIPELINE = """name: orders
source: orders.csv
target: duckdb:///w.duckdb
checks:
  - check: not_null
    column: amount
    severity: warn
  - check: range
    name: amount_positive
    column: amount
    min: 0
    severity: quarantine
"""


def test_show_prints_the_checks_the_score_and_its_trend(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i - 2}.5\n" for i in range(40))  # -2.5 and -1.5 are below 0
    (tmp_path / "orders.csv").write_text("id,amount\n" + rows)
    (tmp_path / "p.yaml").write_text(PIPELINE)
    ran = run_cli("run", "p.yaml", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]

    # The table's profiles: two earlier ones (as 'aoetl profile' keeps them), then the run's.
    # (Written here as the run's profiling would, so the score's inputs are known exactly.)
    history = StateStore(tmp_path / ".aoetl").quality
    previous = None
    for i, nulls in enumerate((16, 8, 0)):
        profile = orders(nulls, taken_at=1_700_000_000.0 + i, run_id=run_id if i == 2 else None)
        anomalies = detect(profile, previous, AnomalySpec())
        result = score(profile, anomalies)
        history.add_profile(
            profile.model_dump(mode="json"),
            score=result.model_dump(mode="json"),
            anomalies=[a.model_dump(mode="json") for a in anomalies],
        )
        previous = profile

    shown = run_cli("runs", "show", run_id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "rows:     38 rows loaded, 2 rejected" in text  # what it printed before stays
    assert "quarantined: 2 entries" in text
    block = text.split("\nchecks: 2 results\n", 1)[1].split("\nquality:\n", 1)[0]
    lines = block.splitlines()
    assert lines[0].split() == ["check", "table", "severity", "status", "failing/checked",
                                "message"]  # fmt: skip
    assert lines[1].split()[:5] == ["amount_positive", "orders", "quarantine", "quarantined",
                                    "2/40"]  # fmt: skip
    assert "2 of 40 rows: amount outside [0, inf]: quarantined to the DLQ" in lines[1]
    assert lines[2].split() == ["not_null:*.amount", "orders", "warn", "passed", "0/38",
                                "passed", "on", "38", "rows"]  # fmt: skip

    quality = text.split("\nquality:\n", 1)[1].splitlines()
    # Freshness is not measured, so completeness weighs 0.30 / 0.90 and consistency
    # 0.15 / 0.90. First 16 of 80 cells null: 100 - 20 * 0.30 / 0.90 = 93.3.
    # Then 8 null (completeness 90) and amount's null rate moved by 20 points (a null_rate
    # anomaly: consistency 50): 100 - 10 / 3 - 50 / 6 = 88.3. The run's: no nulls, and the
    # null rate moved again: 100 - 50 / 6 = 91.7.
    assert quality[0] == "  orders: 91.7/100  (trend 93 → 88 → 92)"
    assert quality[1] == (
        "    completeness 100, uniqueness 100, validity 100, consistency 50, freshness -"
    )
    assert quality[2] == "    - consistency -8.3: amount: 0% null, was 20%"
    assert quality[3:] == ["    anomalies: 1", "      null_rate (change): amount: 0% null, was 20%"]

    document = json.loads(run_cli("runs", run_id, "--json", cwd=tmp_path).stdout)
    assert [c["name"] for c in document["checks"]] == ["amount_positive", "not_null:*.amount"]
    assert [c["failing"] for c in document["checks"]] == [2, 0]
    [report] = document["quality"]
    assert report["score"]["total"] == 91.7
    assert report["score"]["dimensions"]["consistency"] == 50
    assert [a["kind"] for a in report["anomalies"]] == ["null_rate"]
    assert [p["total"] for p in report["history"]] == [93.3, 88.3, 91.7]
    assert report["history"][-1]["run_id"] == run_id
    assert document["run"]["run_id"] == run_id  # the keys it had stay

    wrong = run_cli("runs", run_id, "extra", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "aoetl runs show ID" in wrong.stderr and "Traceback" not in wrong.stderr
