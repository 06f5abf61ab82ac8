"""The S3 destination against a real SeaweedFS server (SigV4 enforced)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors.base import Location, StagedTable
from agent_orchestrated_etl.connectors.s3.target import S3Destination
from agent_orchestrated_etl.data.duck import Relation, connect
from agent_orchestrated_etl.errors import FatalError, SchemaConflictError, UserError
from agent_orchestrated_etl.spec import PipelineSpec, S3Connection, TargetSpec
from tests.servers import S3Server


@pytest.fixture
def lake(s3_server: S3Server, work: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; the process's AWS_* variables point at the server."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server.bucket()


def keys(server: S3Server, bucket: str, prefix: str = "") -> list[str]:
    found = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in found)


def manifest(server: S3Server, bucket: str, key: str) -> dict[str, Any]:
    body = server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    data: dict[str, Any] = json.loads(body)
    return data


def read(server: S3Server, sql: str) -> list[tuple[Any, ...]]:
    """``sql`` run by a plain DuckDB reading S3 through httpfs, as any reader would."""
    con = connect(home=Path.cwd() / ".aoetl")
    host = server.endpoint.removeprefix("http://")
    con.execute("LOAD httpfs")
    con.execute(
        f"CREATE SECRET (TYPE s3, KEY_ID '{server.key}', SECRET '{server.secret}', "
        f"ENDPOINT '{host}', URL_STYLE 'path', USE_SSL false, REGION '{server.region}')"
    )
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def from_manifest(server: S3Server, bucket: str, prefix: str, table: str) -> list[Any]:
    """The table's rows as a reader that honours the manifest sees them."""
    doc = manifest(server, bucket, f"{prefix}{table}/_manifest.json")
    files = [f"s3://{bucket}/{prefix}{table}/{f['path']}" for f in doc["files"]]
    reader = "read_parquet" if doc["file_format"] == "parquet" else "read_csv"
    hive = "true" if doc["partition_by"] else "false"
    names = ", ".join(f'"{n}"' for n, _ in doc["columns"])
    return read(
        server,
        f"SELECT {names} FROM {reader}({files!r}, union_by_name=true, "
        f"hive_partitioning={hive}) ORDER BY ALL",
    )


def with_target(spec: PipelineSpec, **fields: Any) -> PipelineSpec:
    return spec.model_copy(update={"target": spec.target.model_copy(update=fields)})


def csv(work: Path, name: str, text: str) -> str:
    (work / name).write_text(text)
    return str(work / name)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_each_mode_publishes_a_manifest_and_nothing_else(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path, fmt: str
) -> None:
    a = csv(work, "a.csv", "id,v\n1,a\n2,b\n")
    b = csv(work, "b.csv", "id,v\n2,B\n3,c\n")
    target = f"s3://{lake}/out/"

    def run(src: str, **options: Any) -> None:
        spec = with_target(orch.create_pipeline(src, target, table="t", **options).spec, format=fmt)
        result = orch.run(spec)
        assert result.status == "success", result.error

    run(a)
    run(b)
    assert from_manifest(s3_server, lake, "out/", "t") == [(1, "a"), (2, "B"), (2, "b"), (3, "c")]
    run(b, mode="merge", key="id")
    assert from_manifest(s3_server, lake, "out/", "t") == [(1, "a"), (2, "B"), (3, "c")]
    doc = manifest(s3_server, lake, "out/t/_manifest.json")
    assert doc["mode"] == "merge" and doc["rows"] == 3 and doc["file_format"] == fmt
    assert doc["columns"] == [["id", "BIGINT"], ["v", "VARCHAR"]]
    # the files the merge rewrote are gone: every data file under t/ is in the manifest
    data = [k for k in keys(s3_server, lake, "out/t/") if not k.endswith("_manifest.json")]
    assert sorted(f"out/t/{f['path']}" for f in doc["files"]) == data
    run(a, mode="replace")
    assert from_manifest(s3_server, lake, "out/", "t") == [(1, "a"), (2, "b")]
    glob = f"s3://{lake}/out/t/*.{fmt}"
    assert read(s3_server, f"SELECT * FROM '{glob}' ORDER BY ALL") == [(1, "a"), (2, "b")]
    # staging and intents are gone; only committed-run records stay beside the tables
    meta = keys(s3_server, lake, "out/_aoetl/")
    assert meta and all(k.startswith("out/_aoetl/commits/") for k in meta)


def test_partitioned_merge_rewrites_only_the_files_it_touches(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    a = csv(work, "a.csv", "id,region,amount\n1,eu,10\n2,us,20\n3,eu,30\n")
    b = csv(work, "b.csv", "id,region,amount\n3,eu,33\n4,eu,40\n")
    target = f"s3://{lake}/sales/"
    first = with_target(
        orch.create_pipeline(a, target, table="orders").spec, partition_by=("region",)
    )
    assert orch.run(first).status == "success"
    before = keys(s3_server, lake, "sales/orders/")
    assert [k.split("/")[2] for k in before if "region=" in k] == ["region=eu", "region=us"]
    us_file = next(k for k in before if "region=us" in k)
    merge = orch.create_pipeline(b, target, table="orders", mode="merge", key="id").spec
    result = orch.run(with_target(merge, partition_by=("region",)))
    assert result.status == "success", result.error
    assert from_manifest(s3_server, lake, "sales/", "orders") == [
        (1, "eu", 10),
        (2, "us", 20),
        (3, "eu", 33),
        (4, "eu", 40),
    ]
    after = keys(s3_server, lake, "sales/orders/")
    assert us_file in after  # the us partition held no key of the load: untouched
    doc = manifest(s3_server, lake, "sales/orders/_manifest.json")
    assert doc["partition_by"] == ["region"] and doc["rows"] == 4
    assert doc["superseded"] and all(p.startswith("region=eu/") for p in doc["superseded"])
    hive = read(
        s3_server,
        f"SELECT region, sum(amount) FROM read_parquet('s3://{lake}/sales/orders/*/*.parquet', "
        "hive_partitioning=true) GROUP BY ALL ORDER BY ALL",
    )
    assert hive == [("eu", 83), ("us", 20)]


def test_a_duckdb_table_loads_and_appends_with_a_new_column(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    db = work / "src.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE items AS SELECT i AS id, 'n' || i AS name FROM range(100) t(i)")
    con.close()
    target = f"s3://{lake}/wh"
    result = orch.run(orch.create_pipeline(f"duckdb:///{db}", target))
    assert result.status == "success", result.error
    assert result.tables["items"].rows_loaded == 100
    more = csv(work, "more.csv", "id,name,extra\n100,n100,x\n")
    result = orch.run(orch.create_pipeline(more, target, table="items"))
    assert result.status == "success", result.error
    doc = manifest(s3_server, lake, "wh/items/_manifest.json")
    assert doc["rows"] == 101 and doc["columns"][-1] == ["extra", "VARCHAR"]
    rows = from_manifest(s3_server, lake, "wh/", "items")
    assert rows[-1] == (100, "n100", "x") and rows[0] == (0, "n0", None)


def test_a_failed_run_leaves_nothing_visible_and_no_staging(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    folder = work / "in"
    folder.mkdir()
    (folder / "good.csv").write_text("id,v\n1,a\n2,b\n")
    rows = "".join(f"{i},{i * 1.5}\n" for i in range(1, 201))
    (folder / "bad.csv").write_text(f"id,amount\n{rows}201,2,extra\n")
    spec = orch.create_pipeline(str(folder), f"s3://{lake}/out/", max_bad_rows=0).spec
    result = orch.run(spec)
    assert result.status == "failed"
    assert keys(s3_server, lake, "out/good/") == [] and keys(s3_server, lake, "out/bad/") == []
    assert keys(s3_server, lake, "out/_aoetl/staging/") == []


def test_a_type_conflict_is_one_clear_error_and_the_table_stays(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    target = f"s3://{lake}/out/"
    first = orch.run(orch.create_pipeline(csv(work, "a.csv", "id\n1\n"), target, table="t"))
    assert first.status == "success", first.error
    before = keys(s3_server, lake, "out/t/")
    text = csv(work, "b.csv", "id\n2024-01-01\n")
    result = orch.run(orch.create_pipeline(text, target, table="t"))
    assert result.status == "failed" and result.exit_code == 2
    assert "column 'id'" in (result.error or "") and "\n" not in (result.error or "")
    assert keys(s3_server, lake, "out/t/") == before


def test_objects_it_did_not_write_are_never_mixed_with(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    s3_server.client().put_object(Bucket=lake, Key="out/t/theirs.parquet", Body=b"x")
    src = csv(work, "a.csv", "id\n1\n")
    result = orch.run(orch.create_pipeline(src, f"s3://{lake}/out/", table="t"))
    assert result.status == "failed" and result.exit_code == 2
    assert "did not write" in (result.error or "")
    assert keys(s3_server, lake, "out/") == ["out/t/theirs.parquet"]


def _destination(bucket: str, home: Path, **target: Any) -> S3Destination:
    uri = f"s3://{bucket}/d/"
    spec = TargetSpec(uri=uri, **target)
    return S3Destination(spec, Location("s3", f"{bucket}/d/", uri, uri), home=home)


def test_staged_reads_back_the_run_and_discard_drops_it(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    dest = _destination(lake, work / ".aoetl", partition_by=("p",))
    dest.begin("run1", "pipe")
    relation = Relation("SELECT i AS id, i % 2 AS p FROM range(6) t(i)")
    loaded = dest.write(
        "t", relation, mode="append", key=(), fingerprint="f1", record_bad=lambda rows: None
    )
    assert loaded.rows_loaded == 6
    assert dest.checkpoints()["t"].fingerprint == "f1"
    staged = dest.staged("t")
    con = connect(home=work / ".aoetl")
    staged.attach(con)
    assert con.execute(f"SELECT * FROM ({staged.sql}) ORDER BY id").fetchall() == [
        (i, i % 2) for i in range(6)
    ]
    con.close()
    assert keys(s3_server, lake, "d/t/") == []  # staged, not visible
    dest.discard()
    assert keys(s3_server, lake, "d/") == []
    with pytest.raises(FatalError, match="nothing staged"):
        dest.staged("t")


def test_a_commit_stopped_while_publishing_is_finished_once_by_the_next_run(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    home = work / ".aoetl"
    dest = _destination(lake, home)
    dest.begin("run1", "pipe")
    relation = Relation("SELECT i AS id FROM range(5) t(i)")
    dest.write("t", relation, mode="append", key=(), fingerprint="f", record_bad=lambda r: None)
    # What a process killed during its commit leaves: the intent and some copies, no manifest.
    entry = dest._entry(StagedTable("t", "append"), "2026-01-01")
    intent = {"run_id": "run1", "pipeline": "pipe", "at": "2026-01-01", "tables": [entry]}
    dest.store.put_json("_aoetl/publishing/run1.json", intent)
    dest.store.copy(*entry["copies"][0])
    assert not dest.committed()
    notes = []
    for _ in range(2):  # the next run finishes it; the one after finds nothing to do
        other = _destination(lake, home)
        other.begin("run2", "pipe")
        notes.append(other.notes)
    assert notes == [["finished the commit of run run1, which stopped while publishing"], []]
    doc = manifest(s3_server, lake, "d/t/_manifest.json")
    assert doc["run_id"] == "run1" and doc["rows"] == 5 and len(doc["files"]) == 1
    assert keys(s3_server, lake, "d/_aoetl/") == ["d/_aoetl/commits/run1.json"]
    dest.begin("run1", "pipe")
    assert dest.committed() and dest.checkpoints() == {}


def test_wrong_credentials_are_one_line_without_the_secret(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    wrong = "not-the-secret-" + "9" * 20
    spec = orch.create_pipeline(csv(work, "a.csv", "id\n1\n"), f"s3://{lake}/out/").spec
    result = orch.run(
        with_target(
            spec,
            s3=S3Connection(access_key_id=s3_server.key, secret_access_key=wrong),
        )
    )
    assert result.status == "failed" and result.exit_code == 2
    error = result.error or ""
    assert "SignatureDoesNotMatch" in error and "check the access key" in error
    assert "\n" not in error
    assert wrong not in error and wrong not in (result.traceback or "")


def test_a_missing_bucket_is_a_clear_error(lake: str, orch: DataOrchestrator, work: Path) -> None:
    spec = orch.create_pipeline(csv(work, "a.csv", "id\n1\n"), "s3://no-such-bucket-x/out/").spec
    result = orch.run(spec)
    assert result.exit_code == 2 and "NoSuchBucket" in (result.error or "")


def test_table_names_that_are_not_one_folder_are_refused(lake: str, work: Path) -> None:
    dest = _destination(lake, work / ".aoetl")
    for name in ("_aoetl", "a/b", ".hidden", "q?x", "a#b", "100%", "t*", "k=v"):
        with pytest.raises(UserError, match="cannot be a folder"):
            dest.validate_table(name)
    dest.validate_table("a b+c é")  # httpfs takes these literally


def test_a_table_name_httpfs_would_mangle_is_refused_before_anything_is_written(
    s3_server: S3Server, lake: str, orch: DataOrchestrator, work: Path
) -> None:
    spec = orch.create_pipeline(
        csv(work, "a.csv", "id\n1\n"), f"s3://{lake}/out/", table="q?x"
    ).spec
    result = orch.run(spec)
    assert result.status == "failed" and result.exit_code == 2, result.error
    assert "'q?x'" in (result.error or "") and "\n" not in (result.error or "")
    assert keys(s3_server, lake, "out/") == []


def _access(bucket: str, home: Path, key: str, secret: str) -> Any:
    s3 = S3Connection(access_key_id=key, secret_access_key=secret)
    return _destination(bucket, home, s3=s3).access


def test_the_access_repr_hides_the_credentials(lake: str, s3_server: S3Server, work: Path) -> None:
    access = _access(lake, work / ".aoetl", s3_server.key, "s3kr1t-x")
    shown = repr(access)
    assert "s3kr1t-x" not in shown and s3_server.key not in shown
    assert access.endpoint_url in shown


def test_each_bucket_s_secret_is_scoped_to_it(s3_server: S3Server, lake: str, work: Path) -> None:
    """A source on one bucket and a target on another, each with its own identity: one DuckDB
    connection holds both secrets and picks each path's own (an unscoped pair would leave it
    one secret for every path)."""
    other = s3_server.bucket()
    s3_server.client().put_object(Bucket=other, Key="in/a.csv", Body=b"id\n1\n2\n")
    right = _access(other, work / ".aoetl", s3_server.key, s3_server.secret)
    wrong = _access(lake, work / ".aoetl", s3_server.key, "refused-1")
    con = connect(home=work / ".aoetl")
    for statement in (*right.prelude(other), *wrong.prelude(lake)):
        con.execute(statement)
    which = "SELECT name FROM which_secret(?, 's3')"
    assert con.execute(which, [f"s3://{other}/in/a.csv"]).fetchall() == [
        (right.secret_name(other),)
    ]
    assert con.execute(which, [f"s3://{lake}/out/t.parquet"]).fetchall() == [
        (wrong.secret_name(lake),)
    ]
    assert right.secret_name(other) != right.secret_name(lake)
    # each path is read with its own bucket's secret: the right one reads, the wrong is refused
    assert con.execute(f"SELECT count(*) FROM 's3://{other}/in/a.csv'").fetchall() == [(2,)]
    s3_server.client().put_object(Bucket=lake, Key="out/a.csv", Body=b"id\n1\n")
    with pytest.raises(duckdb.Error, match=r"403|SignatureDoesNotMatch|Forbidden"):
        con.execute(f"SELECT count(*) FROM 's3://{lake}/out/a.csv'").fetchall()
    con.close()


def test_a_clock_the_store_refuses_says_to_set_the_clock(
    lake: str, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests signed two hours in the past: the store answers RequestTimeTooSkewed, which no
    retry and no credential cures."""
    import botocore.auth

    skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    dest = _destination(lake, work / ".aoetl")
    with pytest.raises(UserError, match="RequestTimeTooSkewed") as caught:
        dest.begin("run1", "pipe")
    assert caught.type is UserError and "clock" in str(caught.value)
    assert "access key" not in str(caught.value)


@pytest.mark.parametrize("target", ["wh.duckdb", "parquet:///lake", "sqlite:///w.db"])
def test_s3_settings_on_another_target_are_refused_not_ignored(
    orch: DataOrchestrator, work: Path, target: str
) -> None:
    spec = orch.create_pipeline(csv(work, "a.csv", "id,p\n1,x\n"), target, table="t").spec
    for fields, said in (
        ({"partition_by": ("p",)}, "target.partition_by is for s3:// targets only"),
        ({"s3": S3Connection(region="eu-west-1")}, "target.s3 is for s3:// targets only"),
    ):
        result = orch.run(with_target(spec, **fields))
        assert result.status == "failed" and result.exit_code == 2, result.error
        assert said in (result.error or "") and "\n" not in (result.error or "")
    assert not (work / "lake").exists() and not (work / "wh.duckdb").exists()


def _stage(
    dest: S3Destination, run_id: str, sql: str, mode: str = "append", table: str = "t"
) -> None:
    dest.begin(run_id, "pipe")
    dest.write(
        table, Relation(sql), mode=mode, key=(), fingerprint=run_id, record_bad=lambda r: None
    )


def _load(bucket: str, home: Path, run_id: str, sql: str, mode: str = "append") -> None:
    dest = _destination(bucket, home)
    _stage(dest, run_id, sql, mode)
    dest.commit([StagedTable("t", mode)])
    dest.close()


BIGINTS = "SELECT i AS v FROM range(3) t(i)"
DATES = "SELECT DATE '2026-01-01' + i::INT AS v FROM range(2) t(i)"


def test_a_type_change_committed_meanwhile_fails_the_commit_before_anything_is_copied(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    home = work / ".aoetl"
    _load(lake, home, "r0", BIGINTS)
    a = _destination(lake, home)
    _stage(a, "rA", BIGINTS)  # staged against v BIGINT
    _load(lake, home, "rB", DATES, mode="replace")  # meanwhile: v is DATE
    with pytest.raises(SchemaConflictError, match="column 'v' is DATE"):
        a.commit([StagedTable("t", "append")])
    a.close()  # the staging that can never commit is dropped
    assert keys(s3_server, lake, "d/_aoetl/publishing/") == []
    assert keys(s3_server, lake, "d/_aoetl/staging/") == []
    assert manifest(s3_server, lake, "d/t/_manifest.json")["run_id"] == "rB"
    data = [k for k in keys(s3_server, lake, "d/t/") if not k.endswith("_manifest.json")]
    assert len(data) == 1  # rB's file alone: no orphan copy of rA's
    later = _destination(lake, home)  # the prefix is not blocked for anyone
    _stage(later, "rC", DATES)
    assert later.notes == []
    assert later.commit([StagedTable("t", "append")]) == {"t": 2}


def test_a_commit_left_half_done_that_no_longer_applies_is_reported_once_and_cleaned(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    """The race the up-front check cannot see: another run changes the table between rA's
    check and its publishing (here rA's process was killed in between)."""
    home = work / ".aoetl"
    _load(lake, home, "r0", BIGINTS)
    a = _destination(lake, home)
    _stage(a, "rA", BIGINTS)
    entry = a._entry(StagedTable("t", "append"), "2026-01-01")  # checked: it applies now
    _load(lake, home, "rB", DATES, mode="replace")
    intent = {"run_id": "rA", "pipeline": "pipe", "at": "2026-01-01", "tables": [entry]}
    a.store.put_json("_aoetl/publishing/rA.json", intent)
    a.store.copy(*entry["copies"][0])
    notes = []
    for run in ("rC", "rD"):
        other = _destination(lake, home)
        other.begin(run, "pipe")
        notes.append(other.notes)
    assert len(notes[0]) == 1 and notes[1] == [], notes
    assert "run rA:" in notes[0][0] and "column 'v' is DATE" in notes[0][0]
    assert "nothing of run rA was committed" in notes[0][0]
    assert keys(s3_server, lake, "d/_aoetl/publishing/") == []
    assert keys(s3_server, lake, "d/_aoetl/staging/") == []
    assert not a.store.exists("_aoetl/commits/rA.json")
    data = [k for k in keys(s3_server, lake, "d/t/") if not k.endswith("_manifest.json")]
    assert len(data) == 1 and manifest(s3_server, lake, "d/t/_manifest.json")["rows"] == 2


def test_a_commit_that_cannot_be_finished_is_set_aside_and_blocks_no_one(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    home = work / ".aoetl"
    a = _destination(lake, home)
    _stage(a, "rA", BIGINTS)
    entry = a._entry(StagedTable("t", "append"), "2026-01-01")
    intent = {"run_id": "rA", "pipeline": "pipe", "at": "2026-01-01", "tables": [entry]}
    a.store.put_json("_aoetl/publishing/rA.json", intent)
    a.store.delete_under("_aoetl/staging/rA/")  # its staged files are gone: nothing to copy
    other = _destination(lake, home)
    other.begin("rB", "pipe")
    assert len(other.notes) == 1 and "could not be finished" in other.notes[0]
    assert "_aoetl/failed/rA.json" in other.notes[0]
    aside = manifest(s3_server, lake, "d/_aoetl/failed/rA.json")
    assert aside["run_id"] == "rA" and aside["error"]
    assert keys(s3_server, lake, "d/_aoetl/publishing/") == []
    assert keys(s3_server, lake, "d/t/") == []
    other.write("t", Relation(BIGINTS), mode="append", key=(), fingerprint="f", record_bad=print)
    assert other.commit([StagedTable("t", "append")]) == {"t": 3}
    again = _destination(lake, home)
    again.begin("rC", "pipe")
    assert again.notes == []


def test_a_commit_split_by_a_conflict_says_which_tables_were_committed(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    home = work / ".aoetl"
    _load(lake, home, "r0", BIGINTS)
    a = _destination(lake, home)
    _stage(a, "rA", BIGINTS, table="u")
    a.write("t", Relation(BIGINTS), mode="append", key=(), fingerprint="f", record_bad=print)
    entries = [a._entry(StagedTable(t, "append"), "2026-01-01") for t in ("u", "t")]
    intent = {"run_id": "rA", "pipeline": "pipe", "at": "2026-01-01", "tables": entries}
    b = _destination(lake, home)
    _stage(b, "rB", DATES, mode="replace")
    a.store.put_json("_aoetl/publishing/rA.json", intent)  # checked, then t changes
    b.commit([StagedTable("t", "replace")])
    with pytest.raises(UserError) as caught:
        a.commit([StagedTable("u", "append"), StagedTable("t", "append")])
    error = str(caught.value)
    assert "run rA committed 'u' but not 't'" in error and "load 't' again on its own" in error
    assert "--fresh" in error and "would load 'u' a second time" in error
    assert manifest(s3_server, lake, "d/u/_manifest.json")["run_id"] == "rA"
    assert manifest(s3_server, lake, "d/t/_manifest.json")["run_id"] == "rB"
    assert manifest(s3_server, lake, "d/_aoetl/commits/rA.json")["tables"] == {"u": 3}
    data = [k for k in keys(s3_server, lake, "d/t/") if not k.endswith("_manifest.json")]
    assert len(data) == 1
    assert keys(s3_server, lake, "d/_aoetl/publishing/") == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_large_table_is_several_files_published_by_multipart_copies(
    s3_server: S3Server, lake: str, work: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The caps scaled down (files of ~1 MB, every copy in parts) so a small table shows what
    a table of many GB does: several files, each copied by UploadPartCopy, no 5 GB limit."""
    from agent_orchestrated_etl.connectors.s3 import _manifest, _target_files

    monkeypatch.setattr(_target_files, "FILE_SIZE", "1MB")
    monkeypatch.setattr(_manifest, "MULTIPART_AT", 1)
    dest = _destination(lake, work / ".aoetl", format=fmt)
    _stage(dest, "r1", "SELECT i AS id, random() AS r FROM range(200000) t(i)")
    assert dest.commit([StagedTable("t", "append")]) == {"t": 200_000}
    doc = manifest(s3_server, lake, "d/t/_manifest.json")
    assert len(doc["files"]) >= 2 and sum(f["rows"] for f in doc["files"]) == 200_000
    client = s3_server.client()
    for f in doc["files"]:
        etag = client.head_object(Bucket=lake, Key=f"d/t/{f['path']}")["ETag"]
        assert etag.strip('"').endswith("-1"), etag  # a multipart object's ETag
    rows = from_manifest(s3_server, lake, "d/", "t")
    assert len(rows) == 200_000 and rows[0][0] == 0 and rows[-1][0] == 199_999


def test_an_upload_a_killed_write_left_unfinished_is_aborted_with_its_staging(
    s3_server: S3Server, lake: str, work: Path
) -> None:
    # DuckDB writes a large file as a multipart upload; a process killed mid-write leaves
    # the upload open: no object, yet stored. Restaging the table (or discarding the run)
    # aborts it.
    dest = _destination(lake, work / ".aoetl")
    dest.begin("run1", "pipe")
    client = s3_server.client()
    left = client.create_multipart_upload(Bucket=lake, Key="d/_aoetl/staging/run1/t/part/x.parquet")
    assert client.list_multipart_uploads(Bucket=lake).get("Uploads")
    relation = Relation("SELECT i AS id FROM range(3) t(i)")
    dest.write("t", relation, mode="append", key=(), fingerprint="f", record_bad=lambda r: None)
    uploads = client.list_multipart_uploads(Bucket=lake).get("Uploads", [])
    assert left["UploadId"] not in [u["UploadId"] for u in uploads]
    client.create_multipart_upload(Bucket=lake, Key="d/_aoetl/staging/run1/t/part/y.parquet")
    dest.discard()
    assert not client.list_multipart_uploads(Bucket=lake).get("Uploads")


def test_aws_region_is_honoured_as_aws_default_region_is(
    lake: str, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_orchestrated_etl.connectors.s3._access import connect

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    assert connect(None).region == "eu-north-1"
    assert connect(S3Connection(region="ap-south-1")).region == "ap-south-1"
