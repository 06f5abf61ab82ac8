"""``analyze`` on an S3 prefix of the real SeaweedFS server (SigV4 enforced): the same report
as for a folder, read through the source's file system and DuckDB's httpfs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.errors import UserError
from tests.servers import S3Server


def _bytes(sql: str, options: str, tmp: Path) -> bytes:
    path = tmp / "out"
    duckdb.execute(f"COPY ({sql}) TO '{path}' ({options})")
    data = path.read_bytes()
    path.unlink()
    return data


@pytest.fixture
def lake(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.bucket()
    client = s3_server.client()
    objects = {
        "shop/customers.csv": _bytes(
            "SELECT range + 1 AS customer_id, 'c' || range || '@x.example' AS email FROM range(40)",
            "HEADER",
            tmp_path,
        ),
        "shop/orders/orders-1.parquet": _bytes(
            "SELECT range + 1 AS order_id, range % 40 + 1 AS customer_id FROM range(0, 50)",
            "FORMAT parquet",
            tmp_path,
        ),
        "shop/orders/orders-2.parquet": _bytes(
            "SELECT range + 1 AS order_id, range % 40 + 1 AS customer_id, 'web' AS channel "
            "FROM range(50, 80)",
            "FORMAT parquet",
            tmp_path,
        ),
        "shop/events.jsonl.gz": _bytes(
            "SELECT range AS event_id, 'click' AS kind FROM range(25)",
            "FORMAT json, COMPRESSION gzip",
            tmp_path,
        ),
        "shop/visits/year=2024/month=03/visits.parquet": _bytes(
            "SELECT range AS visit_id FROM range(5)", "FORMAT parquet", tmp_path
        ),
        "shop/empty.csv": b"",
        "shop/fake.json": b'{"a": 1}\n{"a": 2}\n',
    }
    for key, body in objects.items():
        client.upload_fileobj(io.BytesIO(body), bucket, key)
    return f"s3://{bucket}/shop/"


def test_an_s3_prefix_is_analysed_like_a_folder(lake: str, work: Path) -> None:
    report = DataOrchestrator().analyze(lake)
    assert report.kind == "s3" and report.method == "sample"
    customers = report.resource("customers")
    assert customers.primary_key == ("customer_id",)
    assert any(i.kind == "pii" and i.column == "email" for i in customers.issues)
    orders = report.resource("orders")
    assert orders.primary_key == ("order_id",) and orders.row_estimate == 80
    assert [str(r) for r in orders.references] == ["customer_id -> customers(customer_id)"]
    second = orders.files[1]
    assert second.path.startswith("s3://") and second.size_bytes > 0
    assert second.added == ("channel",) and second.rows == 30
    assert any(i.kind == "schema_drift" and i.detail == "adds channel" for i in orders.issues)
    (visits,) = [r for r in report.resources if r.files[0].path.endswith("visits.parquet")]
    assert visits.partitions == ("year", "month")
    assert visits.files[0].partitions == {"year": "2024", "month": "03"}
    events = report.resource("events")
    (file,) = events.files
    assert (file.format_by_extension, file.compression) == ("ndjson", "gzip")
    assert events.sampled_rows == 25 and events.primary_key == ("event_id",)
    kinds = {(i.kind, (i.file or "").rsplit("/", 1)[-1]) for i in report.all_issues()}
    assert {("empty_file", "empty.csv"), ("format_mismatch", "fake.json")} <= kinds


def test_secrets_never_appear_in_the_report(lake: str, s3_server: S3Server, work: Path) -> None:
    text = json.dumps(DataOrchestrator().analyze(lake).to_dict())
    assert s3_server.secret not in text and s3_server.key not in text


def test_a_wrong_secret_is_one_clear_error(
    lake: str, s3_server: S3Server, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(UserError) as caught:
        DataOrchestrator().analyze(lake)
    assert "not-the-secret" not in str(caught.value)
    assert "secret" in str(caught.value).lower() or "credential" in str(caught.value).lower()
