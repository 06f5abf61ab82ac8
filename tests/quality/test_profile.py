"""The profile engine on real DuckDB tables small enough to check by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.data.duck import connect
from agent_orchestrated_etl.quality import Histogram, TableProfile
from agent_orchestrated_etl.quality.profile import profile_table
from agent_orchestrated_etl.spec import AnomalySpec
from tests.servers import Postgres, RestApi

HAND = """
CREATE TABLE hand AS SELECT * FROM (VALUES
  (1, 1.0, 'a', 'ann@example.com', DATE '2024-01-01', true),
  (2, 2.0, 'a', 'bob@example.com', DATE '2024-01-02', true),
  (3, 3.0, 'a', 'cid@example.com', DATE '2024-01-03', false),
  (4, 4.0, 'b', 'dan@example.com', DATE '2024-01-04', true),
  (5, 5.0, 'b', 'eve@example.com', DATE '2024-01-05', NULL),
  (6, 6.0, 'c', 'fay@example.com', DATE '2024-01-06', true),
  (7, 7.0, NULL, 'gus@example.com', DATE '2024-01-07', false),
  (8, 8.0, NULL, 'hal@example.com', DATE '2024-01-08', true),
  (9, 9.0, 'a', 'ivy@example.com', DATE '2024-01-09', true),
  (10, 100.0, 'b', 'jon@example.com', DATE '2024-01-10', true)
) t(id, amount, status, contact, day, flag)
"""
SEMANTIC = """
CREATE TABLE kinds AS SELECT
  'user' || i || '@mail.example.org' AS mail,
  '+49 30 1234 ' || (1000 + i * 7) AS tel,
  'https://example.com/items/' || i AS link,
  uuid() AS ident,
  '10.0.' || (i % 250) || '.' || (i % 200 + 1) AS host,
  '2024-03-' || lpad(CAST(1 + i % 28 AS VARCHAR), 2, '0') AS day_text,
  CAST(i * 3 AS VARCHAR) AS digits,
  ['red', 'green', 'blue'][1 + i % 3] AS colour,
  'the quick brown fox number ' || i || ' jumps over the lazy dog' AS prose,
  'x' || i AS code
FROM range(60) t(i)
"""


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    home = tmp_path_factory.mktemp("profile") / ".aoetl"
    home.mkdir()
    con = connect(home=home)
    con.execute(HAND)
    con.execute(SEMANTIC)
    # 20,000 rows: more than the sample, so a standard profile approximates.
    con.execute(
        "CREATE TABLE big AS SELECT i AS id, i % 7 AS bucket, 'v' || (i % 3000) AS label, "
        "['gold', 'silver', 'bronze'][1 + i % 3] AS tier FROM range(20000) t(i)"
    )
    # 300,000 rows: the sample is the first 10,000, which miss the last value of 'rare'.
    con.execute(
        "CREATE TABLE tall AS SELECT i AS n, CASE WHEN i < 299990 THEN ['x', 'y'][1 + i % 2] "
        "ELSE 'late' END AS rare FROM range(300000) t(i)"
    )
    con.execute(
        "CREATE TABLE dups AS SELECT * FROM (VALUES (1, 'a'), (1, 'a'), (2, 'b'), (2, 'b'), "
        "(2, 'b'), (3, 'c')) t(k, v)"
    )
    con.execute(
        "CREATE TABLE lines AS SELECT o AS order_id, l AS line_no, o * 10 + l AS qty "
        "FROM range(1, 6) a(o), range(1, 4) b(l)"
    )
    yield con
    con.close()


def _profile(
    con: duckdb.DuckDBPyConnection,
    name: str,
    depth: str = "standard",
    previous: TableProfile | None = None,
) -> TableProfile:
    return profile_table(
        con,
        name,
        table=name,
        resource=f"test#{name}",
        source="test",
        depth=depth,  # type: ignore[arg-type]
        anomalies=AnomalySpec(),
        previous=previous,
    )


def test_numbers_on_a_hand_checked_table(con: duckdb.DuckDBPyConnection) -> None:
    p = _profile(con, "hand", "deep")
    assert p.rows == 10 and p.duplicate_rows == 0 and p.candidate_keys[0] == ["id"]
    amount = p.column("amount")
    assert amount is not None
    assert amount.mean == pytest.approx(14.5)
    assert amount.median == pytest.approx(5.5)
    assert amount.quantiles["0.25"] == pytest.approx(3.25)
    assert amount.quantiles["0.75"] == pytest.approx(7.75)
    assert (amount.min, amount.max, amount.nulls, amount.distinct) == (1.0, 100.0, 0, 10)
    # IQR fences 3.25 - 6.75 and 7.75 + 6.75: only 100 is outside; MAD 2.5 -> 100 has z 25.5.
    assert amount.outliers_iqr == 1 and amount.outliers_mad == 1
    assert amount.mad == pytest.approx(2.5)
    assert amount.histogram is not None and sum(amount.histogram.counts) == 10
    assert len(amount.histogram.edges) == len(amount.histogram.counts) + 1
    # 20 bins of 4.95 from 1: 1..5 in the first, 6..9 in the second, 100 in the last.
    assert amount.histogram.counts[:2] == [5, 4] and amount.histogram.counts[-1] == 1
    status = p.column("status")
    assert status is not None
    assert (status.nulls, status.distinct, status.distinct_exact) == (2, 3, True)
    assert [(v.value, v.count) for v in status.top] == [("a", 4), ("b", 3), ("c", 1)]
    assert status.semantic == "category" and status.length_min == status.length_max == 1
    flag = p.column("flag")
    assert flag is not None and [(v.value, v.count) for v in flag.top] == [
        ("true", 7),
        ("false", 2),
    ]
    day = p.column("day")
    assert day is not None and (day.min, day.max) == ("2024-01-01", "2024-01-10")
    assert day.histogram is not None and day.histogram.kind == "temporal"
    assert sum(day.histogram.counts) == 10


def test_standard_numbers_are_close(con: duckdb.DuckDBPyConnection) -> None:
    amount = _profile(con, "hand").column("amount")
    assert amount is not None and amount.mean == pytest.approx(14.5)
    assert 4 <= (amount.median or 0) <= 7 and amount.outliers_iqr == 1
    assert amount.histogram is not None and sum(amount.histogram.counts) == 10


def test_pii_columns_never_expose_values(con: duckdb.DuckDBPyConnection) -> None:
    for depth in ("quick", "standard", "deep"):
        p = _profile(con, "hand", depth)
        contact = p.column("contact")
        assert contact is not None and contact.pii == "email" and contact.semantic == "email"
        assert contact.top == [] and contact.min is None and contact.max is None
        assert contact.length_min == 15 and contact.distinct == 10
        assert "example.com" not in json.dumps(p.model_dump(mode="json"))


def test_semantic_types(con: duckdb.DuckDBPyConnection) -> None:
    p = _profile(con, "kinds")
    found = {c.name: c.semantic for c in p.columns}
    assert found == {
        "mail": "email",
        "tel": "phone",
        "link": "url",
        "ident": "uuid",
        "host": "ip_address",
        "day_text": "date_string",
        "digits": "numeric_string",
        "colour": "category",
        "prose": "free_text",
        "code": "text",
    }
    pii = {c.name: c.pii for c in p.columns if c.pii}
    assert pii == {"mail": "email", "tel": "phone", "host": "ip_address"}
    assert all(c.semantic_share == 1.0 for c in p.columns)


def test_keys_duplicates_and_depths(con: duckdb.DuckDBPyConnection) -> None:
    quick, standard, deep = (_profile(con, "big", d) for d in ("quick", "standard", "deep"))
    for p in (quick, standard, deep):
        assert p.rows == 20000 and p.candidate_keys == [["id"]]
        assert p.duplicate_rows == 0 and p.duplicates_exact  # a unique column: none repeat
    label = {p.depth: p.column("label") for p in (quick, standard, deep)}
    assert label["deep"] is not None and label["deep"].distinct == 3000
    assert label["deep"].distinct_exact
    assert label["standard"] is not None and not label["standard"].distinct_exact
    # DuckDB's HyperLogLog: 3,784 for these 3,000 labels.
    assert abs((label["standard"].distinct or 0) - 3000) < 1000
    bucket = standard.column("bucket")
    assert bucket is not None and bucket.distinct_exact and len(bucket.top) == 7
    assert sum(v.count for v in bucket.top) == 20000
    assert sorted(v.value for v in bucket.top) == ["0", "1", "2", "3", "4", "5", "6"]
    for p in (quick, standard, deep):  # few values, all counted: the rest follows exactly
        tier = p.column("tier")
        assert tier is not None and (tier.distinct, tier.distinct_exact) == (3, True)
        assert (tier.min, tier.max, tier.length_min, tier.length_max) == ("bronze", "silver", 4, 6)
        assert tier.length_mean == pytest.approx(106666 / 20000)
        assert (tier.top[0].value, tier.top[0].count) == ("gold", 6667)
    ids = {p.depth: p.column("id") for p in (quick, standard, deep)}
    assert ids["quick"] is not None and ids["quick"].outliers_iqr is None  # not measured
    assert ids["quick"].histogram is not None and sum(ids["quick"].histogram.counts) == 20000
    assert ids["standard"] is not None and ids["standard"].histogram is not None
    assert ids["standard"].histogram.counts == [1000] * 20
    assert (ids["standard"].distinct, ids["standard"].distinct_exact) == (20000, True)  # a key
    assert deep.correlations is not None and standard.correlations is None
    assert deep.correlations[0].a == "id" and deep.correlations[0].b == "bucket"


def test_values_the_sample_missed_are_counted(con: duckdb.DuckDBPyConnection) -> None:
    rare = _profile(con, "tall").column("rare")
    assert rare is not None and rare.distinct == 3 and rare.distinct_exact
    assert [(v.value, v.count) for v in rare.top] == [("x", 149995), ("y", 149995), ("late", 10)]
    assert (rare.min, rare.max, rare.length_max) == ("late", "y", 4)
    n = _profile(con, "tall").column("n")
    assert n is not None and n.histogram is not None and sum(n.histogram.counts) == 300000


def test_duplicates_and_pair_keys(con: duckdb.DuckDBPyConnection) -> None:
    for depth in ("standard", "deep"):
        p = _profile(con, "dups", depth)
        assert p.duplicate_rows == 3 and p.duplicates_exact and p.candidate_keys == []
    assert _profile(con, "lines").candidate_keys == [["qty"]]
    con.execute("CREATE OR REPLACE VIEW lines_nokey AS SELECT order_id, line_no FROM lines")
    assert _profile(con, "lines_nokey", "standard").candidate_keys == []
    assert _profile(con, "lines_nokey", "deep").candidate_keys == [["order_id", "line_no"]]


def test_histogram_reuses_previous_edges(con: duckdb.DuckDBPyConnection) -> None:
    first = _profile(con, "hand")
    amount = first.column("amount")
    assert amount is not None
    amount.histogram = Histogram(edges=[0.0, 50.0, 100.0], counts=[1, 1])
    for depth in ("quick", "standard"):
        again = _profile(con, "hand", depth, previous=first).column("amount")
        assert again is not None and again.histogram is not None
        assert again.histogram.edges == [0.0, 50.0, 100.0]
        # Bins are (a, b]: 1..9 fall in the first, 100 in the last.
        assert again.histogram.counts == [9, 1]
    # Values past the old edges extend them by whole bins of the same width, so a growing
    # column does not pile into the last bin.
    amount.histogram = Histogram(edges=[4.0, 34.0, 64.0], counts=[1, 1])
    again = _profile(con, "hand", "standard", previous=first).column("amount")
    assert again is not None and again.histogram is not None
    assert again.histogram.edges == [-26.0, 4.0, 34.0, 64.0, 94.0, 124.0]
    assert again.histogram.counts == [4, 5, 0, 0, 1]
    # A range that grew past BINS extra bins gets fresh bins over both ranges.
    amount.histogram = Histogram(edges=[2.0, 5.0, 8.0], counts=[1, 1])
    again = _profile(con, "hand", "standard", previous=first).column("amount")
    assert again is not None and again.histogram is not None
    assert again.histogram.edges[0] == 1.0 and again.histogram.edges[-1] == 100.0
    assert sum(again.histogram.counts) == 10


def test_a_duckdb_warehouse_is_profiled_and_recorded(work: Path, orch: DataOrchestrator) -> None:
    db = duckdb.connect(str(work / "warehouse.duckdb"))
    db.execute("CREATE TABLE orders AS SELECT i AS order_id, i * 1.5 AS total FROM range(50) t(i)")
    db.execute("CREATE TABLE notes AS SELECT 'n' || i AS body FROM range(5) t(i)")
    db.close()
    reports = orch.profile("duckdb:///warehouse.duckdb", table="orders")
    assert [r.profile.table for r in reports] == ["orders"]
    p = reports[0].profile
    assert p.resource == f"duckdb:///{work / 'warehouse.duckdb'}#orders" and p.rows == 50
    assert p.candidate_keys[0] == ["order_id"]
    assert 0 <= reports[0].score.total <= 100 and len(reports[0].history) == 1
    again = orch.profile("duckdb:///warehouse.duckdb", table="orders")
    assert len(again[0].history) == 2
    both = orch.profile("duckdb:///warehouse.duckdb", record=False)
    assert sorted(r.profile.table for r in both) == ["notes", "orders"]


def test_a_postgres_table_is_profiled_without_its_password(
    postgres: Postgres, orch: DataOrchestrator
) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS profiled_people")
        pg.execute(
            "CREATE TABLE profiled_people AS SELECT g AS id, 'p' || g || '@example.com' AS email, "
            "g % 4 AS tier FROM generate_series(1, 200) g"
        )
    reports = orch.profile(postgres.url(), table="profiled_people", depth="quick")
    p = reports[0].profile
    assert p.rows == 200 and p.candidate_keys == [["id"], ["email"]]
    email = p.column("email")
    assert email is not None and email.pii == "email" and email.top == []
    tier = p.column("tier")
    assert tier is not None and [v.count for v in tier.top] == [50, 50, 50, 50]
    dumped = json.dumps([r.model_dump(mode="json") for r in reports])
    assert postgres.password not in dumped and "@example.com" not in dumped
    assert p.resource.endswith("#profiled_people")


def test_a_rest_api_is_profiled_from_its_pages(rest_api: RestApi, orch: DataOrchestrator) -> None:
    rest_api.control(reset=True)
    reports = orch.profile(f"{rest_api.url}/link/users", depth="quick", record=False)
    p = reports[0].profile
    assert p.rows == 250 and p.candidate_keys[0] == ["id"]
    email = p.column("email")
    assert email is not None and email.pii == "email" and email.top == []


def test_text_the_sample_saw_no_value_of(con: duckdb.DuckDBPyConnection) -> None:
    # 5 values in 250,000 rows: a 10,000-row sample most likely holds none of them.
    con.execute(
        "CREATE OR REPLACE TABLE sparse AS SELECT i, CASE WHEN i % 50000 = 20000 "
        "THEN 'note ' || i END AS remark FROM range(250000) t(i)"
    )
    for depth in ("quick", "standard"):
        remark = _profile(con, "sparse", depth).column("remark")
        assert remark is not None and remark.nulls == 249995
        assert remark.distinct is not None and 4 <= remark.distinct <= 6
        assert (remark.length_min, remark.length_max) == (10, 11)
        assert (remark.min, remark.max) == ("note 120000", "note 70000")


def test_quick_profile_again_keeps_its_edges(con: duckdb.DuckDBPyConnection) -> None:
    from agent_orchestrated_etl.quality.anomalies import detect

    con.execute(
        "CREATE OR REPLACE TABLE level AS SELECT 5000 + (i * 7919) % 1000 AS reading "
        "FROM range(20000) t(i)"
    )
    first = _profile(con, "level", "quick")
    again = _profile(con, "level", "quick", previous=first)
    old, new = first.column("reading"), again.column("reading")
    assert old is not None and new is not None
    assert old.histogram is not None and new.histogram is not None
    assert new.histogram.edges == old.histogram.edges and new.histogram.edges[0] == 5000
    assert sum(new.histogram.counts) == 20000
    assert [a for a in detect(again, first, AnomalySpec()) if a.kind == "drift"] == []
    # Values past the previous edges: extended by whole bins, never down to 0.
    assert new.histogram is not None
    new.histogram = Histogram(edges=[5100.0, 5500.0, 5900.0], counts=[10000, 10000])
    wider = _profile(con, "level", "quick", previous=again).column("reading")
    assert wider is not None and wider.histogram is not None
    assert wider.histogram.edges == [4700.0, 5100.0, 5500.0, 5900.0, 6300.0]
    assert sum(wider.histogram.counts) == 20000


def test_huge_doubles_do_not_overflow(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE huge AS SELECT i, 1e308 * (i % 2) AS half, "
        "1e308 * (i % 3 - 1) AS wide, i * 1e-200 AS tiny FROM range(3000) t(i)"
    )
    for depth in ("quick", "standard", "deep"):
        p = _profile(con, "huge", depth)
        half, wide, tiny = p.column("half"), p.column("wide"), p.column("tiny")
        assert half is not None and wide is not None and tiny is not None
        assert (half.min, half.max) == (0.0, 1e308) and (wide.min, wide.max) == (-1e308, 1e308)
        assert half.mean == pytest.approx(5e307) and half.std == pytest.approx(1e308 / 2, rel=1e-3)
        assert wide.mean == pytest.approx(0.0, abs=1e300)
        assert wide.std == pytest.approx(1e308 * (2 / 3) ** 0.5, rel=1e-3)
        assert tiny.std == pytest.approx(866.17e-200, rel=1e-3)  # small numbers keep theirs
        for column in (half, wide):
            assert column.histogram is not None and sum(column.histogram.counts) == 3000
            assert column.histogram.edges[0] == column.min
            assert column.histogram.edges[-1] == column.max


def _reported(con: duckdb.DuckDBPyConnection, name: str, depth: str) -> tuple[TableProfile, str]:
    """A profile, and everything shown of it: the profile, its anomalies and the HTML page."""
    from agent_orchestrated_etl.quality import QualityReport
    from agent_orchestrated_etl.quality.anomalies import detect
    from agent_orchestrated_etl.quality.html import render_html
    from agent_orchestrated_etl.quality.score import score

    p = _profile(con, name, depth)
    found = detect(p, None, AnomalySpec())
    report = QualityReport(profile=p, anomalies=found, score=score(p, found), history=[])
    shown = json.dumps(report.model_dump(mode="json"))
    return p, shown + render_html([report], title=name)


def test_personal_data_is_never_shown(con: duckdb.DuckDBPyConnection) -> None:
    # Placeholders in the first 10,000 rows, e-mail addresses after them.
    con.execute(
        "CREATE OR REPLACE TABLE late_mail AS SELECT i, CASE WHEN i < 10000 THEN 'n/a' "
        "ELSE 'u' || i || '@mail.test' END AS contact FROM range(250000) t(i)"
    )
    # A quarter of placeholders: 75 % e-mail addresses is personal data too.
    con.execute(
        "CREATE OR REPLACE TABLE some_mail AS SELECT i, CASE WHEN i % 4 = 0 THEN 'unknown' "
        "ELSE 'u' || i || '@mail.test' END AS contact FROM range(5000) t(i)"
    )
    # Three addresses among 250,000 categories: no sample sees them, yet one would be the
    # max and a rare category.
    con.execute(
        "CREATE OR REPLACE TABLE stray_mail AS SELECT i, CASE WHEN i >= 249997 "
        "THEN 'zed' || i || '@mail.test' ELSE ['fine', 'ok'][1 + i % 2] END AS contact "
        "FROM range(250000) t(i)"
    )
    for name in ("late_mail", "some_mail", "stray_mail"):
        for depth in ("quick", "standard", "deep"):
            p, shown = _reported(con, name, depth)
            contact = p.column("contact")
            assert contact is not None and contact.pii == "email", (name, depth)
            assert contact.top == [] and contact.min is None and contact.max is None
            assert "@mail.test" not in shown, (name, depth)


def test_a_wide_table_is_profiled_in_column_chunks(con: duckdb.DuckDBPyConnection) -> None:
    # 110 columns: the aggregates run as several SELECTs of at most CHUNK columns each.
    from agent_orchestrated_etl.quality._profile_columns import CHUNK

    width = 110
    assert width > 2 * CHUNK
    parts = ", ".join(
        f"i % 1000 + {k} AS n{k}" if k % 2 else f"'t{k}_' || (i % 3) AS s{k}" for k in range(width)
    )
    con.execute(f"CREATE OR REPLACE TABLE wide AS SELECT {parts} FROM range(2000) t(i)")
    p = _profile(con, "wide")
    assert len(p.columns) == width and p.rows == 2000
    for k in (1, 59, 109):
        n = p.column(f"n{k}")
        assert n is not None and (n.min, n.max) == (k, 999 + k)
        assert n.histogram is not None and sum(n.histogram.counts) == 2000
    for k in (0, 60, 108):
        s = p.column(f"s{k}")
        assert s is not None and [v.value for v in s.top] == [f"t{k}_0", f"t{k}_1", f"t{k}_2"]
        assert (s.distinct, s.distinct_exact) == (3, True)


def test_histogram_bins_hold_their_own_values(con: duckdb.DuckDBPyConnection) -> None:
    # Edges such as 0.9490500000000001 must reach DuckDB as that double, not as a DECIMAL
    # rounded to 0.94905 (whose bin then went to the last one).
    con.execute("CREATE OR REPLACE TABLE frac AS SELECT i / 1000 AS x FROM range(1000) t(i)")
    for depth in ("quick", "standard", "deep"):
        x = _profile(con, "frac", depth).column("x")
        assert x is not None and x.histogram is not None
        if depth == "quick":  # estimated from the t-digest's quantiles
            assert all(abs(n - 50) <= 1 for n in x.histogram.counts), x.histogram.counts
        else:
            assert x.histogram.counts == [50] * 20, depth


def test_one_extreme_value_does_not_blind_the_histogram(con: duckdb.DuckDBPyConnection) -> None:
    from agent_orchestrated_etl.quality.anomalies import detect

    spread = "(i * 7919) % 500 / 500 * 80 - 40"  # 500 values, none a key
    con.execute(
        f"CREATE OR REPLACE TABLE calm AS SELECT CASE WHEN i = 0 THEN 1e6 ELSE 100 + {spread} "
        "END AS v FROM range(5001) t(i)"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE moved AS SELECT 180 + {spread} AS v FROM range(5000) t(i)"
    )
    for depth in ("quick", "standard", "deep"):
        before = _profile(con, "calm", depth)
        v = before.column("v")
        assert v is not None and v.histogram is not None
        assert v.histogram.edges[0] == v.min and v.histogram.edges[-1] == 1e6
        assert sum(n > 0 for n in v.histogram.counts) >= 15, v.histogram.counts  # not all in one
        # The open last bin: from the 99th percentile to the extreme value.
        assert v.histogram.counts[-1] <= 60 and sum(v.histogram.counts) == 5001
        after = _profile(con, "moved", depth, previous=before)
        assert [a for a in detect(after, before, AnomalySpec()) if a.kind == "drift"], depth


def test_distinct_counts_and_text_keys_at_standard(con: duckdb.DuckDBPyConnection) -> None:
    # HyperLogLog counts 'u' || i (50,000 rows) as about 45,500 values, and 'p' || i*7919
    # (12,019 values) as about 12,200: more than the column holds.
    con.execute(
        "CREATE OR REPLACE TABLE users AS SELECT i AS id, 'u' || i AS username, "
        "CASE WHEN i % 50000 > 0 THEN 'p' || (i * 7919) END AS phone FROM range(50000) t(i)"
    )
    con.execute("CREATE OR REPLACE TABLE phones AS SELECT * FROM users WHERE id < 12020")
    for depth in ("quick", "standard"):
        assert _profile(con, "users", depth).candidate_keys == [["id"], ["username"]], depth
        phone = _profile(con, "phones", depth).column("phone")
        assert phone is not None and phone.distinct is not None
        assert phone.distinct <= phone.count - phone.nulls == 12019, depth


def test_history_follows_the_file_not_the_path_typed(work: Path, orch: DataOrchestrator) -> None:
    for folder in ("a", "b"):
        (work / folder).mkdir()
        (work / folder / "c.csv").write_text("id,v\n" + "".join(f"{i},{i}\n" for i in range(20)))
    first = orch.profile("a/c.csv")[0]
    assert first.profile.resource == f"{work / 'a' / 'c.csv'}#c"
    # The same file however typed: one history; a file of the same name elsewhere: its own.
    assert len(orch.profile("./a/c.csv")[0].history) == 2
    assert len(orch.profile(str(work / "a" / "c.csv"))[0].history) == 3
    assert len(orch.profile("b/c.csv")[0].history) == 1
    # A run's profile of its target is the history `aoetl profile` of that target reads.
    (work / "p.yaml").write_text(
        "name: c\nsource: a/c.csv\ntarget: duckdb:///w.duckdb\nquality:\n  profile: quick\n"
    )
    assert orch.run("p.yaml").status == "success"
    assert len(orch.profile("duckdb:///w.duckdb", table="c")[0].history) == 2
