"""OpenAPI and Swagger documents read into a SourceReport, and planned: the small documents
under tests/fixtures/openapi (with $ref, allOf, anyOf and 3.1 type lists), no server needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.analysis import FieldReport, SourceReport, plan_rest
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.spec import validate_spec
from tests.helpers import FIXTURES, run_cli

DOCS = FIXTURES / "openapi"


def fields(found: tuple[FieldReport, ...]) -> dict[str, Any]:
    """Fields as {name: type}, nested ones as {name: (type, {...})}."""
    return {f.name: (f.type, fields(f.fields)) if f.fields else f.type for f in found}


def paginator(report: SourceReport, name: str) -> dict[str, Any]:
    endpoint = report.resource(name).endpoint
    assert endpoint is not None and endpoint.paginator is not None
    return {"type": endpoint.paginator.type, **endpoint.paginator.model_dump(exclude_defaults=True)}


@pytest.fixture(scope="module")
def swagger() -> SourceReport:
    return DataOrchestrator(home=Path("/nonexistent")).analyze(str(DOCS / "swagger2.yaml"))


@pytest.fixture(scope="module")
def v31() -> SourceReport:
    return DataOrchestrator(home=Path("/nonexistent")).analyze(str(DOCS / "openapi31.json"))


def test_swagger_2_collections_schemas_keys_and_base_url(swagger: SourceReport) -> None:
    assert swagger.method == "openapi"
    assert swagger.document == {"format": "swagger", "version": "2.0", "title": "Library API"}
    assert swagger.warnings == []
    assert swagger.base_url == "https://library.example.com/api/v2"
    # /books/{book_id} answers one object: not a collection.
    assert [r.name for r in swagger.resources] == ["books", "books_loans", "partners"]
    books = swagger.resource("books")
    # allOf: the Entity part's fields and the book's own, merged, with $ref resolved.
    assert fields(books.fields) == {
        "id": "integer",
        "updated_at": "date-time",
        "title": "string",
        "author": ("object", {"name": "string", "born": "date"}),
        "tags": "array<string>",
    }
    assert {f.name for f in books.fields if f.required} == {"id", "title"}
    assert books.primary_key == ("id",)
    assert swagger.resource("partners").primary_key == ("partner_id",)
    assert fields(swagger.resource("books_loans").fields) == {
        "id": "integer",
        "updated_at": "date-time",
        "member": "string",
        "due": "date",
    }


def test_swagger_2_paging_auth_parent_and_incremental(swagger: SourceReport) -> None:
    # Shared parameters ($ref to #/parameters) give the offset paginator its largest page.
    assert paginator(swagger, "books") == {
        "type": "offset",
        "limit": 200,
        "total_path": "total_count",
    }
    assert paginator(swagger, "books_loans") == {"type": "link_header"}
    assert paginator(swagger, "partners") == {"type": "none"}
    loans = swagger.resource("books_loans")
    assert loans.endpoint is not None and loans.endpoint.parent is not None
    assert loans.endpoint.parent.resource == "books"
    assert loans.endpoint.parent.params == {"book_id": "id"}
    assert "X-RateLimit-Remaining" in swagger.rate_limit
    books = swagger.resource("books")
    assert books.endpoint is not None and books.endpoint.since_param == "updated_since"
    assert books.endpoint.auth == ("token",)
    schemes = {s.name: s.auth for s in swagger.auth}
    assert schemes["token"] == {
        "type": "api_key",
        "name": "X-Library-Key",
        "value": "${env:API_KEY}",
        "location": "header",
    }
    assert schemes["partner"] is not None
    assert schemes["partner"]["token_url"] == "https://auth.example.com/oauth/token"
    # Every guess says why.
    said = [str(d) for d in books.decisions]
    assert any("offset" in s and "'total_count'" in s for s in said), said


def test_openapi_3_1_types_any_of_server_variables_and_cursor(v31: SourceReport) -> None:
    assert v31.document["version"] == "3.1.0"
    assert v31.base_url == "https://eu.tickets.example.com/v1"  # {region} at its default
    # /health answers an object with no list: not a collection; POST /tickets is not read.
    assert [r.name for r in v31.resources] == ["tickets", "tickets_events", "reports"]
    tickets = v31.resource("tickets")
    assert fields(tickets.fields) == {
        "created_at": "date-time",
        "ticket_id": "string",
        "status": "string",
        "assignee": ("object", {"name": "string", "email": "string"}),
        "priority": "integer",
        "comments": (
            "array<object>",
            {"body": "string", "author": ("object", {"name": "string", "email": "string"})},
        ),
    }
    nullable = {f.name for f in tickets.fields if f.nullable}
    assert nullable == {"assignee", "priority"}
    assert tickets.primary_key == ("ticket_id",)
    assert paginator(v31, "tickets") == {
        "type": "cursor",
        "cursor_param": "page_token",
        "cursor_path": "meta.next_page_token",
        "has_more_path": "meta.has_more",
    }
    assert tickets.endpoint is not None
    assert tickets.endpoint.records == "tickets"
    assert tickets.endpoint.send == {"page_size": 100}  # a path-level parameter, at its maximum
    events = v31.resource("tickets_events")
    assert paginator(v31, "tickets_events") == {"type": "next_url"}
    assert events.endpoint is not None and events.endpoint.parent is not None
    assert events.endpoint.parent.params == {"ticket_id": "ticket_id"}
    login = next(s for s in v31.auth if s.name == "login")
    assert login.auth is None and "client credentials" in login.detail


def test_a_plan_takes_the_endpoints_one_auth_reaches_and_validates(v31: SourceReport) -> None:
    plan = plan_rest(v31)
    assert [r.name for r in plan.resources] == ["tickets", "tickets_events"]
    assert plan.source["auth"] == {"type": "bearer", "token": "${env:API_TOKEN}"}
    assert any(r.startswith("reports: left out") for r in plan.reasons), plan.reasons
    assert plan.mode == "merge"
    spec = validate_spec({"name": "t", "source": plan.source, "mode": plan.mode})
    tickets = spec.source.resources[0]  # type: ignore[union-attr]
    assert tickets.params == {"page_size": 100}
    assert tickets.paginator is not None and tickets.paginator.cursor_param == "page_token"
    child = spec.source.resources[1]  # type: ignore[union-attr]
    assert child.parent is not None and child.parent.resource == "tickets"
    # A child asked for brings its parent.
    assert [r.name for r in plan_rest(v31, tables=["tickets_events"]).resources] == [
        "tickets",
        "tickets_events",
    ]
    with pytest.raises(UserError, match="can be read only with login"):
        plan_rest(v31, tables=["reports"])
    with pytest.raises(UserError, match=r"no endpoint .* is called 'nope'; it has: tickets"):
        plan_rest(v31, tables=["nope"])


def test_swagger_plan_has_incremental_and_no_credential_value(swagger: SourceReport) -> None:
    plan = plan_rest(swagger, tables=["books*"])
    assert plan.source["uri"] == "https://library.example.com/api/v2"
    assert plan.source["incremental"] == {"books": {"cursor": "updated_at"}}
    books = plan.source["resources"][0]
    assert books["since_param"] == "updated_since"
    assert plan.source["auth"]["value"] == "${env:API_KEY}"
    validate_spec({"name": "library", "source": plan.source, "mode": plan.mode})


def test_a_document_that_breaks_a_rule_is_read_with_a_warning(tmp_path: Path) -> None:
    text = (DOCS / "openapi31.json").read_text().replace('"version": "1.0"', '"versio": "1.0"')
    doc = tmp_path / "broken.json"
    doc.write_text(text)
    report = DataOrchestrator(home=tmp_path).analyze(str(doc))
    assert len(report.resources) == 3
    assert any("not valid openapi 3.1.0" in w and "'version'" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.yaml", "openapi: 3.0.0\npaths: [unclosed\n", "neither JSON nor YAML at line"),
        ("old.json", '{"swagger": "1.2", "paths": {}}', "declares version '1.2'"),
    ],
)
def test_an_unusable_document_is_one_line_and_exit_2(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / name).write_text(text)
    if name == "bad.yaml":  # a YAML file is a document only if it says so, which this one does
        assert "openapi" in text
    proc = run_cli("analyze", name, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
    assert "Traceback" not in proc.stderr


def test_a_local_document_without_a_server_needs_a_base_url(tmp_path: Path) -> None:
    doc = tmp_path / "api.json"
    doc.write_text((DOCS / "openapi31.json").read_text().replace('"servers"', '"x-servers"', 1))
    report = DataOrchestrator(home=tmp_path).analyze(str(doc))
    assert report.base_url is None and any("--base-url" in w for w in report.warnings)
    with pytest.raises(UserError, match="--base-url"):
        plan_rest(report)
    given = DataOrchestrator(home=tmp_path).analyze(str(doc), base_url="http://127.0.0.1:9/v1/")
    assert given.base_url == "http://127.0.0.1:9/v1"
