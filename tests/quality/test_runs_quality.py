"""``aoetl runs show ID`` with a run's check results and each profiled table's score, its
breakdown and trend, as text and as --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl._text import points
from tests.helpers import run_cli

pytestmark = pytest.mark.e2e


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
quality:
  profile: standard
"""


def test_show_prints_the_checks_the_score_and_its_trend(orch: DataOrchestrator, work: Path) -> None:
    (work / "p.yaml").write_text(PIPELINE)
    totals = []
    # Three runs: no nulls, then a quarter of the amounts null, then none again. The first
    # two rows (-2.5, -1.5) are quarantined by amount_positive every time.
    for nulls in (0, 10, 0):
        rows = "".join(f"{i},{'' if 2 <= i < 2 + nulls else f'{i - 2}.5'}\n" for i in range(40))
        (work / "orders.csv").write_text("id,amount\n" + rows)
        result = orch.run("p.yaml")
        assert result.status == "success", result.error
        totals.append(result.quality["orders"]["total"])
    run_id = result.run_id

    shown = run_cli("runs", "show", run_id, cwd=work)
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
    trend = " → ".join(points(t) for t in totals)
    assert quality[0] == f"  orders: {points(totals[-1])}/100  (trend {trend})"
    # Ten of 40 amounts null in the second run: lower completeness, then a null-rate anomaly
    # in the third (25% -> 0%), which lowers consistency.
    assert totals[1] < totals[0] and totals[2] < totals[0]
    assert re.fullmatch(
        r"    completeness 100, uniqueness 100, validity [\d.]+, consistency [\d.]+, freshness -",
        quality[1],
    )
    assert any(line.startswith("    - consistency -") for line in quality)
    assert "      null_rate (change): amount: 0% null, was 26%" in quality

    document = json.loads(run_cli("runs", run_id, "--json", cwd=work).stdout)
    assert [c["name"] for c in document["checks"]] == ["amount_positive", "not_null:*.amount"]
    assert [c["failing"] for c in document["checks"]] == [2, 0]
    [report] = document["quality"]
    assert report["score"]["total"] == totals[-1]
    assert [a["kind"] for a in report["anomalies"]] == ["null_rate"]
    assert [p["total"] for p in report["history"]] == totals
    assert report["history"][-1]["run_id"] == run_id
    assert report["profile"]["rows"] == 38  # what the run staged: the quarantined rows are out
    assert document["run"]["run_id"] == run_id  # the keys it had stay

    wrong = run_cli("runs", run_id, "extra", cwd=work)
    assert wrong.returncode == 2
    assert "aoetl runs show ID" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_failed_run_leaves_no_baseline_and_no_point_in_the_trend(
    orch: DataOrchestrator, work: Path
) -> None:
    from agent_orchestrated_etl.spec import load_spec
    from agent_orchestrated_etl.state import StateStore

    (work / "data").mkdir()
    (work / "p.yaml").write_text(
        "name: two\nsource: data/\ntarget: duckdb:///w.duckdb\nmode: replace\n"
        "checks:\n  - {check: range, table: b, column: x, min: 0}\n"
        "quality:\n  profile: quick\n"
    )

    def write(a_rows: int, b: str) -> None:
        (work / "data" / "a.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(a_rows)))
        (work / "data" / "b.csv").write_text(f"x\n{b}\n")

    write(10, "1")
    first = orch.run("p.yaml")
    assert first.status == "success", first.error
    # The failed run profiles table a (40 rows), then b fails its check: nothing commits.
    write(40, "-1")
    spec = load_spec(work / "p.yaml")
    for task in ("load:a", "check:a", "load:b"):
        assert orch.run_task(spec, task, "r2").status == "success"
    assert "failed check range" in str(orch.run_task(spec, "check:b", "r2").error)
    resource = first.tables["a"].target
    history = StateStore(work / ".aoetl").quality
    assert [p.run_id for p in history.profiles(resource)] == [first.run_id]

    write(10, "2")
    third = orch.run("p.yaml")
    assert third.status == "success", third.error
    # Against the first run's 10 rows nothing changed (the failed run's 40 would be -75%).
    assert not any(n.startswith("table a: ") for n in third.notes), third.notes
    _, reports = orch.run_quality(third.run_id)
    [report] = [r for r in reports if r.profile.table == "a"]
    assert [p.run_id for p in report.history] == [first.run_id, third.run_id]


def test_scores_show_one_decimal_unless_whole_and_never_round_up_to_100() -> None:
    assert [points(v) for v in (100.0, 99.6, 87.0, 87.04, 99.96, 0.0)] == [
        "100", "99.6", "87", "87", "99.9", "0",
    ]  # fmt: skip
