"""Files whose content is not what their name says (found by a new user: one mislabelled file
stopped analyze, plan and run for the whole folder, with an error hiding the real format)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent_orchestrated_etl.connectors.files.source import FileSource
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.spec import FileSourceSpec
from tests.helpers import query, run_cli

CSV = b"id,v\n1,a\n2,b\n3,c\n"


def _mislabelled(folder: Path) -> None:
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2], "v": ["p", "q"]}), folder / "really_parquet.csv")
    (folder / "gz.csv.zst").write_bytes(gzip.compress(CSV))
    (folder / "plain.csv.gz").write_bytes(CSV)
    (folder / "tab.parquet").write_bytes(CSV)
    (folder / "rows.json").write_bytes(CSV.replace(b"id", b"n"))
    (folder / "good.csv").write_bytes(CSV)
    (folder / "noise.csv").write_bytes(bytes(range(256)) * 4)


def test_a_folder_reads_each_file_by_its_content_and_skips_what_fits_no_format(
    work: Path,
) -> None:
    _mislabelled(work / "mix")
    source = FileSource(FileSourceSpec(uri="mix"))
    found = {r.name: r for r in source.discover()}
    assert found["really_parquet"].format == "parquet"
    assert {found[n].format for n in ("gz", "plain", "tab", "rows")} == {"csv"}
    assert "mix/really_parquet.csv: named csv, read as parquet (its content)" in source.notes
    assert (
        "mix/plain.csv.gz: named gzip-compressed csv, read as uncompressed csv (its content)"
        in (source.notes)
    )
    assert any(
        n.startswith("skipped mix/noise.csv: named csv, but its content is binary")
        for n in source.notes
    )
    said = [str(d) for d in found["gz"].decisions]
    assert any(
        d.startswith("format: csv (gz.csv.zst is named zstd-compressed csv, read as gzip")
        for d in said
    )


def test_a_mislabelled_folder_loads_every_file(tmp_path: Path) -> None:
    _mislabelled(tmp_path / "mix")
    done = run_cli("run", "mix", "--to", "duckdb:///w.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    db = tmp_path / "w.duckdb"
    assert query(db, "SELECT count(*) FROM really_parquet") == [(2,)]
    for table in ("gz", "plain", "good"):
        assert query(db, f"SELECT sum(id) FROM {table}") == [(6,)]


@pytest.mark.parametrize(
    ("name", "body", "looks"),
    [
        ("x.csv", bytes(range(256)) * 4, "binary data"),
        ("x.parquet", b"just some words\n", "text that is not CSV"),
        (
            "x.csv.zst",
            b"\x28\xb5\x2f\xfd" + b"\x00garbage" * 50,
            "zstd data that does not decompress",
        ),
    ],
)
def test_a_lone_file_that_fits_no_format_is_one_line_and_exit_2(
    tmp_path: Path, name: str, body: bytes, looks: str
) -> None:
    (tmp_path / name).write_bytes(body)
    done = run_cli("analyze", name, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert f"{name} is named" in done.stderr and looks in done.stderr


def test_a_gzip_file_named_zst_is_read_not_a_crash(work: Path) -> None:
    (work / "one.csv.zst").write_bytes(gzip.compress(CSV))
    source = FileSource(FileSourceSpec(uri="one.csv.zst"))
    (resource,) = source.discover()
    assert resource.columns[:2] == (("id", "BIGINT"), ("v", "VARCHAR"))


def test_a_json_array_named_ndjson_is_a_mismatch_and_loads_its_records(tmp_path: Path) -> None:
    (tmp_path / "arr.ndjson").write_text('[{"x": 1}, {"x": 2}]\n')
    (tmp_path / "one.ndjson").write_text('{"x": 1}\n')  # one object on one line: NDJSON too
    report = run_cli("analyze", "arr.ndjson", "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    issues = [i for r in json.loads(report.stdout)["resources"] for i in r["issues"]]
    assert [i["detail"] for i in issues if i["kind"] == "format_mismatch"] == [
        "named as ndjson but its content is json; read as json"
    ]
    one = run_cli("analyze", "one.ndjson", "--json", cwd=tmp_path)
    assert "format_mismatch" not in one.stdout
    done = run_cli("run", "arr.ndjson", "--to", "duckdb:///w.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert query(tmp_path / "w.duckdb", "SELECT x FROM arr ORDER BY x") == [(1,), (2,)]


def test_a_single_unreadable_file_raises_a_user_error(work: Path) -> None:
    (work / "x.json").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(UserError, match=r"x\.json is named json, but its content is binary data"):
        FileSource(FileSourceSpec(uri="x.json")).discover()


def test_plain_ndjson_named_gz_loads(work: Path) -> None:
    # DuckDB's read_json takes compression 'uncompressed', not read_csv's 'none'.
    (work / "events.ndjson.gz").write_text('{"a": 1}\n{"a": 2}\n')
    proc = run_cli("run", "events.ndjson.gz", "--to", "duckdb:///w.duckdb", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert query(work / "w.duckdb", "SELECT a FROM events ORDER BY a") == [(1,), (2,)]
