"""``aoetl run … --to s3://bucket/prefix/`` as a new user runs it, credentials from the
environment, against a real SeaweedFS server; and a load killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb

from tests.helpers import AOETL, run_cli
from tests.servers import S3Server

BIG_ROWS = 3_000_000


def keys(server: S3Server, bucket: str, prefix: str = "") -> list[str]:
    found = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in found)


def manifest_rows(server: S3Server, bucket: str, key: str) -> int:
    body = server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return int(json.loads(body)["rows"])


def test_run_to_an_s3_prefix_with_credentials_from_the_environment(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.bucket()
    (tmp_path / "orders.csv").write_text("id,amount\n1,9.5\n2,3.0\n")
    env = s3_server.env()
    proc = run_cli(
        "run", "orders.csv", "--to", f"s3://{bucket}/lake/", "--json", cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tables"]["orders"]["rows_loaded"] == 2
    assert manifest_rows(s3_server, bucket, "lake/orders/_manifest.json") == 2
    assert [k for k in keys(s3_server, bucket, "lake/orders/") if k.endswith(".parquet")]

    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "wrong-" + "7" * 30}
    refused = run_cli("run", "orders.csv", "--to", f"s3://{bucket}/lake/", cwd=tmp_path, env=wrong)
    assert refused.returncode == 2
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "SignatureDoesNotMatch" in lines[0], refused.stderr
    assert "Traceback" not in refused.stderr and wrong["AWS_SECRET_ACCESS_KEY"] not in (
        refused.stderr + refused.stdout
    )


def test_a_killed_load_leaves_nothing_visible_and_a_rerun_commits_once(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.bucket()
    data = tmp_path / "data"
    data.mkdir()
    (data / "small.csv").write_text("id\n1\n2\n3\n")
    duckdb.execute(
        f"COPY (SELECT i AS id, md5(i::VARCHAR) AS label FROM range({BIG_ROWS}) t(i)) "
        f"TO '{data / 'big.csv'}' (HEADER)"
    )
    env = {**os.environ, **s3_server.env(), "AOETL_HOME": str(tmp_path / ".aoetl")}
    target = f"s3://{bucket}/lake/"
    proc = subprocess.Popen(
        [AOETL, "run", "data", "--to", target, "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:  # kill it once the small table is staged, while the big one is being written
        deadline = time.time() + 60
        while not any(
            k.endswith("/small/_checkpoint.json")
            for k in keys(s3_server, bucket, "lake/_aoetl/staging/")
        ):
            assert proc.poll() is None and time.time() < deadline, "the load ended too soon"
            time.sleep(0.05)
        staged = keys(s3_server, bucket, "lake/_aoetl/staging/")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not any("/big/_checkpoint.json" in k for k in staged), "the big table was staged"
    assert keys(s3_server, bucket, "lake/small/") == []
    assert keys(s3_server, bucket, "lake/big/") == []

    again = run_cli("run", "data", "--to", target, "--json", cwd=tmp_path, env=s3_server.env())
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert any("resuming run" in note for note in result["notes"]), result["notes"]
    assert manifest_rows(s3_server, bucket, "lake/small/_manifest.json") == 3
    assert manifest_rows(s3_server, bucket, "lake/big/_manifest.json") == BIG_ROWS
    assert keys(s3_server, bucket, "lake/_aoetl/staging/") == []
    commits = keys(s3_server, bucket, "lake/_aoetl/commits/")
    assert len(commits) == 1  # one run, committed once


def test_what_the_destination_wrote_reads_back_as_its_tables(
    s3_server: S3Server, tmp_path: Path
) -> None:
    """Two runs into one table, then `aoetl analyze` of the prefix: one table named after its
    folder (the manifest and aoetl's own objects are not data)."""
    bucket = s3_server.bucket()
    env = s3_server.env()
    (tmp_path / "orders.csv").write_text("id,amount\n1,9.5\n2,3.0\n")
    (tmp_path / "more.csv").write_text("id,amount\n3,1.0\n")
    target = f"s3://{bucket}/lake/"
    for src in ("orders.csv", "more.csv"):
        proc = run_cli("run", src, "--to", target, "--table", "orders", cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
    names = [k.rsplit("/", 1)[-1] for k in keys(s3_server, bucket, "lake/orders/")]
    assert all(n.startswith("part-") for n in names if n != "_manifest.json"), names
    proc = run_cli("analyze", target, "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    tables = {r["name"]: r for r in json.loads(proc.stdout)["resources"]}
    assert list(tables) == ["orders"]
    assert tables["orders"]["row_estimate"] == 3 and len(tables["orders"]["files"]) == 2
