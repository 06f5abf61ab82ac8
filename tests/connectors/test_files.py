from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors.files._sniff import detect_encoding
from agent_orchestrated_etl.connectors.files.fs import LocalFS
from agent_orchestrated_etl.connectors.files.source import FileSource
from agent_orchestrated_etl.errors import SourceNotFoundError, UnknownConnectorError
from agent_orchestrated_etl.spec import FileSourceSpec
from tests.helpers import FIXTURES, query


def load(orch: DataOrchestrator, source: str | Path, **kw: object) -> object:
    spec = orch.create_pipeline(str(source), "duckdb:///w.duckdb", **kw).spec  # type: ignore[arg-type]
    result = orch.run(spec)
    assert result.status == "success", result.error
    return result


def test_csv_with_quotes_and_commas_loads_exactly(orch: DataOrchestrator, work: Path) -> None:
    load(orch, FIXTURES / "orders.csv")
    rows = query(
        work / "w.duckdb", "SELECT id, name, amount, created::VARCHAR FROM orders ORDER BY id"
    )
    assert rows == [
        (1, "Alice", 10.5, "2024-01-01"),
        (2, "Bob, Jr.", 20.0, "2024-01-02"),
        (3, 'Carol "CJ"', 30.25, "2024-01-03"),
    ]


def test_semicolon_delimiter_and_unicode_are_sniffed(orch: DataOrchestrator, work: Path) -> None:
    load(orch, FIXTURES / "cities_semicolon.csv")
    assert query(
        work / "w.duckdb", "SELECT city, population FROM cities_semicolon ORDER BY id"
    ) == [
        ("Zürich", 421878),
        ("Genève", 203856),
    ]


def test_ragged_rows_are_quarantined_with_file_line_and_reason(
    orch: DataOrchestrator, work: Path
) -> None:
    result = load(orch, FIXTURES / "ragged_rows.csv")
    assert result.tables["ragged_rows"].rows_loaded == 2  # type: ignore[attr-defined]
    assert result.tables["ragged_rows"].rows_rejected == 2  # type: ignore[attr-defined]
    entries = orch_entries(orch, result.run_id)  # type: ignore[attr-defined]
    assert [(Path(e.file).name, e.line) for e in entries] == [
        ("ragged_rows.csv", 3),
        ("ragged_rows.csv", 4),
    ]
    assert "Expected Number of Columns" in entries[0].reason
    assert entries[0].payload == b"2,too,many,fields"


def orch_entries(orch: DataOrchestrator, run_id: str) -> list:  # type: ignore[type-arg]
    from agent_orchestrated_etl.state import StateStore

    return StateStore(orch.home).dlq_entries(run_id)


def test_values_that_do_not_parse_as_the_column_type_are_quarantined(
    orch: DataOrchestrator, work: Path
) -> None:
    lines = ["id,amount"] + [f"{i},{i}.25" for i in range(200)] + ["999,twelve", "1000,N/A"]
    (work / "amounts.csv").write_text("\n".join(lines) + "\n")
    result = load(orch, work / "amounts.csv")
    assert query(work / "w.duckdb", "SELECT typeof(amount) FROM amounts LIMIT 1") == [("DOUBLE",)]
    assert result.tables["amounts"].rows_rejected == 1  # type: ignore[attr-defined]
    (entry,) = orch_entries(orch, result.run_id)  # type: ignore[attr-defined]
    assert entry.line == 202
    assert "twelve" in entry.reason
    # A null token is NULL, not a bad value.
    assert query(work / "w.duckdb", "SELECT amount FROM amounts WHERE id = 1000") == [(None,)]


def test_undecodable_bytes_are_quarantined(orch: DataOrchestrator, work: Path) -> None:
    body = b"id,name\n" + b"".join(f"{i},name{i}\n".encode() for i in range(50))
    (work / "mixed.csv").write_bytes(body + b"51,caf\xe9\n")
    result = load(orch, work / "mixed.csv")
    assert result.tables["mixed"].rows_loaded == 50  # type: ignore[attr-defined]
    (entry,) = orch_entries(orch, result.run_id)  # type: ignore[attr-defined]
    assert "unicode" in entry.reason.lower()


def test_latin1_file_is_read_as_latin1(orch: DataOrchestrator, work: Path) -> None:
    (work / "legacy.csv").write_bytes("id,city\n1,Málaga\n2,Besançon\n".encode("latin-1"))
    load(orch, work / "legacy.csv")
    assert query(work / "w.duckdb", "SELECT city FROM legacy ORDER BY id") == [
        ("Málaga",),
        ("Besançon",),
    ]


def test_utf16_is_detected_by_bom() -> None:
    assert detect_encoding("a,b\n".encode("utf-16"))[0] == "utf-16"


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_csv(orch: DataOrchestrator, work: Path, compression: str) -> None:
    raw = (FIXTURES / "orders.csv").read_bytes()
    if compression == "gzip":
        (work / "orders.csv.gz").write_bytes(gzip.compress(raw))
        name = "orders.csv.gz"
    else:
        (work / "orders.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
        name = "orders.csv.zst"
    load(orch, work / name)
    assert query(work / "w.duckdb", "SELECT count(*), sum(amount) FROM orders") == [(3, 60.75)]


def test_json_array_keeps_nested_types(orch: DataOrchestrator, work: Path) -> None:
    load(orch, FIXTURES / "items_array.json")
    rows = query(work / "w.duckdb", "SELECT id, tags, meta.k FROM items_array ORDER BY id")
    assert rows == [(1, ["a"], "v"), (2, [], "w")]


def test_malformed_ndjson_lines_are_quarantined(orch: DataOrchestrator, work: Path) -> None:
    result = load(orch, FIXTURES / "events_bad.jsonl")
    assert query(work / "w.duckdb", "SELECT id, event FROM events_bad ORDER BY id") == [
        (1, "click"),
        (3, "buy"),
    ]
    (entry,) = orch_entries(orch, result.run_id)  # type: ignore[attr-defined]
    assert entry.line == 2
    assert entry.reason == "malformed JSON line"


def test_close_releases_the_connection_and_the_repaired_copies() -> None:
    source = FileSource(FileSourceSpec(uri=str(FIXTURES / "events_bad.jsonl")))
    relation = source.relation(source.discover()[0])
    assert [row.line for row in relation.extra_bad_rows] == [2]  # read from a repaired copy
    scratch = source.scratch()
    assert list(scratch.iterdir())
    source.close()
    assert not scratch.exists()
    with pytest.raises(duckdb.ConnectionException, match="closed"):
        source._con.execute("SELECT 1")
    source.close()  # a second close is harmless


def test_parquet_file(orch: DataOrchestrator, work: Path) -> None:
    table = pa.table({"id": [1, 2], "price": pa.array([1.5, None])})
    pq.write_table(table, work / "prices.parquet")
    load(orch, work / "prices.parquet")
    assert query(work / "w.duckdb", "SELECT * FROM prices ORDER BY id") == [(1, 1.5), (2, None)]


def test_directory_groups_files_by_name_and_header(work: Path) -> None:
    data = work / "exports"
    data.mkdir()
    for month in ("2024-01", "2024-02"):
        (data / f"orders_{month}.csv").write_text(f"id,amount\n1,{month[-1]}\n")
    (data / "customers.csv").write_text("id,name\n1,A\n")
    (data / "customers_2.csv").write_text("id,email\n1,a@x\n")  # same stem, other header
    (data / "notes.bin").write_bytes(b"\x00\x01")
    (data / ".hidden.csv").write_text("x\n1\n")
    source = FileSource(FileSourceSpec(uri=str(data)))
    resources = {r.name: r for r in source.discover()}
    assert sorted(resources) == ["customers", "customers_2", "orders"]
    assert len(resources["orders"].locations) == 2
    assert any("notes.bin" in note for note in source.notes)


def test_glob_with_table_loads_all_files_into_one_table(orch: DataOrchestrator, work: Path) -> None:
    for i in range(3):
        (work / f"part-{i}.csv").write_text(f"id,v\n{i},x{i}\n")
    load(orch, str(work / "part-*.csv"), table="parts")
    assert query(work / "w.duckdb", "SELECT count(*) FROM parts") == [(3,)]


def test_missing_source_and_unknown_format_are_user_errors(work: Path) -> None:
    with pytest.raises(SourceNotFoundError):
        FileSource(FileSourceSpec(uri=str(work / "nope.csv"))).discover()
    (work / "blob.xyz").write_bytes(b"\x00\x01\x02")
    with pytest.raises(UnknownConnectorError, match="known formats are csv, json, ndjson, parquet"):
        FileSource(FileSourceSpec(uri=str(work / "blob.xyz"))).discover()


def test_column_override_from_spec(orch: DataOrchestrator, work: Path) -> None:
    shutil.copy(FIXTURES / "orders.csv", work / "orders.csv")
    spec = orch.create_pipeline("orders.csv", "duckdb:///w.duckdb").spec
    spec = spec.model_copy(
        update={"source": spec.source.model_copy(update={"columns": {"amount": "DECIMAL(10,2)"}})}
    )
    assert orch.run(spec).status == "success"
    assert query(work / "w.duckdb", "SELECT typeof(amount) FROM orders LIMIT 1") == [
        ("DECIMAL(10,2)",)
    ]


def test_local_files_read_by_modification_time_past_the_mark(work: Path) -> None:
    import os

    from agent_orchestrated_etl.connectors import RowFilter
    from tests.helpers import read_relation

    folder = work / "events"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n2\n")
    (folder / "b.csv").write_text("id\n3\n")
    os.utime(folder / "a.csv", (1_700_000_000, 1_700_000_000))  # 2023-11-14 22:13:20 UTC
    settled = time.time() - 10  # older than the settle window
    os.utime(folder / "b.csv", (settled, settled))
    inc = {"*": {"cursor": "_object_modified"}}
    source = FileSource(FileSourceSpec(uri=str(folder), table="events", incremental=inc))
    (resource,) = source.discover()
    assert ("_object_modified", "TIMESTAMP WITH TIME ZONE") in resource.columns
    home = work / ".aoetl"
    everything = read_relation(source.relation(resource), home, "SELECT count(*) FROM {r}")
    assert everything == [(3,)]
    mark = RowFilter("_object_modified", ">", "2023-11-14 22:13:20+00", "TIMESTAMP WITH TIME ZONE")
    relation = source.relation(resource, mark)
    assert str(folder / "a.csv") not in relation.sql  # the older file is not read at all
    assert read_relation(relation, home, "SELECT id FROM {r}") == [(3,)]


def test_hidden_folders_below_the_source_are_skipped(work: Path) -> None:
    # An aoetl directory/S3 destination keeps its bookkeeping under _aoetl/: not tables.
    data = work / "_exports"  # the folder named itself may start with '_'
    for folder in ("", "sub", "_aoetl/commits", ".hidden", "sub/_tmp"):
        (data / folder).mkdir(parents=True, exist_ok=True)
        (data / folder / "t.csv").write_text("id\n1\n")
    (data / "_manifest.json").write_text("{}")
    fs = LocalFS()
    expect = [str(data / "sub" / "t.csv"), str(data / "t.csv")]
    assert [f.path for f in fs.list(str(data))] == expect
    assert [f.path for f in fs.list(f"{data}/**/*.csv")] == expect
    assert [f.path for f in fs.list(f"{data}/_aoetl/*/*.csv")] == [
        str(data / "_aoetl" / "commits" / "t.csv")
    ]
    found = FileSource(FileSourceSpec(uri=str(data))).discover()
    assert sorted(loc for r in found for loc in r.locations) == expect


def test_object_columns_join_each_row_to_its_file(work: Path) -> None:
    # A per-row lookup in a literal map of every file was rows x files (15x slower at 2,000
    # files); the files are now a relation joined on the path.
    import os

    from tests.helpers import read_relation

    folder = work / "parts"
    folder.mkdir()
    for i in range(60):
        pq.write_table(
            pa.table({"id": [i * 10 + j for j in range(10)]}), folder / f"p{i:02}.parquet"
        )
        os.utime(folder / f"p{i:02}.parquet", (1_700_000_000 + i, 1_700_000_000 + i))
    inc = {"*": {"cursor": "_object_modified"}}
    both = {"parts": {"cursor": "_object_key"}, "*": {"cursor": "_object_modified"}}
    for spec in (inc, both):
        source = FileSource(FileSourceSpec(uri=str(folder), table="parts", incremental=spec))
        (resource,) = source.discover()
        relation = source.relation(resource)
        cursor = "_object_key" if "parts" in spec else "_object_modified"
        plan = read_relation(relation, work / ".aoetl", "EXPLAIN SELECT * FROM {r}")
        assert "HASH_JOIN" in str(plan) and "MAP" not in relation.sql
        rows = read_relation(relation, work / ".aoetl", f"SELECT id, {cursor} FROM {{r}}")
        assert len(rows) == 600
        for ident, value in rows:
            i = int(ident) // 10  # type: ignore[call-overload]
            if cursor == "_object_key":
                assert value == str(folder / f"p{i:02}.parquet")
            else:
                assert value.timestamp() == 1_700_000_000 + i  # type: ignore[union-attr]


def test_files_modified_just_before_the_listing_wait_for_the_next_run(work: Path) -> None:
    # A file written in the mark's second after the listing was never loaded: the run that
    # set the mark now reads only files a settle window older than its listing.
    import os

    from agent_orchestrated_etl.connectors import RowFilter
    from tests.helpers import read_relation

    folder = work / "drop"
    folder.mkdir()
    (folder / "old.csv").write_text("id\n1\n")
    (folder / "new.csv").write_text("id\n2\n")
    old = time.time() - 60
    os.utime(folder / "old.csv", (old, old))
    inc = {"*": {"cursor": "_object_modified"}}
    source = FileSource(FileSourceSpec(uri=str(folder), table="drop", incremental=inc))
    (resource,) = source.discover()
    home = work / ".aoetl"
    assert read_relation(source.relation(resource), home, "SELECT id FROM {r}") == [(1,)]
    assert source.notes == [
        "drop: 1 file modified less than 2 s before the listing wait for the next run (an "
        "_object_modified cursor reads only files that have settled, so none written in the "
        "same second is skipped)"
    ]
    mark = RowFilter("_object_modified", ">", "2000-01-01 00:00:00+00", "TIMESTAMP WITH TIME ZONE")
    assert read_relation(source.relation(resource, mark), home, "SELECT id FROM {r}") == [(1,)]
    # The next run, once the file has settled, reads it.
    settled = time.time() - 3
    os.utime(folder / "new.csv", (settled, settled))
    source = FileSource(FileSourceSpec(uri=str(folder), table="drop", incremental=inc))
    (resource,) = source.discover()
    relation = source.relation(resource)
    assert read_relation(relation, home, "SELECT id FROM {r} ORDER BY id") == [(1,), (2,)]
    # A key cursor compares text, not times: nothing waits.
    keyed = FileSource(
        FileSourceSpec(uri=str(folder), table="drop", incremental={"*": {"cursor": "_object_key"}})
    )
    (folder / "newest.csv").write_text("id\n3\n")
    (resource,) = keyed.discover()
    assert read_relation(keyed.relation(resource), home, "SELECT count(*) FROM {r}") == [(3,)]


def test_a_head_cut_to_fit_the_cache_is_not_taken_for_the_whole_file(tmp_path: Path) -> None:
    from agent_orchestrated_etl.connectors.files.fs import CachedHeads, LocalFS

    heads = CachedHeads(LocalFS())
    heads.BUDGET = 30_000  # type: ignore[misc]
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"x" * 20_000)
    assert len(heads.head(str(tmp_path / "a"))) == 20_000
    assert len(heads.head(str(tmp_path / "b"))) == 20_000  # over budget: 8 KiB kept
    assert len(heads.head(str(tmp_path / "b"))) == 20_000  # read again, not cut
