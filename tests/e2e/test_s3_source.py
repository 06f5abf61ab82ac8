"""The S3 source end to end, as a new user runs it: ``aoetl run s3://…`` against a real
SeaweedFS server that enforces SigV4 signatures."""

from __future__ import annotations

import gzip
import io
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers import query, run_cli
from tests.servers import S3Server, free_port


def _put(s3: S3Server, bucket: str, objects: dict[str, bytes]) -> None:
    client = s3.client()
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


def _parquet(**columns: list[object]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def _run(*args: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    done = run_cli("run", *args, "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_prefix_of_mixed_formats_loads_into_duckdb(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    rows = b"".join(b"%d,%d.5\n" % (i, i) for i in range(3, 30))
    bad_csv = b"id,amount\n1,9.5\n2,oops\n" + rows
    _put(
        s3_server,
        bucket,
        {
            "exports/orders.csv": bad_csv,
            "exports/events.ndjson.gz": gzip.compress(b'{"id": 1}\n{"id": 2}\n{"id": 3}\n'),
            "exports/prices.parquet": _parquet(id=[1, 2], price=[1.5, 2.5]),
            "exports/README.md": b"# not data\n",
        },
    )
    out = _run(
        f"s3://{bucket}/exports/", "--to", "duckdb:///w.duckdb", cwd=work, env=s3_server.env()
    )
    db = work / "w.duckdb"
    assert query(db, "SELECT id, amount FROM orders ORDER BY id LIMIT 2") == [(1, 9.5), (3, 3.5)]
    assert query(db, "SELECT count(*) FROM orders") == [(28,)]
    assert query(db, "SELECT count(*) FROM events") == [(3,)]
    assert query(db, "SELECT sum(price) FROM prices") == [(4.0,)]
    tables = out["tables"]
    assert isinstance(tables, dict) and tables["orders"]["rows_rejected"] == 1
    dlq = run_cli("dlq", "list", "--json", cwd=work, env=s3_server.env())
    assert f"s3://{bucket}/exports/orders.csv" in dlq.stdout, dlq.stdout + dlq.stderr


def test_pipeline_file_with_env_references_and_hive_partitions(
    s3_server: S3Server, work: Path
) -> None:
    bucket = s3_server.bucket()
    _put(
        s3_server,
        bucket,
        {
            "sales/region=eu/day=2024-01-01/part-0.parquet": _parquet(id=[1, 2], amount=[5, 7]),
            "sales/region=us/day=2024-01-02/part-0.parquet": _parquet(id=[3], amount=[11]),
        },
    )
    (work / "pipeline.yaml").write_text(
        f"""
name: lake
source:
  uri: s3://{bucket}/sales/
  s3:
    endpoint_url: {s3_server.endpoint}
    region: {s3_server.region}
    access_key_id: ${{env:LAKE_KEY}}
    secret_access_key: ${{env:LAKE_SECRET}}
target: duckdb:///w.duckdb
"""
    )
    env = {"LAKE_KEY": s3_server.key, "LAKE_SECRET": s3_server.secret}
    _run("pipeline.yaml", cwd=work, env=env)
    got = query(
        work / "w.duckdb",
        "SELECT region, CAST(day AS VARCHAR), sum(amount) FROM sales GROUP BY ALL ORDER BY 1",
    )
    assert got == [("eu", "2024-01-01", 12), ("us", "2024-01-02", 11)]


def test_a_glob_loads_only_what_it_matches(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    _put(
        s3_server,
        bucket,
        {
            "logs/2024/01/a.csv.gz": gzip.compress(b"id,msg\n1,a\n"),
            "logs/2024/02/b.csv.gz": gzip.compress(b"id,msg\n2,b\n"),
            "logs/2024/02/c.csv": b"id,msg\n3,c\n",
        },
    )
    glob = f"s3://{bucket}/logs/**/*.csv.gz"
    _run(glob, "--table", "logs", "--to", "duckdb:///w.duckdb", cwd=work, env=s3_server.env())
    assert query(work / "w.duckdb", "SELECT id FROM logs ORDER BY id") == [(1,), (2,)]


def test_incremental_by_object_modification_time(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    _put(s3_server, bucket, {"in/e-1.csv": b"id\n1\n2\n"})
    (work / "pipeline.yaml").write_text(
        f"""
name: events
source:
  uri: s3://{bucket}/in/
  table: events
  incremental:
    events: {{cursor: _object_modified}}
target: duckdb:///w.duckdb
"""
    )
    env = s3_server.env()
    time.sleep(2.1)  # a run reads only objects that have settled (2 s before its listing)
    _run("pipeline.yaml", cwd=work, env=env)
    _put(s3_server, bucket, {"in/e-2.csv": b"id\n3\n"})
    waiting = _run("pipeline.yaml", cwd=work, env=env)  # most likely within 2 s of the put
    if waiting["tables"]["events"]["rows_loaded"] == 0:  # type: ignore[index]
        assert any("wait for the next run" in n for n in waiting["notes"])  # type: ignore[union-attr]
        time.sleep(2.1)
        second = _run("pipeline.yaml", cwd=work, env=env)
        assert second["tables"]["events"]["rows_loaded"] == 1  # type: ignore[index]
    else:  # a slow machine took over 2 s to list: the object had settled, and loads now
        assert waiting["tables"]["events"]["rows_loaded"] == 1  # type: ignore[index]
    rows = query(
        work / "w.duckdb", "SELECT id, _object_modified IS NOT NULL FROM events ORDER BY id"
    )
    assert rows == [(1, True), (2, True), (3, True)]
    third = _run("pipeline.yaml", cwd=work, env=env)
    assert third["status"] == "success"
    assert third["tables"]["events"]["rows_loaded"] == 0  # type: ignore[index]


def test_wrong_credentials_are_one_line_and_exit_2(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    _put(s3_server, bucket, {"x/a.csv": b"id\n1\n"})
    wrong = "Zz" + "9" * 30
    env = {**s3_server.env(), "AWS_SECRET_ACCESS_KEY": wrong}
    done = run_cli("run", f"s3://{bucket}/x/", "--to", "duckdb:///w.duckdb", cwd=work, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    text = done.stdout + done.stderr
    assert "SignatureDoesNotMatch" in text and "AWS_SECRET_ACCESS_KEY" in text
    assert wrong not in text and "Traceback" not in text
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_missing_bucket_exits_2(s3_server: S3Server, work: Path) -> None:
    done = run_cli(
        "run", "s3://no-such-bucket-anywhere/x/", "--to", "duckdb:///w.duckdb", cwd=work,
        env=s3_server.env(),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no-such-bucket-anywhere" in done.stderr and "Traceback" not in done.stderr


def test_a_store_that_is_down_exits_1_after_retries(s3_server: S3Server, work: Path) -> None:
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    done = run_cli("run", "s3://b/x/", "--to", "duckdb:///w.duckdb", cwd=work, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Could not connect" in done.stderr and "attempts" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 30
