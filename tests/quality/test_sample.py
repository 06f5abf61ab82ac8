"""``aoetl sample``: random, head and stratified draws of real files, a DuckDB database and
PostgreSQL, written atomically to CSV, Parquet, JSON and NDJSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.quality.sample import allocate
from tests.helpers import run_cli
from tests.servers import Postgres, RestApi

# Strata of 600, 300 and 100 rows, so a proportional share is easy to tell.
GROUPS = "CASE WHEN i < 600 THEN 'big' WHEN i < 900 THEN 'mid' ELSE 'small' END"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute(
        f"CREATE TABLE items AS SELECT i AS id, {GROUPS} AS grp, i * 1.5 AS price "
        f"FROM range(1000) r(i)"
    )
    con.execute("CREATE TABLE tags AS SELECT i AS id, 'tag' || i AS tag FROM range(20) r(i)")
    con.execute(f"COPY items TO {str(root / 'items.csv')!r} (HEADER)")
    con.close()
    return root


def ids(path: Path) -> list[int]:
    return [int(r[0]) for r in duckdb.sql(f"SELECT id FROM {str(path)!r}").fetchall()]


def test_random_draws_exactly_n_rows_and_the_seed_repeats_them(
    data: Path, orch: DataOrchestrator, work: Path
) -> None:
    first = orch.sample(str(data / "items.csv"), work / "a.parquet", rows=25, seed=7)
    orch.sample(str(data / "items.csv"), work / "b.parquet", rows=25, seed=7)
    other = orch.sample(str(data / "items.csv"), work / "c.parquet", rows=25, seed=8)
    assert (first.rows, first.rows_seen, first.method, first.seed) == (25, 1000, "random", 7)
    drawn = ids(work / "a.parquet")
    assert len(drawn) == len(set(drawn)) == 25
    assert drawn == ids(work / "b.parquet")
    assert set(drawn) != set(ids(work / "c.parquet"))
    assert other.seed == 8
    # No seed: a random one, reported, so the same sample can be drawn again.
    unseeded = orch.sample(str(data / "items.csv"), work / "d.parquet", rows=25)
    assert unseeded.seed is not None
    orch.sample(str(data / "items.csv"), work / "e.parquet", rows=25, seed=unseeded.seed)
    assert ids(work / "d.parquet") == ids(work / "e.parquet")
    # More rows asked than there are: every row, once.
    whole = orch.sample(str(data / "items.csv"), work / "all.csv", rows=5000, seed=1)
    assert whole.rows == 1000 and sorted(ids(work / "all.csv")) == list(range(1000))


def test_head_keeps_the_first_rows_in_order_as_a_json_array(
    data: Path, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.sample(str(data / "items.csv"), work / "head.json", rows=10, method="head")
    records = json.loads((work / "head.json").read_text())
    assert [r["id"] for r in records] == list(range(10))
    assert (result.rows, result.seed, result.rows_seen) == (10, None, None)


def test_stratified_shares_rows_in_proportion(
    data: Path, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.sample(
        str(data / "items.csv"), work / "s.ndjson", rows=50, method="stratified", by="grp", seed=3
    )
    lines = [json.loads(x) for x in (work / "s.ndjson").read_text().splitlines()]
    counts = Counter(r["grp"] for r in lines)
    assert result.rows == len(lines) == 50
    for grp, share in (("big", 0.6), ("mid", 0.3), ("small", 0.1)):
        assert abs(counts[grp] - 50 * share) <= 1
    again = orch.sample(
        str(data / "items.csv"), work / "t.ndjson", rows=50, method="stratified", by="grp", seed=3
    )
    assert again.rows == 50 and (work / "t.ndjson").read_text() == (work / "s.ndjson").read_text()


def test_allocation_is_proportional_with_one_row_for_every_stratum() -> None:
    assert allocate([600, 300, 100], 50) == [30, 15, 5]
    assert sum(allocate([997, 2, 1], 10)) == 10 and min(allocate([997, 2, 1], 10)) == 1
    assert allocate([5, 5], 100) == [5, 5]
    takes = allocate([10] * 30, 7)  # fewer rows than strata: seven strata get one each
    assert sorted(takes, reverse=True)[:8] == [1] * 7 + [0]
    for sizes, rows in (([1, 1, 1, 500, 40], 9), ([3, 3, 3], 8), ([9, 1], 2)):
        takes = allocate(sizes, rows)
        assert sum(takes) == rows and all(0 < t <= n for t, n in zip(takes, sizes, strict=True))


def test_a_duckdb_database_needs_its_table_named(
    data: Path, orch: DataOrchestrator, work: Path
) -> None:
    db = f"duckdb:///{data / 'warehouse.duckdb'}"
    with pytest.raises(UserError, match=r"2 tables; pick one with --table: items, tags"):
        orch.sample(db, work / "x.csv", rows=5)
    result = orch.sample(db, work / "tags.jsonl", rows=5, table="tags", seed=1)
    assert result.table == "tags" and result.rows_seen == 20
    assert len((work / "tags.jsonl").read_text().splitlines()) == 5
    with pytest.raises(UserError, match="the source itself"):
        orch.sample(str(data / "items.csv"), data / "items.csv", rows=5)


def test_postgres_gives_the_same_rows_whatever_order_it_returns_them_in(
    postgres: Postgres, orch: DataOrchestrator, work: Path
) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS sample_people")
        con.execute(
            "CREATE TABLE sample_people AS SELECT g AS id, 'p' || g AS label "
            "FROM generate_series(1, 300) g"
        )
    url = postgres.url()
    first = orch.sample(url, work / "a.csv", rows=12, table="sample_people", seed=5)
    with psycopg.connect(url, autocommit=True) as con:
        # Rewrites every row: the table now hands them over in another order.
        con.execute("UPDATE sample_people SET label = label WHERE id % 2 = 0")
    orch.sample(url, work / "b.csv", rows=12, table="sample_people", seed=5)
    assert first.rows_seen == 300
    assert sorted(ids(work / "a.csv")) == sorted(ids(work / "b.csv"))


def test_a_failed_write_leaves_the_old_file_and_no_part_file(
    data: Path, orch: DataOrchestrator, work: Path
) -> None:
    # A name the file system takes, but not with the temporary suffix: the COPY itself fails.
    output = work / ("x" * 240 + ".csv")
    output.write_text("old\n")
    with pytest.raises(UserError, match="cannot write the sample"):
        orch.sample(str(data / "items.csv"), output, rows=5, seed=1)
    assert output.read_text() == "old\n"
    assert sorted(p.name for p in work.iterdir() if p.name != ".aoetl") == [output.name]


def test_bad_options_say_what_to_fix(data: Path, orch: DataOrchestrator, work: Path) -> None:
    items = str(data / "items.csv")
    with pytest.raises(UserError, match="--rows must be at least 1"):
        orch.sample(items, work / "e.csv", rows=0)
    for options, says in (
        ({"method": "stratified", "by": "nope"}, "--by nope: table items has no such column"),
        ({"method": "sometimes"}, "use one of random, head, stratified"),
        ({"by": "grp"}, "--by grp is for --method stratified"),
        ({"anonymize_with": "scramble"}, "--with scramble: use one of fake, hash, mask"),
    ):
        with pytest.raises(UserError, match=says):
            orch.sample(items, work / "e.csv", rows=5, **options)  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"name it \.csv, \.parquet"):
        orch.sample(items, work / "e.xlsx", rows=5)
    with pytest.raises(UserError, match=r"the folder .*nowhere does not exist"):
        orch.sample(items, work / "nowhere" / "e.csv", rows=5)
    assert not (work / "e.csv").exists()


def test_cli_summary_json_and_one_line_errors(data: Path, work: Path) -> None:
    items = str(data / "items.csv")
    done = run_cli("sample", items, "--rows", "5", "--seed", "2", "-o", "s.csv", "--json", cwd=work)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 5
    assert done.stderr.strip() == "s.csv: 5 rows of 1,000 of items, random (seed 2); not anonymised"
    failed = run_cli(
        "sample", items, "-o", "e.csv", "--rows", "5", "--method", "stratified", cwd=work
    )
    assert failed.returncode == 2, failed.stderr
    says = "error: --method stratified needs --by COLUMN: the column whose values to keep\n"
    assert failed.stderr == says
    assert not (work / "e.csv").exists()


def test_a_rest_api_is_sampled_from_its_pages(
    rest_api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    rest_api.control(reset=True)
    result = orch.sample(
        f"{rest_api.url}/link/users", work / "users.csv", rows=7, seed=4, table="users",
        anonymize=True, anonymize_with="mask",
    )  # fmt: skip
    assert (result.rows, result.rows_seen) == (7, 250)
    assert result.anonymized["email"] == "mask (email)"
    emails = [r[0] for r in duckdb.sql(f"SELECT email FROM {str(work / 'users.csv')!r}").fetchall()]
    assert all(str(e).startswith("u") and "***@e******.com" in str(e) for e in emails)


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """1,000 rows, 90 % 'a' and 10 % 'b', in strata 0 and 1 of 500 rows (50 'b' each), written
    in two orders: every row has hundreds of identical copies."""
    root = tmp_path_factory.mktemp("dupes")
    con = duckdb.connect()
    for name, order in (("letters.csv", "i"), ("reversed.csv", "i DESC")):
        con.execute(
            f"COPY (SELECT CASE WHEN i % 20 < 2 THEN 'b' ELSE 'a' END AS letter, i % 2 AS grp "
            f"FROM range(1000) r(i) ORDER BY {order}) TO {str(root / name)!r} (HEADER)"
        )
    con.close()
    return root / "letters.csv", root / "reversed.csv"


def letter_counts(path: Path) -> Counter[str]:
    rows = duckdb.sql(f"SELECT letter, grp FROM {str(path)!r}").fetchall()
    return Counter(f"{r[0]}{r[1]}" for r in rows)


@pytest.mark.parametrize("method", ["random", "stratified"])
def test_identical_rows_are_drawn_in_proportion_and_whatever_the_order(
    letters: tuple[Path, Path], orch: DataOrchestrator, work: Path, method: str
) -> None:
    # Identical rows once shared one hash: a seed drew all 'a' or all 'b'. Each copy now has
    # its own key, and copies are interchangeable, so the draw still ignores the order.
    by = {"method": method, "by": "grp"} if method == "stratified" else {}
    bs = 0
    for seed in range(4):
        drawn = []
        for source in letters:
            out = work / f"{method}-{seed}-{source.stem}.csv"
            orch.sample(str(source), out, rows=20, seed=seed, **by)  # type: ignore[arg-type]
            drawn.append(letter_counts(out))
        assert drawn[0] == drawn[1], f"seed {seed}: the order of the source changed the draw"
        a = drawn[0]["a0"] + drawn[0]["a1"]
        assert sum(drawn[0].values()) == 20 and 14 <= a <= 20, (seed, drawn[0])
        if method == "stratified":
            assert drawn[0]["a0"] + drawn[0]["b0"] == 10 == drawn[0]["a1"] + drawn[0]["b1"]
        bs += 20 - a
    assert 3 <= bs <= 15  # about 2 in 20 over four seeds: 8 of 80


def test_an_empty_table_gives_an_empty_sample_by_every_method(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "empty.csv").write_text("id,grp\n")
    for method, by in (("random", None), ("stratified", "grp"), ("head", None)):
        out = work / f"empty-{method}.csv"
        result = orch.sample(str(work / "empty.csv"), out, rows=5, method=method, by=by, seed=1)
        assert result.rows == 0 and out.read_text().strip() in ("", "id,grp"), method


def test_with_or_salt_alone_anonymise_and_a_folder_output_is_named(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "c.csv").write_text("id,email\n1,ann@mail.org\n2,bob@mail.org\n3,cy@mail.org\n")
    for options in (["--with", "mask"], ["--salt", "s3cret-salt"]):
        done = run_cli("sample", "c.csv", "--rows", "3", *options, "-o", "s.csv", cwd=work)
        assert done.returncode == 0, done.stderr
        assert "email=" in done.stderr and "not anonymised" not in done.stderr, options
        assert "@mail.org" not in (work / "s.csv").read_text(), options
    with pytest.raises(UserError, match=r"^/ is a folder; give a file name such as /sample\.csv$"):
        orch.sample(str(work / "c.csv"), Path("/"), rows=3)
