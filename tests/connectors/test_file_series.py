"""Table names of files in dated or numbered folders: one series, one table, names that stay
put when files are added (found by a new user: day folders became app_1…app_N, renumbered by
every new day, so rows landed in the wrong tables)."""

from __future__ import annotations

import gzip
from pathlib import Path

from agent_orchestrated_etl.connectors.files._names import assign
from agent_orchestrated_etl.connectors.files.source import FileSource
from agent_orchestrated_etl.spec import FileSourceSpec
from tests.helpers import query, run_cli, said


def _names(*paths: str, fmt: str = "csv") -> dict[str, str]:
    return {path: named.table for path, named in assign([(p, fmt) for p in paths]).items()}


def test_same_name_in_date_folders_is_one_table_named_after_the_file() -> None:
    days = [f"logs/2024-01-0{d}/app.csv.gz" for d in range(1, 6)]
    assert set(_names(*days).values()) == {"app"}
    assert set(_names("logs/2023-12-30/app.csv.gz", *days).values()) == {"app"}
    # Numbered and nested date folders too, and a lone day keeps the name its series takes.
    assert set(_names("s3://b/x/2024/01/02/e.json", "s3://b/x/2024/01/03/e.json").values()) == {"e"}
    assert _names("logs/2024-01-01/app.csv.gz") == {"logs/2024-01-01/app.csv.gz": "app"}
    named = assign([("logs/2024-01-01/app.csv", "csv"), ("logs/2024-01-02/app.csv", "csv")])
    assert (
        "differ only by a date or sequence part in their folders"
        in named["logs/2024-01-01/app.csv"].reason
    )


def test_same_stem_in_unrelated_folders_takes_the_folder_name_stably() -> None:
    two = _names("eu/app.csv", "us/app.csv")
    assert two == {"eu/app.csv": "eu_app", "us/app.csv": "us_app"}
    three = _names("ap/app.csv", "eu/app.csv", "us/app.csv")
    assert three == {**two, "ap/app.csv": "ap_app"}  # an addition renames nothing else
    # Series in each region's day folders: one table per region.
    days = _names("eu/2024-01-01/app.csv", "eu/2024-01-02/app.csv", "us/2024-01-01/app.csv")
    assert days["eu/2024-01-01/app.csv"] == days["eu/2024-01-02/app.csv"] == "eu_app"
    assert days["us/2024-01-01/app.csv"] == "us_app"
    # The nearest folders alike: as many as tell them apart.
    deep = _names("a/x/app.csv", "b/x/app.csv")
    assert deep == {"a/x/app.csv": "a_x_app", "b/x/app.csv": "b_x_app"}


def _day(root: Path, day: str, header: bytes = b"id,day") -> None:
    folder = root / "logs" / day
    folder.mkdir(parents=True)
    ids = int(day.replace("-", "")) % 1000
    (folder / "app.csv.gz").write_bytes(gzip.compress(header + b"\n%d,%s\n" % (ids, day.encode())))


def test_a_planned_pipeline_keeps_loading_each_day_into_one_table(tmp_path: Path) -> None:
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        _day(tmp_path, day)
    plan = run_cli(
        "plan", "logs/**/*.csv.gz", "--to", "duckdb:///w.duckdb", "-o", "g.yaml", cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr
    first = run_cli("run", "g.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    _day(tmp_path, "2023-12-30")  # an earlier day arrives late
    second = run_cli("run", "g.yaml", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    db = tmp_path / "w.duckdb"
    tables = query(
        db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    )
    assert [t for (t,) in tables if t.startswith("app")] == ["app"]
    assert query(db, "SELECT DISTINCT CAST(day AS VARCHAR) FROM app ORDER BY 1") == [
        ("2023-12-30",),
        ("2024-01-01",),
        ("2024-01-02",),
        ("2024-01-03",),
    ]


def test_a_day_with_another_header_is_named_after_its_folder_not_a_number(work: Path) -> None:
    for day in ("2024-01-01", "2024-01-02"):
        _day(work, day)
    _day(work, "2024-01-03", header=b"id,when")
    source = FileSource(FileSourceSpec(uri="logs/**/*.csv.gz"))
    found = {r.name: r for r in source.discover()}
    assert sorted(found) == ["app", "app_2024_01_03"]
    assert len(found["app"].locations) == 2
    _day(work, "2024-01-04", header=b"id,when")
    _day(work, "2023-12-31")
    source = FileSource(FileSourceSpec(uri="logs/**/*.csv.gz"))
    found = {r.name: r for r in source.discover()}
    assert sorted(found) == ["app", "app_2024_01_03"]
    assert [len(found[n].locations) for n in sorted(found)] == [3, 2]
    assert any("its header differs from app's files" in d for d in said(found["app_2024_01_03"]))


def test_a_split_table_has_one_table_decision_and_the_series_says_so(work: Path) -> None:
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        _day(work, day)
    _day(work, "2024-01-04", header=b"id,when")
    found = {r.name: r for r in FileSource(FileSourceSpec(uri="logs")).discover()}
    split = [d for d in said(found["app_2024_01_04"]) if d.startswith("table:")]
    assert split == ["table: app_2024_01_04 (its header differs from app's files)"]
    series = [d for d in said(found["app"]) if d.startswith("table:")]
    assert len(series) == 1
    assert "1 file with another header loads into a table of its own" in series[0]
