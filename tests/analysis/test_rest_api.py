"""Analysis and planning against the real test API (tests/rest_app.py served by uvicorn): its
FastAPI document, probing endpoints that have none, and plans that load as written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.analysis import SourceReport
from tests.helpers import query, run_cli
from tests.rest_data import USERS
from tests.servers import RestApi

USER_FIELDS = {"id", "name", "email", "updated_at", "address", "tags", "orders"}


@pytest.fixture
def api(rest_api: RestApi) -> Iterator[RestApi]:
    rest_api.control(reset=True)
    yield rest_api
    rest_api.control(reset=True)


@pytest.fixture(scope="module")
def report(rest_api: RestApi, tmp_path_factory: pytest.TempPathFactory) -> SourceReport:
    rest_api.control(reset=True)
    home = tmp_path_factory.mktemp("home")
    return DataOrchestrator(home=home).analyze(f"{rest_api.url}/openapi.json")


def test_the_apps_document_lists_every_collection_with_its_schema(report: SourceReport) -> None:
    assert report.method == "openapi" and report.document["format"] == "openapi"
    paths = {r.location for r in report.resources}
    users = {f"/{style}/users" for style in ("page", "offset", "cursor", "next", "link", "hasmore")}
    users |= {"/probe/users", "/loop/users", "/limited/users"}
    users |= {f"/auth/{kind}/users" for kind in ("bearer", "basic", "key-header", "key-query")}
    users |= {"/auth/oauth/users"}
    assert users | {"/page/users/{user_id}/posts", "/items", "/clash/items"} <= paths
    assert "/oauth/token" not in paths  # a POST
    for resource in report.resources:
        if resource.location in users:
            assert {f.name for f in resource.fields} == USER_FIELDS, resource.location
            assert resource.primary_key == ("id",)
    address = next(f for f in report.resource("page_users").fields if f.name == "address")
    assert {f.name for f in address.fields} == {"city", "zip", "geo"}
    orders = next(f for f in report.resource("page_users").fields if f.name == "orders")
    assert orders.type == "array<object>"
    assert {f.name for f in orders.fields} == {"order_id", "amount", "items"}


def test_the_apps_document_gives_each_paginator_auth_and_the_parent(report: SourceReport) -> None:
    def kind(name: str) -> str:
        endpoint = report.resource(name).endpoint
        assert endpoint is not None and endpoint.paginator is not None
        return endpoint.paginator.type

    assert kind("page_users") == "page_number"
    assert kind("offset_users") == "offset"
    assert kind("cursor_users") == "cursor"
    assert kind("next_users") == "next_url"
    assert kind("probe_users") == "page_number"
    page = report.resource("page_users").endpoint
    assert page is not None and page.paginator is not None
    assert page.paginator.total_pages_path == "total_pages"
    more = report.resource("hasmore_users").endpoint
    assert more is not None and more.paginator is not None
    assert more.paginator.has_more_path == "has_more"
    kinds = {s.name: s.kind for s in report.auth}
    assert sorted(kinds.values()) == sorted(
        ["bearer", "basic", "api_key", "api_key", "oauth2_client_credentials"]
    )
    for name in ("bearer", "basic", "key_header", "key_query", "oauth"):
        endpoint = report.resource(f"auth_{name}_users").endpoint
        assert endpoint is not None and len(endpoint.auth) == 1 and endpoint.auth[0] in kinds
    oauth = next(s for s in report.auth if s.kind == "oauth2_client_credentials")
    assert oauth.auth is not None and oauth.auth["token_url"].endswith("/oauth/token")
    posts = report.resource("page_users_posts")
    assert posts.endpoint is not None and posts.endpoint.parent is not None
    assert posts.endpoint.parent.resource == "page_users"
    assert posts.endpoint.parent.params == {"user_id": "id"}


def test_probing_the_cursor_endpoint_guesses_the_cursor_with_evidence(
    api: RestApi, tmp_path: Path
) -> None:
    proc = run_cli("analyze", f"{api.url}/cursor/users", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["method"] == "probe" and found["base_url"] == api.url
    (users,) = found["resources"]
    assert users["endpoint"]["records"] == "results"
    assert users["endpoint"]["paginator"]["type"] == "cursor"
    said = [d for d in users["decisions"] if d["what"] == "paginator"]
    assert said and "next_cursor" in said[0]["reason"], said
    assert users["primary_key"] == ["id"]
    assert {f["name"] for f in users["fields"]} == USER_FIELDS
    updated = next(f for f in users["fields"] if f["name"] == "updated_at")
    assert updated["type"] == "date-time"


def test_probing_reports_rate_limit_headers(api: RestApi, tmp_path: Path) -> None:
    report = DataOrchestrator(home=tmp_path).analyze(f"{api.url}/limited/users")
    assert {"x-ratelimit-limit", "x-ratelimit-remaining"} <= set(report.rate_limit)
    decisions = [str(d) for d in report.resources[0].decisions]
    assert any(d.startswith("rate limit: x-ratelimit-limit") for d in decisions), decisions


@pytest.mark.parametrize(
    ("path", "says"),
    [("/docs", "did not answer JSON"), ("/nowhere", "HTTP 404")],
)
def test_a_url_that_is_no_collection_or_document_is_one_line_and_exit_2(
    api: RestApi, tmp_path: Path, path: str, says: str
) -> None:
    proc = run_cli("analyze", f"{api.url}{path}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines


def test_a_plan_for_the_bearer_endpoint_loads_every_user_with_the_token_from_env(
    api: RestApi, tmp_path: Path
) -> None:
    url = f"{api.url}/openapi.json"
    planned = run_cli("plan", url, "--tables", "auth_bearer_users", "-o", "p.yaml", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    plan = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert plan["source"]["auth"] == {"type": "bearer", "token": "${env:API_TOKEN}"}
    assert "test-token" not in (tmp_path / "p.yaml").read_text()
    proc = run_cli(
        "run", "p.yaml", "--to", "duckdb:///w.duckdb", "--json", cwd=tmp_path,
        env={"API_TOKEN": "test-token"},
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "test-token" not in proc.stdout + proc.stderr
    rows = query(
        tmp_path / "w.duckdb", "SELECT count(*), count(DISTINCT id) FROM auth_bearer_users"
    )
    assert rows == [(len(USERS), len(USERS))]


def test_a_probed_plan_and_a_documents_url_both_run(api: RestApi, tmp_path: Path) -> None:
    planned = run_cli("plan", f"{api.url}/cursor/users", "--json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    found = json.loads(planned.stdout)
    (resource,) = found["pipeline"]["source"]["resources"]
    assert resource["path"] == "/cursor/users" and resource["paginator"]["type"] == "cursor"
    assert any("paginator: cursor" in r for r in found["proposals"]), found["proposals"]
    # No pipeline file: a document's URL runs what 'aoetl plan' would write.
    proc = run_cli(
        "run", f"{api.url}/shop/openapi.json", "--to", "duckdb:///s.duckdb", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    result = json.loads(proc.stdout)
    assert result["pipeline"] == "aoetl_test_shop"
    assert result["tables"]["users"]["rows_loaded"] == len(USERS)
    assert query(tmp_path / "s.duckdb", "SELECT count(*) FROM products")[0][0] > 0
