"""REST APIs end to end: the real test API (tests/rest_app.py, served by uvicorn) loaded into
DuckDB through DataOrchestrator and the real CLI, with exact data checked in the target.

Each test that changes the API's settings (flaky mode, latency) restores them when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.spec import validate_spec
from tests.helpers import AOETL, query, run_cli
from tests.rest_data import POSTS, PRODUCTS, USERS
from tests.servers import RestApi, free_port

pytestmark = pytest.mark.e2e

ORDERS = sum(len(u["orders"]) for u in USERS)
ORDER_ITEMS = sum(len(o["items"]) for u in USERS for o in u["orders"])
TAGS = sum(len(u["tags"]) for u in USERS)
# Quick retries and a breaker that a run of injected faults cannot hold open for long.
FAST_RETRIES = {"attempts": 10, "base_s": 0.02, "cap_s": 0.2}
FAST_BREAKER = {"failure_threshold": 50, "cooldown_s": 0.2}


@pytest.fixture
def api(rest_api: RestApi) -> Iterator[RestApi]:
    rest_api.control(reset=True)
    yield rest_api
    rest_api.control(reset=True)


def users_source(api: RestApi, path: str = "/page/users", **options: Any) -> dict[str, Any]:
    return {
        "kind": "rest",
        "uri": api.url,
        "resources": [{"name": "users", "path": path}],
        **options,
    }


def write_pipeline(root: Path, source: dict[str, Any], **extra: Any) -> Path:
    spec = {"name": "api", "source": source, "target": "duckdb:///w.duckdb", **extra}
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def assert_users_loaded(db: Path, table: str = "users") -> None:
    """Every user once, with its nested fields flattened and its arrays in child tables."""
    assert query(db, f"SELECT count(*), count(DISTINCT id) FROM {table}") == [(250, 250)]
    got = query(
        db,
        f"SELECT id, name, email, address__city, address__zip, address__geo__lat, "
        f"address__geo__lng FROM {table} ORDER BY id",
    )
    want = [
        (
            u["id"],
            u["name"],
            u["email"],
            u["address"]["city"],
            u["address"]["zip"],
            u["address"]["geo"]["lat"],
            u["address"]["geo"]["lng"],
        )
        for u in USERS
    ]
    assert got == want
    assert query(db, f"SELECT count(*) FROM {table}__orders") == [(ORDERS,)]
    assert query(db, f"SELECT count(*) FROM {table}__orders__items") == [(ORDER_ITEMS,)]
    assert query(db, f"SELECT count(*) FROM {table}__tags") == [(TAGS,)]
    amounts = query(db, f"SELECT round(sum(amount), 2) FROM {table}__orders")
    assert amounts == [(round(sum(o["amount"] for u in USERS for o in u["orders"]), 2),)]


def tables(db: Path) -> list[str]:
    rows = query(
        db,
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name NOT LIKE '_aoetl%' ORDER BY 1",
    )
    return [str(r[0]) for r in rows]


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


# -- a flaky API: every record once --------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "paginator"),
    [
        (
            "/page/users",
            {
                "type": "page_number",
                "page_size_param": "per_page",
                "page_size": 25,
                "total_pages_path": "total_pages",
            },
        ),
        (
            "/cursor/users",
            {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
        ),
    ],
    ids=["page_number", "cursor"],
)
def test_a_flaky_api_loads_every_record_exactly_once(
    api: RestApi, orch: DataOrchestrator, work: Path, path: str, paginator: dict[str, Any]
) -> None:
    # Timeouts shorter than the injected slow answers: all three faults (500, 429, slow) happen.
    api.control(flaky=0.3, seed=7, slow_s=0.6)
    source = users_source(api, path, paginator=paginator, max_concurrency=8, timeout_s=0.3)
    spec = validate_spec(
        {
            "name": "flaky",
            "source": source,
            "target": "duckdb:///w.duckdb",
            "retries": FAST_RETRIES,
            "breaker": FAST_BREAKER,
        }
    )
    result = orch.run(spec)
    assert result.status == "success", result.error
    assert_users_loaded(work / "w.duckdb")
    stats = api.stats()
    assert sum(stats["injected"].values()) > 0, stats  # faults did happen
    if paginator["type"] == "page_number":  # ten pages with a known total: fetched at once
        assert stats["max_in_flight"] > 1, stats


# -- a dead API ----------------------------------------------------------------------------------
def test_a_dead_api_fails_with_one_line_and_leaves_the_target_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE users AS SELECT 1 AS id")
    dead = {"kind": "rest", "uri": f"http://127.0.0.1:{free_port()}"}
    write_pipeline(tmp_path, {**dead, "resources": [{"name": "users", "path": "/page/users"}]})
    started = time.monotonic()
    proc = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    took = time.monotonic() - started
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    (line,) = error_lines(proc)
    assert line.startswith("error: ") and "127.0.0.1" in line, line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert took < 20, f"a dead API took {took:.1f}s to fail"
    assert tables(db) == ["users"] and query(db, "SELECT * FROM users") == [(1,)]


# -- every auth kind, and no secret anywhere ----------------------------------------------------
AUTH: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "bearer": ("/auth/bearer/users", {"type": "bearer", "token": "${env:T_TOKEN}"},
               {"T_TOKEN": "test-token"}),
    "basic": ("/auth/basic/users",
              {"type": "basic", "username": "alice", "password": "${env:T_PASSWORD}"},
              {"T_PASSWORD": "s3cret-pw"}),
    "api_key-header": ("/auth/key-header/users",
                       {"type": "api_key", "name": "X-API-Key", "value": "${env:T_KEY}"},
                       {"T_KEY": "k-123"}),
    "api_key-query": ("/auth/key-query/users",
                      {"type": "api_key", "name": "api_key", "value": "${env:T_KEY}",
                       "location": "query"},
                      {"T_KEY": "k-123"}),
    "oauth2": ("/auth/oauth/users",
               {"type": "oauth2_client_credentials", "token_url": "/oauth/token",
                "client_id": "cid", "client_secret": "${env:T_SECRET}"},
               {"T_SECRET": "csecret"}),
}  # fmt: skip


@pytest.mark.parametrize("kind", [*AUTH, "oauth2-revoked"])
def test_every_auth_kind_through_the_cli_without_showing_the_secret(
    api: RestApi, tmp_path: Path, kind: str
) -> None:
    path, auth, env = AUTH[kind.removesuffix("-revoked")]
    options: dict[str, Any] = {"auth": auth}
    if kind.startswith("oauth2"):
        # Slow pages one at a time: the load outlives the two-second token, which is renewed;
        # revoked, each token dies after 0.3 s though it says two: the API answers 401.
        revoked = kind == "oauth2-revoked"
        api.control(latency_ms=100 if revoked else 250, token_life_s=0.3 if revoked else 2)
        options.update(max_concurrency=1, paginator={"type": "page_number",
                       "page_size_param": "per_page", "page_size": 25})  # fmt: skip
    write_pipeline(tmp_path, users_source(api, path, **options))
    proc = run_cli("run", "pipeline.yaml", "--json", "--monitor", "events.jsonl",
                   cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert json.loads(proc.stdout)["status"] == "success"
    assert_users_loaded(tmp_path / "w.duckdb")
    runs = run_cli("runs", "--json", cwd=tmp_path)
    shown = run_cli("runs", "--show", json.loads(runs.stdout)[0]["run_id"], "--json", cwd=tmp_path)
    everything = "".join(
        [proc.stdout, proc.stderr, runs.stdout, runs.stderr, shown.stdout, shown.stderr,
         (tmp_path / "events.jsonl").read_text()]
    )  # fmt: skip
    for secret in env.values():
        assert secret not in everything, f"{kind}: the secret shows"
    if kind.startswith("oauth2"):
        issued = api.stats()["tokens_issued"]
        assert issued >= (3 if kind == "oauth2-revoked" else 2), issued  # renewed in the load


def test_a_wrong_credential_is_one_line_exit_2_naming_auth(api: RestApi, tmp_path: Path) -> None:
    write_pipeline(
        tmp_path,
        users_source(api, "/auth/bearer/users", auth={"type": "bearer", "token": "${env:T_TOKEN}"}),
    )
    proc = run_cli("run", "pipeline.yaml", cwd=tmp_path, env={"T_TOKEN": "wrong-token-x"})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    (line,) = error_lines(proc)
    assert line.startswith("error: ") and "auth" in line.lower(), line
    assert "wrong-token-x" not in proc.stdout + proc.stderr
    assert not (tmp_path / "w.duckdb").exists() or "users" not in tables(tmp_path / "w.duckdb")


# -- exactly once --------------------------------------------------------------------------------
def test_a_run_killed_mid_load_leaves_the_target_unchanged_and_reruns_exactly_once(
    api: RestApi, tmp_path: Path
) -> None:
    paginator = {"type": "page_number", "page_size_param": "per_page", "page_size": 10}
    write_pipeline(tmp_path, users_source(api, paginator=paginator, max_concurrency=1))
    api.control(latency_ms=150)  # 25 pages one at a time: about four seconds
    proc = subprocess.Popen(
        [AOETL, "run", "pipeline.yaml"],
        cwd=tmp_path,
        env={**os.environ, "AOETL_HOME": str(tmp_path / ".aoetl")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while api.stats()["paths"].get("/page/users", 0) < 5:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never reached the API"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    db = tmp_path / "w.duckdb"
    assert not db.exists() or "users" not in tables(db)  # nothing committed
    api.control(latency_ms=0)
    again = run_cli("run", "pipeline.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "success"
    assert_users_loaded(db)
    merged = run_cli("run", "pipeline.yaml", "--mode", "merge", "--json", cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    assert_users_loaded(db)  # the child tables merge on their own keys: no duplicates either


# -- no pipeline file: probing -------------------------------------------------------------------
def test_a_bare_url_is_probed_and_loaded(api: RestApi, tmp_path: Path) -> None:
    proc = run_cli("run", f"{api.url}/page/users", "--json", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    result = json.loads(proc.stdout)
    assert result["status"] == "success"
    db = tmp_path / "warehouse.duckdb"
    assert "users" in tables(db), tables(db)
    assert_users_loaded(db)


# -- a plan from an OpenAPI document -------------------------------------------------------------
def test_a_plan_from_an_openapi_document_loads_every_collection(
    api: RestApi, tmp_path: Path
) -> None:
    planned = run_cli("plan", f"{api.url}/shop/openapi.json", "-o", "p.yaml", cwd=tmp_path)
    assert planned.returncode == 0, (planned.stdout, planned.stderr)
    plan = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert plan["source"]["kind"] == "rest", plan
    proc = run_cli("run", "p.yaml", "--to", "duckdb:///w.duckdb", "--json", cwd=tmp_path)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    db = tmp_path / "w.duckdb"
    by_columns = {t: {str(c[0]) for c in query(db, f'DESCRIBE "{t}"')} for t in tables(db)}
    users = [t for t, cols in by_columns.items() if {"email", "address__city"} <= cols]
    posts = [t for t, cols in by_columns.items() if {"title", "user_id"} <= cols]
    products = [t for t, cols in by_columns.items() if {"price", "name"} <= cols]
    assert len(users) == len(posts) == len(products) == 1, by_columns
    assert_users_loaded(db, users[0])
    got_posts = query(db, f'SELECT id, user_id, title FROM "{posts[0]}" ORDER BY id')
    assert got_posts == [(p["id"], p["user_id"], p["title"]) for p in POSTS]
    got_products = query(db, f'SELECT id, name, price FROM "{products[0]}" ORDER BY id')
    assert got_products == [(p["id"], p["name"], p["price"]) for p in PRODUCTS]
