"""``analyze``: schema drift between the files of one table, and hive partitions."""

from __future__ import annotations

from pathlib import Path

import duckdb

from agent_orchestrated_etl import DataOrchestrator


def _copy(sql: str, path: Path, options: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.execute(f"COPY ({sql}) TO '{path}' ({options})")


def test_parquet_files_that_add_lose_and_retype_columns(
    orch: DataOrchestrator, tmp_path: Path
) -> None:
    root = tmp_path / "events"
    base = "SELECT range AS id, 'a' AS kind, range * 2 AS score FROM range({0}, {1})"
    _copy(base.format(0, 10), root / "events_2024-01.parquet", "FORMAT parquet")
    _copy(
        "SELECT range AS id, 'b' AS kind, range * 2 AS score, 'eu' AS region FROM range(10, 20)",
        root / "events_2024-02.parquet",
        "FORMAT parquet",
    )
    _copy(
        "SELECT range AS id, CAST(range AS VARCHAR) AS score FROM range(20, 30)",
        root / "events_2024-03.parquet",
        "FORMAT parquet",
    )
    report = orch.analyze(str(root))
    (events,) = report.resources
    first, second, third = events.files
    assert not first.drifted and first.rows == 10
    assert second.added == ("region",) and second.missing == ()
    assert third.missing == ("kind",)
    (conflict,) = third.type_conflicts
    assert (conflict.column, conflict.file_type) == ("score", "VARCHAR")
    drift = {Path(i.file or "").name: i.detail for i in events.issues if i.kind == "schema_drift"}
    assert drift == {
        "events_2024-02.parquet": "adds region",
        "events_2024-03.parquet": "lacks kind; score is VARCHAR here, BIGINT in the table's files",
    }
    assert events.row_estimate == 30 and events.primary_key == ("id",)
    as_json = events.to_dict()["files"][2]
    assert as_json["missing"] == ["kind"] and as_json["type_conflicts"][0]["column"] == "score"


def test_ndjson_and_csv_series_that_drift(orch: DataOrchestrator, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    (root / "logs-1.jsonl").write_text('{"id": 1, "msg": "a"}\n{"id": 2, "msg": "b"}\n')
    (root / "logs-2.jsonl").write_text('{"id": 3, "msg": "c", "level": 2}\n{"id": 4, "msg": "d"}\n')
    (root / "sales_2024-01.csv").write_text("id,amount\n1,10\n2,20\n")
    (root / "sales_2024-02.csv").write_text("id,amount\n3,30\n4,oops\n5,sold out\n")
    (root / "sales_2024-03.csv").write_text("id,amount,currency\n6,60,EUR\n")
    report = orch.analyze(str(root))
    logs = report.resource("logs")
    assert [f.added for f in logs.files] == [(), ("level",)]
    sales = report.resource("sales")
    # A file whose values are mostly not the column's type conflicts with the table.
    february = next(f for f in sales.files if f.path.endswith("02.csv"))
    assert [(c.column, c.file_type, c.table_type) for c in february.type_conflicts] == [
        ("amount", "VARCHAR", "BIGINT")
    ]
    # A header that differs makes its own table; the report compares it with the series.
    (split,) = [r for r in report.resources if r.name not in ("logs", "sales")]
    (march,) = split.files
    assert march.added == ("currency",)
    assert any(i.kind == "schema_drift" and "adds currency" in i.detail for i in split.issues)


def test_hive_partitions(orch: DataOrchestrator, tmp_path: Path) -> None:
    root = tmp_path / "sales"
    for year, month in (("2023", "12"), ("2024", "01"), ("2024", "02")):
        _copy(
            f"SELECT range AS sale_id, range * 1.5 AS amount FROM range({month}, {month} + 5)",
            root / f"year={year}" / f"month={month}" / "part-0.parquet",
            "FORMAT parquet",
        )
    report = orch.analyze(str(root))
    # However discovery groups the folders into tables, every file names its partitions.
    files = sorted((f for r in report.resources for f in r.files), key=lambda f: f.path)
    assert [f.partitions for f in files] == [
        {"year": "2023", "month": "12"},
        {"year": "2024", "month": "01"},
        {"year": "2024", "month": "02"},
    ]
    for resource in report.resources:
        assert resource.partitions == ("year", "month")
        assert resource.size_bytes == sum(f.size_bytes for f in resource.files) > 0
        assert resource.to_dict()["partitions"] == ["year", "month"]


def test_ndjson_schemas_from_first_records_agree_with_a_file_described_whole(
    tmp_path: Path,
) -> None:
    # A file whose first record is longer than the head read to tell formats apart is
    # described by DuckDB (TIMESTAMP, DATE, STRUCT(…)); the others are read from their first
    # records (JSON's types). Like is compared with like: no drift where there is none.
    import json

    folder = tmp_path / "events"
    folder.mkdir()
    for i in range(4):
        pad = "p" * 9000 if i == 3 else "p"
        rows = [
            {
                "id": j,
                "when": "2024-01-01T00:00:00",
                "day": "2024-01-02",
                "meta": {"a": 1},
                "pad": pad,
            }
            for j in range(5)
        ]
        (folder / f"e{i}.ndjson").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    report = DataOrchestrator().analyze(str(folder))
    assert [f.path for f in report.resources[0].files if f.drifted] == []
    odd = {"id": "x1", "when": "t", "day": "d", "meta": {"a": 1}, "pad": "p", "extra": 1}
    (folder / "e4.ndjson").write_text(json.dumps(odd) + "\n")
    (drifted,) = [
        f for f in DataOrchestrator().analyze(str(folder)).resources[0].files if f.drifted
    ]
    assert Path(drifted.path).name == "e4.ndjson" and drifted.added == ("extra",)
    assert [(c.column, c.file_type, c.table_type) for c in drifted.type_conflicts] == [
        ("id", "VARCHAR", "BIGINT")
    ]


def test_an_optional_ndjson_field_seen_after_the_first_records_is_no_drift(
    tmp_path: Path,
) -> None:
    import json

    folder = tmp_path / "events"
    folder.mkdir()
    for i in range(3):
        rows = [{"id": j, "v": "x"} for j in range(60)]
        # In the first file's first records; past them (where schemas are read from) in others.
        rows[5 if i == 0 else 40 + i]["note"] = "rare"
        (folder / f"e{i}.ndjson").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (events,) = DataOrchestrator().analyze(str(folder)).resources
    assert [f.path for f in events.files if f.drifted] == []
