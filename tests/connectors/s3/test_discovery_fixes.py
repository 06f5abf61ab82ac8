"""File-source discovery fixes on a real SeaweedFS bucket: day folders are one table, and a
mislabelled object is read by its content (DuckDB reads s3:// by name through httpfs)."""

from __future__ import annotations

import gzip
from pathlib import Path

from agent_orchestrated_etl.connectors.registry import locate
from agent_orchestrated_etl.connectors.s3.source import S3Source
from agent_orchestrated_etl.spec import S3Connection, S3SourceSpec
from tests.helpers import read_relation
from tests.servers import S3Server


def test_day_folders_and_a_mislabelled_object(s3_server: S3Server, work: Path) -> None:
    bucket = s3_server.bucket()
    client = s3_server.client()
    for day in ("2024-01-01", "2024-01-02"):
        body = gzip.compress(b"id,day\n%d,%s\n" % (int(day[-1]), day.encode()))
        client.put_object(Bucket=bucket, Key=f"logs/{day}/app.csv.gz", Body=body)
    client.put_object(Bucket=bucket, Key="logs/2024-01-03/app.csv.gz", Body=b"id,day\n3,x\n")
    uri = f"s3://{bucket}/logs/**/*.csv.gz"
    settings = S3Connection(
        endpoint_url=s3_server.endpoint,
        access_key_id=s3_server.key,
        secret_access_key=s3_server.secret,
        region=s3_server.region,
    )
    source = S3Source(S3SourceSpec(uri=uri, s3=settings), locate(uri), work / ".aoetl")
    try:
        found = {r.name: r for r in source.discover()}
        # The plain object named .gz is read by its content; one reader call takes one
        # codec, so it is a table of its own named after its folder, never a number.
        assert sorted(found) == ["app", "app_2024_01_03"]
        assert any("named gzip-compressed csv, read as uncompressed csv" in n for n in source.notes)
        rows = read_relation(
            source.relation(found["app"]), work / ".aoetl", "SELECT sum(id) FROM {r}"
        )
        assert rows == [(3,)]
        odd = read_relation(
            source.relation(found["app_2024_01_03"]), work / ".aoetl", "SELECT id FROM {r}"
        )
        assert odd == [(3,)]
    finally:
        source.close()
