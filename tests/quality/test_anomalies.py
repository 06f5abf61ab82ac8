"""Anomalies: outliers, rare categories and, against the previous profile, row counts, null
rates, drift (PSI checked by hand) and schema changes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.quality import ColumnProfile, Histogram, TableProfile, ValueCount
from agent_orchestrated_etl.quality._drift import category_buckets, ks, psi, rebin
from agent_orchestrated_etl.quality.anomalies import detect
from agent_orchestrated_etl.quality.score import score
from agent_orchestrated_etl.spec import AnomalySpec

SETTINGS = AnomalySpec()


def table(*columns: ColumnProfile, rows: int = 1000, taken_at: float = 1.7e9) -> TableProfile:
    return TableProfile(
        resource="orders.csv#orders",
        table="orders",
        source="orders.csv",
        depth="standard",
        rows=rows,
        columns=list(columns),
        taken_at=taken_at,
    )


def amount(counts: list[int], *, nulls: int = 0, edges: list[float] | None = None,
           **extra: object) -> ColumnProfile:  # fmt: skip
    edges = edges or [float(10 * i) for i in range(len(counts) + 1)]
    return ColumnProfile(
        name="amount",
        type="DOUBLE",
        count=sum(counts) + nulls,
        nulls=nulls,
        histogram=Histogram(edges=edges, counts=counts),
        **extra,  # type: ignore[arg-type]
    )


def status(counts: dict[str, int], *, distinct: int | None = None, pii: str | None = None
           ) -> ColumnProfile:  # fmt: skip
    return ColumnProfile(
        name="status",
        type="VARCHAR",
        count=sum(counts.values()),
        nulls=0,
        distinct=distinct or len(counts),
        top=[ValueCount(value=k, count=v) for k, v in counts.items()],
        pii=pii,
    )


def test_outliers_by_iqr_and_mad_say_how_many_and_the_fences() -> None:
    column = amount(
        [250, 250, 250, 250],
        quantiles={"0.25": 10.0, "0.75": 30.0},
        median=20.0,
        mad=10.0,
        outliers_iqr=12,
        outliers_mad=3,
    )
    found = detect(table(column), None, SETTINGS)
    by_method = {a.method: a for a in found}
    assert set(by_method) == {"iqr", "mad"}
    iqr = by_method["iqr"]
    assert (iqr.kind, iqr.column, iqr.value) == ("outliers", "amount", 12 / 1000)
    # Q1 - 1.5 * IQR = 10 - 30 = -20; Q3 + 1.5 * IQR = 30 + 30 = 60
    assert "12 of 1,000 values (1.2%)" in iqr.message and "[-20, 60]" in iqr.message
    assert "robust z-score over 3.5 (median 20, MAD 10)" in by_method["mad"].message

    # Under the share setting they are not reported; a PII column's fences are not told.
    assert detect(table(column), None, AnomalySpec(outlier_share=0.02)) == []
    secret = column.model_copy(update={"pii": "phone", "name": "phone"})
    messages = [a.message for a in detect(table(secret), None, SETTINGS)]
    assert messages and all("20" not in m and "60" not in m for m in messages)


def test_rare_categories_are_named_unless_pii() -> None:
    counts = {"paid": 6000, "open": 3990, "refund": 7, "Paid ": 3}
    found = detect(table(status(counts), rows=10_000), None, SETTINGS)
    assert len(found) == 1
    rare = found[0]
    assert (rare.kind, rare.method, rare.column) == ("rare_category", "share", "status")
    assert rare.value == pytest.approx(10 / 10_000)
    assert "'refund' (7)" in rare.message and "'Paid ' (3)" in rare.message
    assert "paid'" not in rare.message.replace("'Paid '", "")

    # Too many distinct values: not a category column.
    many = status(counts, distinct=51)
    assert detect(table(many, rows=10_000), None, SETTINGS) == []
    # PII: nothing is named (a profile holds no top values of a PII column anyway).
    assert detect(table(status(counts, pii="name"), rows=10_000), None, SETTINGS) == []


def test_psi_matches_a_hand_computation() -> None:
    # shares now 0.1/0.2/0.7 against 0.3/0.3/0.4
    expected = (
        (0.1 - 0.3) * math.log(0.1 / 0.3)
        + (0.2 - 0.3) * math.log(0.2 / 0.3)
        + (0.7 - 0.4) * math.log(0.7 / 0.4)
    )
    assert psi([10, 20, 70], [30, 30, 40]) == pytest.approx(expected)
    assert expected == pytest.approx(0.2197 + 0.0405 + 0.1679, abs=1e-4)  # by hand
    assert psi([5, 5], [5, 5]) == 0
    # An empty bin counts as a share of 1e-4, not as infinity.
    assert psi([0, 100], [50, 50]) == pytest.approx(
        (1e-4 - 0.5) * math.log(1e-4 / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    )
    assert psi([], []) == 0 and psi([0, 0], [1, 1]) == 0
    assert ks([10, 20, 70], [30, 30, 40]) == pytest.approx(0.3)


def test_rebinning_by_overlap_keeps_counts_and_catches_a_shifted_range() -> None:
    now = Histogram(edges=[5.0, 15.0, 25.0], counts=[10, 30])
    spread = rebin(now, [0.0, 10.0, 20.0, 30.0])
    # underflow, [0,10), [10,20), [20,30), overflow
    assert spread == pytest.approx([0, 5, 20, 15, 0])
    beyond = rebin(Histogram(edges=[20.0, 40.0], counts=[8]), [0.0, 10.0, 20.0, 30.0])
    assert beyond == pytest.approx([0, 0, 0, 4, 4])
    constant = rebin(Histogram(edges=[30.0, 30.0], counts=[7]), [0.0, 10.0, 20.0, 30.0])
    assert constant == pytest.approx([0, 0, 0, 7, 0])  # the last bin holds its maximum


def test_against_the_previous_profile() -> None:
    before = table(amount([250, 250, 250, 250]), status({"a": 500, "b": 500}),
                   ColumnProfile(name="gone", type="INTEGER", count=1000, nulls=0),
                   rows=1000)  # fmt: skip
    now = table(
        amount([50, 50, 100, 600], nulls=200),
        status({"a": 500, "b": 500}),
        ColumnProfile(name="added", type="VARCHAR", count=1000, nulls=0),
        rows=1000,
        taken_at=1.8e9,
    )
    found = {(a.kind, a.column): a for a in detect(now, before, SETTINGS)}
    assert set(found) == {
        ("null_rate", "amount"),
        ("drift", "amount"),
        ("schema", "gone"),
        ("schema", "added"),
    }
    assert found[("null_rate", "amount")].value == pytest.approx(0.2)
    assert "20% null, was 0%" in found[("null_rate", "amount")].message
    drift = found[("drift", "amount")]
    assert drift.method == "psi"
    # Same edges: the shares (1/16, 1/16, 1/8, 3/4) against a quarter each, by hand.
    shares = [50 / 800, 50 / 800, 100 / 800, 600 / 800]
    assert drift.value == pytest.approx(sum((s - 0.25) * math.log(s / 0.25) for s in shares))
    assert "KS D = 0.500" in drift.message  # 1/2 at the third edge: 0.25 vs 0.75
    assert "removed" in found[("schema", "gone")].message

    # A key's values are new ones by design: it does not drift.
    keyed = now.model_copy(update={"candidate_keys": [["amount"]]})
    assert ("drift", "amount") not in {(a.kind, a.column) for a in detect(keyed, before, SETTINGS)}

    # Row count: 1,000 -> 400 is a 60% change, over the 50% setting.
    fewer = now.model_copy(update={"rows": 400})
    counted = [a for a in detect(fewer, before, SETTINGS) if a.kind == "row_count"]
    assert [round(a.value, 2) for a in counted] == [0.6]
    assert "400 rows, 60% fewer than the 1,000" in counted[0].message
    # A type change is a schema anomaly, and the column's distribution is not compared.
    retyped = before.model_copy(
        update={"columns": [amount([250] * 4).model_copy(update={"type": "VARCHAR"})]}
    )
    kinds = {(a.kind, a.column) for a in detect(table(amount([50, 50, 100, 600])), retyped,
                                                SETTINGS)}  # fmt: skip
    assert kinds == {("schema", "amount")}


def test_categorical_drift_with_an_other_bucket() -> None:
    before = status({"paid": 800, "open": 150, "void": 50})
    now = status({"paid": 300, "open": 200, "void": 500})
    names, actual, expected = category_buckets(now, before) or ([], [], [])
    assert names == ["paid", "open", "void", "(other)"]
    assert (actual, expected) == ([300, 200, 500, 0], [800, 150, 50, 0])
    found = detect(table(now), table(before), SETTINGS)
    assert [(a.kind, a.column) for a in found] == [("drift", "status")]
    assert found[0].value == pytest.approx(psi([300, 200, 500, 0], [800, 150, 50, 0]))

    # Top lists that do not cover every value: a value listed on one side only is 'other'.
    partial_before = status({"paid": 800, "open": 150}, distinct=5)
    partial_before = partial_before.model_copy(update={"count": 1000})
    partial_now = status({"paid": 700, "new": 250}, distinct=5).model_copy(update={"count": 1000})
    names, actual, expected = category_buckets(partial_now, partial_before) or ([], [], [])
    assert names == ["paid", "(other)"]
    assert (actual, expected) == ([700, 300], [800, 200])


def test_zero_rows_and_missing_columns_do_not_break_it() -> None:
    empty = table(amount([0, 0, 0, 0]), rows=0)
    before = table(amount([250, 250, 250, 250]), rows=1000)
    found = detect(empty, before, SETTINGS)
    assert [(a.kind, round(a.value, 2)) for a in found] == [("row_count", 1.0)]
    # From empty to 1,000 rows: a change measured against one row.
    grown = detect(before, empty, SETTINGS)
    assert [a.kind for a in grown] == ["row_count"]
    assert detect(table(rows=0), table(rows=0), SETTINGS) == []


def test_a_real_table_profiled_twice_shows_drift_and_a_row_count_change(
    orch: DataOrchestrator, work: Path
) -> None:
    db = work / "w.duckdb"
    make = (
        "CREATE OR REPLACE TABLE orders AS SELECT i AS id, ({shift} + i % 100)::DOUBLE AS amount, "
        "CASE WHEN i % {every} = 0 THEN 'refund' ELSE 'sale' END AS kind, "
        "TIMESTAMP '2026-01-01' + INTERVAL (i) MINUTE AS updated_at FROM range({rows}) r(i)"
    )
    with duckdb.connect(str(db)) as con:
        con.execute(make.format(shift=0, every=10, rows=2000))
    [first] = orch.profile(f"duckdb:///{db}", table="orders")
    assert first.anomalies == [] and first.score.total == 100
    assert first.score.dimensions["freshness"] is None  # no max_age: not measured

    with duckdb.connect(str(db)) as con:
        con.execute(make.format(shift=50, every=2, rows=5000))
    [second] = orch.profile(f"duckdb:///{db}", table="orders")
    found = {(a.kind, a.column): a for a in second.anomalies}
    assert found[("row_count", None)].value == pytest.approx(1.5)  # 2,000 -> 5,000
    assert found[("drift", "amount")].value > 1  # half the values moved past the old range
    assert found[("drift", "kind")].method == "psi"  # 10% refunds -> 50%
    assert ("drift", "id") not in found  # a key: new ids are no drift
    assert second.score.dimensions["consistency"] < 100
    assert [round(p.total) for p in second.history] == [100, round(second.score.total)]

    # The same profile scored with a freshness limit reads the time column's newest value.
    newest = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + 4999 * 60
    fresh = score(second.profile, second.anomalies, max_age_s=3600, now=newest + 7200)
    assert fresh.dimensions["freshness"] == 50
