"""Every shape a literal secret takes is masked; references, which hold none, are kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent_orchestrated_etl.api import _default_name
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.secrets import redact, resolve
from agent_orchestrated_etl.state import StateStore


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # userinfo: the password runs to the last '@' before the path, as urlsplit reads it
        ("postgresql://app:hunter2@db/x", "postgresql://app:***@db/x"),
        ("postgresql://app:p@ss:w@db/x", "postgresql://app:***@db/x"),
        ("error at 'mysql://root:s3cr3t@10.0.0.1'", "error at 'mysql://root:***@10.0.0.1'"),
        # query parameters, any case; the other parameters stay
        (
            "postgresql://u@host/db?password=s3cret&sslmode=require",
            "postgresql://u@host/db?password=***&sslmode=require",
        ),
        ("https://h/x?PWD=a1&Passwd=b2#top", "https://h/x?PWD=***&Passwd=***#top"),
        (
            "https://api/v1?access_token=t1&Token=t2&secret=t3&api_key=t4&apikey=t5&key=t6",
            "https://api/v1?access_token=***&Token=***&secret=***&api_key=***&apikey=***&key=***",
        ),
        ("postgresql://h/db?sslpassword=k3y&x=1", "postgresql://h/db?sslpassword=***&x=1"),
        ('failed: "pg://h/db?password=abc"', 'failed: "pg://h/db?password=***"'),
        # DSN key=value, quoted or not, as libpq reads it
        ("host=x password=secret dbname=y", "host=x password=*** dbname=y"),
        ("host=x password = 'a b\\' c' dbname=y", "host=x password = *** dbname=y"),
        ("PGPASSWORD=hunter2 psql", "PGPASSWORD=*** psql"),
        ("client_secret=abc; next", "client_secret=*** next"),
        # not secrets
        ("?sort_key=id&monkey=banana&mode=merge", "?sort_key=id&monkey=banana&mode=merge"),
        ("key=id, a = b", "key=id, a = b"),
        ("s3://bucket/path/*.csv", "s3://bucket/path/*.csv"),
        ("postgresql://u:***@h/db?password=***", "postgresql://u:***@h/db?password=***"),
    ],
)
def test_each_shape_is_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://etl:${secret:vault:secret/shop-db#password}@db/shop",
        "postgresql://etl:${env:PW}@db/x",
        "postgresql://${env:CREDENTIALS}@db/x",
        "postgresql://u@h/db?password=${secret:vault:kv/a#pw}&sslmode=require",
        "host=x password=${file:~/.pg.env#PW} dbname=y",
    ],
)
def test_references_are_kept(text: str) -> None:
    assert redact(text) == text


def test_a_literal_beside_a_reference_is_masked() -> None:
    assert redact("postgresql://u:pre${env:PW}@db/x") == "postgresql://u:***@db/x"


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("postgresql://u:pw@host/shop?password=pw2&sslmode=require", "shop"),
        ("postgresql://u@db.internal:5432?password=pw", "db"),
        ("postgresql://u:${secret:vault:kv/a#pw}@host/sales", "sales"),
        ("https://api.example.com/v1/orders?api_key=k#frag", "orders"),
        ("data/orders.csv", "orders"),
        ("data/*.csv", "all"),
    ],
)
def test_a_name_from_a_url_never_holds_its_secrets(source: str, name: str) -> None:
    assert _default_name(source) == name


def test_the_run_history_stores_no_literal(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    spec = {
        "name": "copy",
        "source": {"uri": "postgresql://u@h/db?sslmode=disable&password=lit-1"},
        "target": {
            "uri": "postgresql://u:lit-2@h/wh",
            "encryption_key": "lit-3",
        },
        "transforms": [{"sql": "SELECT 'host=h password=lit-4' AS dsn FROM input"}],
    }
    store.start_run(
        "r1", "copy", "postgresql://u:lit-2@h/wh", spec_json=json.dumps(spec), spec_hash="h"
    )
    store.finish_run(
        "r1",
        status="failed",
        duration_s=1.0,
        rows_loaded=0,
        rows_rejected=0,
        error="cannot connect to postgresql://u:lit-2@h/wh",
        result={"error": "at host=h password=lit-4", "tables": {}},
    )
    con = sqlite3.connect(tmp_path / "state.db")
    row = con.execute("SELECT * FROM runs").fetchone()
    con.close()
    assert not [v for v in row if isinstance(v, str) and "lit-" in v], row
    (record,) = store.runs()
    assert record.target == "postgresql://u:***@h/wh"
    stored = json.loads(record.spec_json or "")
    assert stored["source"]["uri"] == "postgresql://u@h/db?sslmode=disable&password=***"
    assert stored["target"]["encryption_key"] == "***"

    # References are not secrets: stored as written.
    refs = "postgresql://u:${env:PW}@h/wh"
    spec["target"] = {"uri": refs, "encryption_key": "${secret:vault:kv/wh#key}"}
    store.start_run("r2", "copy", refs, spec_json=json.dumps(spec), spec_hash="h")
    assert json.loads(store.runs()[0].spec_json or "")["target"] == spec["target"]


def test_a_rest_sources_literal_credentials_are_stored_masked(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    source = {
        "uri": "https://api.example.com/v1",
        "auth": {"type": "oauth2_client_credentials", "token_url": "/token", "client_id": "cid",
                 "client_secret": "lit-secret-1"},
        "headers": {"Authorization": "Bearer lit-2", "Accept": "application/json"},
        "resources": [{"name": "users", "path": "users",
                       "headers": {"X-API-Key": "lit-3", "X-Trace": "${env:TRACE}"},
                       "params": {"access_token": "lit-4", "per_page": 50}}],
    }  # fmt: skip
    spec = {"name": "api", "source": source}
    store.start_run("r1", "api", "duckdb:///w.duckdb", spec_json=json.dumps(spec), spec_hash="h")
    stored = json.loads(store.runs()[0].spec_json or "")["source"]
    assert "lit-" not in json.dumps(stored)
    assert stored["auth"]["client_secret"] == "***" and stored["auth"]["client_id"] == "cid"
    assert stored["headers"] == {"Authorization": "***", "Accept": "application/json"}
    assert stored["resources"][0]["headers"] == {"X-API-Key": "***", "X-Trace": "${env:TRACE}"}
    assert stored["resources"][0]["params"] == {"access_token": "***", "per_page": 50}


def test_literal_s3_credentials_of_a_source_and_a_target_are_stored_masked(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    literal = {"access_key_id": "lit-1", "secret_access_key": "lit-2", "session_token": "lit-3"}
    spec = {
        "name": "lake",
        "source": {"uri": "s3://in/x/", "s3": {**literal, "endpoint_url": "http://h:1"}},
        "target": {"uri": "s3://out/y/", "s3": {**literal, "secret_access_key": "${env:S}"}},
    }
    store.start_run("r1", "lake", "s3://out/y/", spec_json=json.dumps(spec), spec_hash="h")
    stored = json.loads(store.runs()[0].spec_json or "")
    assert "lit-" not in json.dumps(stored)
    assert stored["source"]["s3"]["endpoint_url"] == "http://h:1"
    assert stored["target"]["s3"]["secret_access_key"] == "${env:S}"  # a reference is kept
    assert stored["source"]["s3"]["secret_access_key"] == "***"


@pytest.mark.parametrize(
    "stored",
    ["postgresql://u:***@h/db", "postgresql://u@h/db?password=***&sslmode=disable", "***"],
)
def test_a_masked_secret_is_never_used_to_connect(stored: str) -> None:
    with pytest.raises(UserError, match=r"holds \*\*\* where a secret goes.*--resume"):
        resolve(stored)
    assert resolve("data/***.csv") == "data/***.csv"  # a glob is no secret


def test_a_password_in_a_query_string_is_registered_as_a_value() -> None:
    """A driver that quotes the bare value (no key=) still has it masked."""
    from agent_orchestrated_etl.secrets import redact, register_url

    register_url("postgresql://u@127.0.0.1/db?sslmode=require&Password=Qs-%C3%A9-8Zk4!")
    assert redact("auth failed for Qs-é-8Zk4! here") == "auth failed for *** here"
    assert redact("sslmode require stays") == "sslmode require stays"
