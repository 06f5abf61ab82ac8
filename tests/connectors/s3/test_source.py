"""The S3 source against a real SeaweedFS server (SigV4 enforced): listing and globs,
formats, partitions, quarantine with the object's bytes, incremental reads by object, and
errors a user can act on."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agent_orchestrated_etl.connectors import RowFilter
from agent_orchestrated_etl.connectors.registry import locate
from agent_orchestrated_etl.connectors.s3._access import connect
from agent_orchestrated_etl.connectors.s3.fs import S3FS, glob_regex
from agent_orchestrated_etl.connectors.s3.source import S3Source
from agent_orchestrated_etl.data.duck import connect as connect_duckdb
from agent_orchestrated_etl.errors import SourceNotFoundError, TransientError, UserError
from agent_orchestrated_etl.spec import S3Connection, S3SourceSpec
from tests.helpers import read_relation
from tests.servers import S3Server


def _settings(s3: S3Server, secret: str | None = None) -> S3Connection:
    return S3Connection(
        endpoint_url=s3.endpoint,
        access_key_id=s3.key,
        secret_access_key=secret or s3.secret,
        region=s3.region,
    )


def _source(s3: S3Server, uri: str, **kw: Any) -> Any:
    spec = S3SourceSpec(uri=uri, s3=_settings(s3), **kw)
    return S3Source(spec, locate(uri), Path.cwd() / ".aoetl")


def _put(s3: S3Server, bucket: str, objects: dict[str, bytes]) -> None:
    client = s3.client()
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


def _parquet(**columns: list[object]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def test_glob_semantics() -> None:
    match = glob_regex("logs/**/*.csv.gz").fullmatch
    assert match("logs/a.csv.gz") and match("logs/2024/01/a.csv.gz")
    assert not match("logs/a.csv") and not match("other/logs/a.csv.gz")
    one = glob_regex("2024-*/x.parquet").fullmatch
    assert one("2024-01/x.parquet") and not one("2024-01/deep/x.parquet")
    assert glob_regex("d/part-[0-9]?.csv").fullmatch("d/part-1a.csv")
    assert not glob_regex("d/part-[!0-9].csv").fullmatch("d/part-1.csv")


def test_listing_prefix_key_glob_and_hidden(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    _put(
        s3_server,
        bucket,
        {
            "d/a.csv": b"id\n1\n",
            "d/sub/b.csv": b"id\n2\n",
            "d/_SUCCESS": b"",
            "d/.hidden.csv": b"id\n3\n",
            "d/c.json": b"[]",
            "dd/x.csv": b"id\n4\n",
        },
    )
    fs = S3FS(connect(_settings(s3_server)))
    names = [f.path for f in fs.list(f"s3://{bucket}/d/")]
    assert names == [
        f"s3://{bucket}/d/a.csv",
        f"s3://{bucket}/d/c.json",
        f"s3://{bucket}/d/sub/b.csv",
    ]
    # A key without a slash: the object itself, or a prefix when no such object exists.
    assert [f.path for f in fs.list(f"s3://{bucket}/d/a.csv")] == [f"s3://{bucket}/d/a.csv"]
    assert len(fs.list(f"s3://{bucket}/d")) == 3  # not dd/
    assert [f.name for f in fs.list(f"s3://{bucket}/d/**/*.csv")] == ["a.csv", "b.csv"]
    assert [f.name for f in fs.list(f"s3://{bucket}/d/*.csv")] == ["a.csv"]
    info = fs.list(f"s3://{bucket}/d/a.csv")[0]
    assert info.size == 5 and info.version and info.modified.tzinfo is not None
    assert fs.head(info.path, 3) == b"id\n"
    assert fs.read_range(info.path, 3, 10) == b"1\n"
    with fs.open(info.path) as fh:
        assert list(fh) == [b"id\n", b"1\n"]
    with pytest.raises(SourceNotFoundError, match="has no objects"):
        fs.list(f"s3://{bucket}/nothing/")
    with pytest.raises(SourceNotFoundError, match="NoSuchBucket"):
        fs.list("s3://no-such-bucket-here/x/")


def test_mixed_formats_compressed_become_one_table_each(s3_server: S3Server, work: Path) -> None:
    import zstandard

    bucket = s3_server.bucket()
    _put(
        s3_server,
        bucket,
        {
            "lake/orders.csv.gz": gzip.compress(b"id,amount\n1,9.5\n2,3.25\n"),
            "lake/events.jsonl.zst": zstandard.ZstdCompressor().compress(
                b'{"id": 1, "kind": "click"}\n{"id": 2, "kind": "buy"}\n'
            ),
            "lake/items.json": b'{"data": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]}',
            "lake/prices.parquet": _parquet(id=[1, 2], price=[1.5, None]),
            "lake/empty.csv": b"",
        },
    )
    source = _source(s3_server, f"s3://{bucket}/lake/")
    resources = {r.name: r for r in source.discover()}
    assert {n: r.format for n, r in resources.items()} == {
        "events": "ndjson",
        "items": "json",
        "orders": "csv",
        "prices": "parquet",
    }
    assert any("empty.csv" in note and "empty" in note for note in source.notes)
    assert source.endpoint == s3_server.endpoint.removeprefix("http://")
    home = work / ".aoetl"
    rows = {
        name: read_relation(source.relation(r), home, "SELECT count(*) FROM {r}")[0][0]
        for name, r in resources.items()
    }
    assert rows == {"events": 2, "items": 3, "orders": 2, "prices": 2}
    assert read_relation(
        source.relation(resources["orders"]), home, "SELECT sum(amount) FROM {r}"
    ) == [(12.75,)]
    source.close()


def test_hive_partitions_become_columns(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    _put(
        s3_server,
        bucket,
        {
            "sales/year=2024/month=01/part-0.parquet": _parquet(id=[1, 2]),
            "sales/year=2024/month=02/part-0.parquet": _parquet(id=[3]),
            "visits/year=2025/v.csv": b"id,page\n1,home\n",
            "visits/year=2026/v.csv": b"id,page\n2,cart\n3,home\n",
        },
    )
    source = _source(s3_server, f"s3://{bucket}/")
    resources = {r.name: r for r in source.discover()}
    sales, visits = resources["sales"], resources["visits"]
    assert sorted(c for c, _ in sales.columns) == ["id", "month", "year"]
    assert [c for c, _ in visits.columns] == ["id", "page", "year"]
    assert any(d.what == "partitions" and d.value == "year" for d in visits.decisions)
    home = work / ".aoetl"
    got = read_relation(
        source.relation(sales),
        home,
        "SELECT year, month, count(*) FROM {r} GROUP BY ALL ORDER BY ALL",
    )
    assert got == [(2024, "01", 2), (2024, "02", 1)]  # '01' keeps its zero
    got = read_relation(source.relation(visits), home, "SELECT id, year FROM {r} ORDER BY id")
    assert got == [(1, 2025), (2, 2026), (3, 2026)]
    off = _source(s3_server, f"s3://{bucket}/visits/", hive_partitioning=False)
    assert [c for c, _ in off.discover()[0].columns] == ["id", "page"]


def test_malformed_csv_row_keeps_its_object_bytes_and_line(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    body = b"id,name,amount\n" + b"".join(b"%d,n%d,%d.5\n" % (i, i, i) for i in range(40))
    body += b"41,caf\xe9,x,y,z\n42,ok,1.0\n"
    _put(s3_server, bucket, {"in/orders.csv": body})
    source = _source(s3_server, f"s3://{bucket}/in/")
    (resource,) = source.discover()
    relation = source.relation(resource)
    con = connect_duckdb(home=work / ".aoetl")  # the rejects live in the connection that read
    relation.attach(con)
    assert con.execute(f"SELECT count(*) FROM ({relation.sql})").fetchall() == [(41,)]
    (bad,) = relation.bad_rows()
    con.close()
    assert bad.file == f"s3://{bucket}/in/orders.csv"
    assert bad.line == 42
    assert bad.raw == b"41,caf\xe9,x,y,z"  # the object's own bytes, not DuckDB's decoded text


def test_fingerprint_follows_the_etag(s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    _put(s3_server, bucket, {"f/a.csv": b"id\n1\n"})
    (resource,) = _source(s3_server, f"s3://{bucket}/f/").discover()
    before = _source(s3_server, f"s3://{bucket}/f/").fingerprint(resource)
    _put(s3_server, bucket, {"f/a.csv": b"id\n2\n"})
    after = _source(s3_server, f"s3://{bucket}/f/")
    after.discover()
    assert after.fingerprint(resource) != before


def test_object_cursor_reads_only_objects_past_the_mark(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    _put(s3_server, bucket, {"ev/e1.csv": b"id\n1\n2\n", "ev/e2.csv": b"id\n3\n"})
    inc = {"*": {"cursor": "_object_key"}}
    source = _source(s3_server, f"s3://{bucket}/ev/*.csv", table="ev", incremental=inc)
    (resource,) = source.discover()
    assert ("_object_key", "VARCHAR") in resource.columns
    home = work / ".aoetl"
    rows = read_relation(
        source.relation(resource), home, "SELECT id, _object_key FROM {r} ORDER BY id"
    )
    assert rows == [(1, "ev/e1.csv"), (2, "ev/e1.csv"), (3, "ev/e2.csv")]
    past = RowFilter("_object_key", ">", "ev/e1.csv", "VARCHAR")
    relation = source.relation(resource, past)
    assert f"s3://{bucket}/ev/e1.csv" not in relation.sql  # the file is not read at all
    assert read_relation(relation, home, "SELECT id FROM {r}") == [(3,)]
    none = RowFilter("_object_key", ">", "ev/e2.csv", "VARCHAR")
    assert read_relation(source.relation(resource, none), home, "SELECT count(*) FROM {r}") == [
        (0,)
    ]


def test_wrong_secret_is_a_user_error_without_the_secret(s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    _put(s3_server, bucket, {"x/a.csv": b"id\n1\n"})
    wrong = "W" * 40
    spec = S3SourceSpec(uri=f"s3://{bucket}/x/", s3=_settings(s3_server, secret=wrong))
    with pytest.raises(UserError) as caught:
        S3Source(spec, locate(spec.uri), Path.cwd() / ".aoetl").discover()
    text = str(caught.value)
    assert "SignatureDoesNotMatch" in text and "s3.secret_access_key" in text
    assert wrong not in text and "\n" not in text


def test_a_store_that_does_not_answer_is_transient(s3_server: S3Server) -> None:
    from tests.servers import free_port

    spec = S3SourceSpec(
        uri="s3://b/x/",
        s3=S3Connection(
            endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="k", secret_access_key="s"
        ),
    )
    with pytest.raises(TransientError, match=r"check s3\.endpoint_url"):
        S3Source(spec, locate(spec.uri), Path.cwd() / ".aoetl").discover()


def test_duckdb_refused_by_the_store_is_a_user_error_naming_the_settings(
    s3_server: S3Server,
) -> None:
    import dataclasses

    from agent_orchestrated_etl.connectors.files.source import FileSource

    bucket = s3_server.bucket()
    _put(s3_server, bucket, {"p/a.parquet": _parquet(id=[1])})
    wrong = "Q" * 40
    # boto3 lists with the right key; DuckDB's httpfs signs with a wrong one.
    access = dataclasses.replace(connect(_settings(s3_server)), secret=wrong)
    uri = f"s3://{bucket}/p/"
    spec = S3SourceSpec(uri=uri, s3=_settings(s3_server))
    where = dataclasses.replace(locate(uri), path=uri)
    source = FileSource(spec, where, Path.cwd() / ".aoetl", fs=S3FS(access))
    with pytest.raises(UserError) as caught:
        source.discover()
    text = str(caught.value)
    assert "403" in text and "s3.secret_access_key" in text
    assert wrong not in text and s3_server.secret not in text


def test_bookkeeping_and_hidden_folders_are_not_tables(s3_server: S3Server, work: Path) -> None:
    # Reading an S3 destination's prefix must not return aoetl's _aoetl/ records as data.
    bucket = s3_server.bucket()
    _put(
        s3_server,
        bucket,
        {
            "_out/t/part-0.csv": b"id\n1\n",
            "_out/_aoetl/commits/c1.json": b'{"a": 1}',
            "_out/_aoetl/staging/r1/t/part-0.csv": b"id\n9\n",
            "_out/.hidden/x.csv": b"id\n8\n",
            "_out/t/_manifest.json": b"{}",
        },
    )
    fs = S3FS(connect(_settings(s3_server)))
    expect = [f"s3://{bucket}/_out/t/part-0.csv"]
    assert [f.path for f in fs.list(f"s3://{bucket}/_out/")] == expect
    assert [f.path for f in fs.list(f"s3://{bucket}/_out/**/*.csv")] == expect
    assert len(fs.list(f"s3://{bucket}/_out/_aoetl/commits/")) == 1  # named: read
    (resource,) = _source(s3_server, f"s3://{bucket}/_out").discover()
    assert resource.locations == tuple(expect)


def test_objects_written_in_the_marks_second_are_not_lost(s3_server: S3Server, work: Path) -> None:
    # S3 keeps LastModified to the second: an object written after the listing in the second
    # of the mark was never loaded. A run now reads only objects a settle window older than
    # the store's clock at its listing, so the next run's mark cannot pass an unread object.
    import time

    bucket = s3_server.bucket()
    inc = {"*": {"cursor": "_object_modified"}}
    home = work / ".aoetl"
    _put(s3_server, bucket, {"in/a.csv": b"id\n1\n"})
    first = _source(s3_server, f"s3://{bucket}/in/", table="ev", incremental=inc)
    (resource,) = first.discover()
    ((count,),) = read_relation(first.relation(resource), home, "SELECT count(*) FROM {r}")
    if count == 0:  # listed within 2 s of the put (a slow machine may take longer: then 1)
        assert any("1 file modified less than 2 s before the listing" in n for n in first.notes)
    _put(s3_server, bucket, {"in/b.csv": b"id\n2\n"})  # the same second, after the listing
    time.sleep(2.1)
    second = _source(s3_server, f"s3://{bucket}/in/", table="ev", incremental=inc)
    (resource,) = second.discover()
    sql = "SELECT id, CAST(_object_modified AS VARCHAR) FROM {r} ORDER BY id"
    rows = read_relation(second.relation(resource), home, sql)
    assert [r[0] for r in rows] == [1, 2] and not second.notes
    mark = RowFilter("_object_modified", ">", str(rows[-1][1]), "TIMESTAMP WITH TIME ZONE")
    assert read_relation(second.relation(resource, mark), home, "SELECT id FROM {r}") == []


def test_discovery_lists_once_and_reads_each_head_once(s3_server: S3Server, work: Path) -> None:
    # 10 CSV objects took 2 listings and 41 GETs: each step read the object's start again.
    bucket = s3_server.bucket()
    _put(s3_server, bucket, {f"m/t{i}.csv": b"id,v\n1,a\n2,b\n" for i in range(10)})
    source = _source(s3_server, f"s3://{bucket}/m/", table="m")
    calls: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    source.fs.inner._client.meta.events.register("before-call.s3", count)
    (resource,) = source.discover()
    assert len(source.files()) == 10 and len(resource.locations) == 10
    assert calls == {"ListObjectsV2": 1, "GetObject": 10}
    assert source.fs.head(resource.locations[0], 4) == b"id,v"  # from the cache
    assert calls == {"ListObjectsV2": 1, "GetObject": 10}


def test_a_key_duckdb_cannot_name_is_skipped_not_the_whole_prefix(
    s3_server: S3Server, work: Path
) -> None:
    bucket = s3_server.bucket()
    body = b"id,v\n1,a\n"
    _put(s3_server, bucket, {"odd/hash#1.csv": body, "odd/q?x.csv": body, "odd/ok.csv": body})
    source = _source(s3_server, f"s3://{bucket}/odd/")
    (table,) = source.discover()
    assert table.locations == (f"s3://{bucket}/odd/ok.csv",)
    said = " ".join(source.notes)
    assert "hash#1.csv: its key holds #" in said and "q?x.csv: its key holds ?" in said
    source.close()
