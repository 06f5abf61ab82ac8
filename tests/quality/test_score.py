"""The quality score: a perfect table is 100; nulls, duplicates, invalid values, changes and
staleness lower their dimension; an unmeasured dimension's weight is shared out."""

from __future__ import annotations

import pytest

from agent_orchestrated_etl.quality import (
    Anomaly,
    CheckResult,
    ColumnProfile,
    Histogram,
    TableProfile,
)
from agent_orchestrated_etl.quality.score import WEIGHTS, score

NOW = 1_800_000_000.0


def column(name: str, *, nulls: int = 0, rows: int = 1000, **extra: object) -> ColumnProfile:
    return ColumnProfile(name=name, type="DOUBLE", count=rows, nulls=nulls, **extra)  # type: ignore[arg-type]


def numeric(name: str, *, outliers: int = 0, mad: float = 2.0) -> ColumnProfile:
    return column(
        name,
        histogram=Histogram(edges=[0.0, 50.0, 100.0], counts=[500, 500]),
        mad=mad,
        outliers_mad=outliers,
        outliers_iqr=outliers * 2,
    )


def profile(*columns: ColumnProfile, rows: int = 1000, duplicates: int | None = 0) -> TableProfile:
    return TableProfile(
        resource="w#orders",
        table="orders",
        source="w",
        depth="standard",
        rows=rows,
        columns=list(columns),
        duplicate_rows=duplicates,
        candidate_keys=[["id"]],
        taken_at=NOW,
    )


def check(kind: str, failing: int, checked: int = 1000, status: str = "passed") -> CheckResult:
    return CheckResult(
        name=f"{kind}:orders",
        check=kind,
        table="orders",
        severity="warn",
        status=status,  # type: ignore[arg-type]
        failing=failing,
        checked=checked,
        message="m",
    )


PERFECT = profile(column("id"), numeric("amount"))


def test_a_perfect_table_scores_100_and_freshness_is_shared_out() -> None:
    result = score(PERFECT, [])
    assert result.total == 100
    assert result.dimensions == {
        "completeness": 100,
        "uniqueness": 100,
        "validity": 100,
        "consistency": 100,
        "freshness": None,
    }
    # Freshness is not measured: its 0.10 goes to the others in proportion.
    assert result.weights["freshness"] == 0
    assert result.weights["completeness"] == pytest.approx(0.30 / 0.90, abs=1e-4)
    assert sum(result.weights.values()) == pytest.approx(1, abs=1e-3)
    assert result.columns == {"id": 100, "amount": 100}
    assert result.notes == []
    assert sum(WEIGHTS.values()) == pytest.approx(1)


def test_nulls_lower_completeness_by_their_share_of_cells() -> None:
    result = score(profile(column("id"), column("email", nulls=400)), [])
    assert result.dimensions["completeness"] == 80  # 400 of 2,000 cells
    # Validity and freshness are not measured (no patterned text, no numbers, no time
    # column): 20 points of completeness at 0.30 / 0.65 of the total.
    assert result.dimensions["validity"] is None
    assert result.weights["completeness"] == pytest.approx(0.30 / 0.65, abs=1e-4)
    assert result.total == pytest.approx(100 - 20 * 0.30 / 0.65, abs=0.1)
    assert result.columns["email"] < result.columns["id"] == 100
    assert result.notes == ["completeness -9.2: email is 40% null"]
    worse = score(profile(column("id"), column("email", nulls=600)), [])
    assert worse.total < result.total  # monotonic


def test_duplicates_and_a_failing_unique_check_lower_uniqueness() -> None:
    result = score(profile(column("id"), duplicates=100), [])
    assert result.dimensions["uniqueness"] == 90
    assert "100 duplicate rows (10%)" in result.notes[0]
    # The lower of duplicate rows and the key's uniqueness.
    keyed = score(profile(column("id"), duplicates=100), [], checks=[check("unique", 300)])
    assert keyed.dimensions["uniqueness"] == 70
    # Neither duplicates counted nor a key: not measured.
    bare = PERFECT.model_copy(update={"duplicate_rows": None, "candidate_keys": []})
    assert score(bare, []).dimensions["uniqueness"] is None


def test_validity_from_patterns_outliers_and_row_checks() -> None:
    email = column("email", semantic="email", semantic_share=0.9)
    result = score(profile(email, numeric("amount", outliers=50)), [])
    # mean of 0.90 (email) and 0.95 (amount: 50 of 1,000 beyond the robust z)
    assert result.dimensions["validity"] == pytest.approx(92.5)
    checked = score(profile(email, numeric("amount", outliers=50)), [],
                    checks=[check("range", 100), check("not_null", 0)])  # fmt: skip
    # times the checks' mean pass share: (0.9 + 1) / 2
    assert checked.dimensions["validity"] == pytest.approx(92.5 * 0.95, abs=0.1)
    # With a MAD of 0 the robust z says nothing: the IQR count is used.
    flat = score(profile(numeric("amount", outliers=50, mad=0.0)), [])
    assert flat.dimensions["validity"] == 90


def test_consistency_from_changes_and_text_that_holds_numbers() -> None:
    drift = Anomaly(kind="drift", table="orders", column="amount", method="psi", value=0.5,
                    threshold=0.2, message="amount: drifted")  # fmt: skip
    as_text = column("price", semantic="numeric_string", semantic_share=1.0)
    result = score(profile(column("id"), numeric("amount"), as_text), [drift])
    # amount counts 0, price half, id 1: (0 + 0.5 + 1) / 3
    assert result.dimensions["consistency"] == 50
    assert result.columns["amount"] < 100
    # A row-count anomaly or another table's anomaly does not count here.
    other = drift.model_copy(update={"table": "customers"})
    rows = Anomaly(kind="row_count", table="orders", method="change", value=1.0, threshold=0.5,
                   message="m")  # fmt: skip
    assert score(PERFECT, [other, rows]).dimensions["consistency"] == 100
    # Codes keep their digits as text by design: no penalty.
    zip_code = column("zip_code", semantic="numeric_string", semantic_share=1.0)
    assert score(profile(zip_code), []).dimensions["consistency"] == 100


def test_freshness_by_the_time_column_and_by_checks() -> None:
    updated = column(
        "updated_at",
        max="2027-01-15T08:00:00",
        histogram=Histogram(edges=[0.0, 1.0], counts=[1000], kind="temporal"),
    )
    at = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    fresh = score(profile(column("id"), updated), [], max_age_s=3600, now=at + 1800)
    assert fresh.dimensions["freshness"] == 100 and fresh.total == 100
    stale = score(profile(column("id"), updated), [], max_age_s=3600, now=at + 4 * 3600)
    assert stale.dimensions["freshness"] == 25  # max_age / age
    assert any("newest updated_at is 4.0h old (max 1.0h)" in n for n in stale.notes)
    assert stale.weights["freshness"] == round(0.10 / 0.75, 4)  # validity unmeasured
    failed = score(PERFECT, [], checks=[check("freshness", 1, 1, status="failed")])
    assert failed.dimensions["freshness"] == 0
    assert failed.total == pytest.approx(90)


def test_an_empty_table_without_checks_measures_nothing() -> None:
    empty = profile(column("id", rows=0), rows=0, duplicates=0)
    result = score(empty, [])
    assert result.total == 0
    assert set(result.dimensions.values()) == {None}
    assert result.notes == ["nothing could be measured: the table has no rows and no checks"]


def test_a_table_check_counts_as_one_judgement_in_validity() -> None:
    # A row_count check that failed is 1 of 1 failing, even as an older run stored it
    # (failing 1 of the table's 1,000 rows).
    for checked in (1, 1000):
        failed = score(PERFECT, [], checks=[check("row_count", 1, checked, status="warned")])
        assert failed.dimensions["validity"] == 0
    passed = score(PERFECT, [], checks=[check("row_count", 0, 1)])
    assert passed.dimensions["validity"] == 100


def test_a_score_that_lost_a_point_never_reads_100() -> None:
    from agent_orchestrated_etl.quality.score import _kept

    assert _kept(99.96) == 99.9 and _kept(100.0) == 100.0 and _kept(87.04) == 87.0
