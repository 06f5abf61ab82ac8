"""The REST source against the real test API (tests/rest_app.py, served by uvicorn): pages into
tables, nested JSON into child tables, widened types, dead letters, merge and incremental runs.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors.base import RowFilter
from agent_orchestrated_etl.connectors.registry import source_for
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import query, read_relation
from tests.rest_data import POSTS, USERS
from tests.servers import RestApi

ORDERS = [(u["id"], i, o) for u in USERS for i, o in enumerate(u["orders"])]
ITEMS = [(uid, i, j, it) for uid, i, o in ORDERS for j, it in enumerate(o["items"])]
TAGS = [(u["id"], i, t) for u in USERS for i, t in enumerate(u["tags"])]


@pytest.fixture
def api(rest_api: RestApi) -> Iterator[RestApi]:
    rest_api.control(reset=True)
    yield rest_api
    rest_api.control(reset=True)


def spec(api: RestApi, resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "rest",
        "source": {"uri": api.url, "resources": resources},
        "target": "duckdb:///w.duckdb",
        **extra,
    }


USERS_AND_POSTS = [
    {"name": "users", "path": "page/users"},
    {
        "name": "posts",
        "path": "/page/users/{user_id}/posts",
        "parent": {"resource": "users", "params": {"user_id": "id"}},
    },
]


def test_users_posts_and_nested_tables_load_exactly(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.run(validate_spec(spec(api, USERS_AND_POSTS)))
    assert result.status == "success", result.error
    counts = {name: table.rows_loaded for name, table in result.tables.items()}
    assert counts == {
        "users": len(USERS),
        "users__tags": len(TAGS),
        "users__orders": len(ORDERS),
        "users__orders__items": len(ITEMS),
        "posts": len(POSTS),
    }
    db = work / "w.duckdb"
    first = USERS[0]
    assert query(db, "SELECT address__geo__lat, address__city FROM users WHERE id = 1") == [
        (first["address"]["geo"]["lat"], first["address"]["city"])
    ]
    # Child keys: the parent's key and the position in the array.
    assert sorted(query(db, "SELECT _parent_id, _index, order_id, amount FROM users__orders")) == [
        (uid, i, o["order_id"], o["amount"]) for uid, i, o in ORDERS
    ]
    assert sorted(
        query(
            db,
            "SELECT _parent_parent_id, _parent_index, _index, sku, qty FROM users__orders__items",
        )
    ) == sorted((uid, i, j, it["sku"], it["qty"]) for uid, i, j, it in ITEMS)
    assert sorted(query(db, "SELECT _parent_id, _index, value FROM users__tags")) == sorted(TAGS)
    # Each post carries the id of the user whose page it came from.
    assert sorted(query(db, "SELECT _users_id, id, title FROM posts")) == sorted(
        (p["user_id"], p["id"], p["title"]) for p in POSTS
    )
    # Pages were fetched once, though four tables read the users' records.
    paths = api.stats()["paths"]
    assert paths["/page/users"] <= 2 + 8  # discovery + 5 pages (+ probing ahead at most)
    assert sum(n for p, n in paths.items() if p.endswith("/posts")) >= len(USERS)


def test_discovery_pins_keys_columns_and_decisions(api: RestApi, work: Path) -> None:
    source = source_for(validate_spec(spec(api, USERS_AND_POSTS)).source, home=work / ".aoetl")
    try:
        resources = {r.name: r for r in source.discover()}
        users = resources["users"]
        assert users.primary_key == ("id",)
        assert users.row_estimate == len(USERS)
        assert ("address__geo__lat", "DOUBLE") in users.columns
        assert ("updated_at", "TIMESTAMP") in users.columns
        said = [str(d) for d in users.decisions]
        assert "primary key: id ('id' is set and unique in all 50 sampled records)" in said
        assert any(d.startswith("records: under 'data'") for d in said)
        assert resources["users__orders__items"].primary_key == (
            "_parent_parent_id",
            "_parent_index",
            "_index",
        )
        assert resources["posts"].columns[0] == ("_users_id", "BIGINT")
        assert resources["posts"].primary_key == ("_users_id", "id")  # ids may repeat per parent
        assert all("127.0.0.1" in r.locations[0] for r in resources.values())
        first = source.fingerprint(users)
        assert first == source.fingerprint(users)
        # An incremental read sends the mark to the API and filters in SQL too.
        mark = sorted(u["updated_at"] for u in USERS)[200].replace("T", " ").rstrip("Z")
        source.close()
        since = spec(api, [{**USERS_AND_POSTS[0], "since_param": "since"}])
        since["source"]["incremental"] = {"users": {"cursor": "updated_at"}}
        source = source_for(validate_spec(since).source, home=work / ".aoetl")
        users = {r.name: r for r in source.discover()}["users"]
        before = api.stats()["paths"]["/page/users"]
        where = RowFilter("updated_at", ">", mark, "TIMESTAMP")
        got = read_relation(
            source.relation(users, where), work / ".aoetl", "SELECT count(*) FROM {r}"
        )
        assert got == [(len(USERS) - 201,)]
        assert api.stats()["paths"]["/page/users"] - before == 1  # one page holds them all
    finally:
        source.close()
    assert not list((work / ".aoetl" / "scratch").glob("*/*")), "close() removes scratch files"


def test_a_type_clash_across_pages_widens_with_a_warning(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.run(validate_spec(spec(api, [{"name": "clash", "path": "clash/items"}])))
    assert result.status == "success", result.error
    assert (
        "column clash.value: BIGINT on the first page, VARCHAR across all pages; loaded as VARCHAR"
        in result.notes
    )
    db = work / "w.duckdb"
    assert query(
        db, "SELECT data_type FROM information_schema.columns WHERE column_name = 'value'"
    ) == [("VARCHAR",)]
    assert query(db, "SELECT count(*), count(*) FILTER (value = 'n/a') FROM clash") == [(15, 5)]
    assert query(db, "SELECT value FROM clash WHERE id = 1") == [("10",)]


def test_bad_records_go_to_the_dead_letter_queue_with_the_page_url(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    bad = [{"name": "bad", "path": "bad/items", "primary_key": "id"}]
    result = orch.run(validate_spec(spec(api, bad)))
    assert result.status == "success", result.error
    table = result.tables["bad"]
    assert (table.rows_loaded, table.rows_rejected) == (2, 2)
    assert query(work / "w.duckdb", "SELECT id, name FROM bad ORDER BY id") == [(1, "a"), (4, "d")]
    entries = StateStore(work / ".aoetl").dlq_entries(result.run_id)
    assert sorted((e.file, e.line, e.reason, e.payload) for e in entries) == [
        (f"{api.url}/bad/items?page=1", 2, "the record is a number, not a JSON object", "42"),
        (f"{api.url}/bad/items?page=1", 3, "primary key id is null", '{"id":null,"name":"c"}'),
    ]


def test_merge_twice_loads_each_record_once(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    pipeline = validate_spec(spec(api, USERS_AND_POSTS[:1], mode="merge"))
    for _ in range(2):
        result = orch.run(pipeline, fresh=True)
        assert result.status == "success", result.error
    db = work / "w.duckdb"
    assert query(db, "SELECT count(*), count(DISTINCT id) FROM users") == [(250, 250)]
    assert query(db, "SELECT count(*) FROM users__orders__items") == [(len(ITEMS),)]


def test_an_incremental_run_asks_only_for_newer_records(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    resources = [{"name": "users", "path": "page/users", "since_param": "since"}]
    pipeline = spec(api, resources, mode="merge")
    pipeline["source"]["incremental"] = {"users": {"cursor": "updated_at"}}
    first = orch.run(validate_spec(pipeline))
    assert first.status == "success", first.error
    assert first.tables["users"].rows_loaded == len(USERS)
    again = orch.run(validate_spec(pipeline), fresh=True)
    assert again.status == "success", again.error
    assert again.tables["users"].rows_loaded == 0
    assert query(work / "w.duckdb", "SELECT count(*) FROM users") == [(len(USERS),)]


@pytest.mark.parametrize("since", [True, False], ids=["since_param", "filtered_here"])
def test_nested_tables_follow_their_top_tables_cursor(
    api: RestApi, orch: DataOrchestrator, work: Path, since: bool
) -> None:
    """Appending, an incremental rerun loads no nested row twice; with since_param it reads
    no page twice, and without, the rows of parents at or before the mark are left out."""
    resources: list[dict[str, Any]] = [{"name": "users", "path": "page/users"}]
    if since:
        resources[0]["since_param"] = "since"
    pipeline = spec(api, resources, mode="append")
    pipeline["source"]["incremental"] = {"users": {"cursor": "updated_at"}}
    first = orch.run(validate_spec(pipeline))
    assert first.status == "success", first.error
    assert first.tables["users__tags"].rows_loaded == len(TAGS)
    api.control(reset_counters=True)
    again = orch.run(validate_spec(pipeline), fresh=True)
    assert again.status == "success", again.error
    assert {t: r.rows_loaded for t, r in again.tables.items()} == dict.fromkeys(
        ("users", "users__orders", "users__orders__items", "users__tags"), 0
    )
    db = work / "w.duckdb"
    assert query(db, "SELECT count(*) FROM users__tags") == [(len(TAGS),)]
    assert query(db, "SELECT count(*) FROM users__orders__items") == [(len(ITEMS),)]
    assert query(db, "SELECT count(*) FROM _aoetl.cursors") == [(1,)]  # users' mark only
    if since:  # discovery's first page, and one read with since= that every table shares
        assert api.stats()["paths"]["/page/users"] == 2


def test_an_openapi_document_given_as_a_collection_says_to_plan_it(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.run(validate_spec(spec(api, [{"name": "doc", "path": "shop/openapi.json"}])))
    assert result.status == "failed" and result.error_kind == "bad_input"
    assert "is an OpenAPI document, not a collection" in (result.error or "")
    assert "aoetl plan" in (result.error or "")


def test_scratch_left_by_a_killed_run_is_removed(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    host = socket.gethostname().replace("-", "_")
    orphan = work / ".aoetl" / "scratch" / f"rest-{host}-999999999-abc"  # no such process
    elsewhere = work / ".aoetl" / "scratch" / "rest-otherhost-999999999-abc"
    elsewhere.mkdir(parents=True)  # another host's run, perhaps alive: left alone
    orphan.mkdir(parents=True)
    (orphan / "users-1.ndjson").write_text("{}\n")
    result = orch.run(validate_spec(spec(api, [{"name": "users", "path": "page/users"}])))
    assert result.status == "success", result.error
    assert not orphan.exists()
    assert list((work / ".aoetl" / "scratch").iterdir()) == [elsewhere]  # its own is gone


def test_an_api_that_ignores_the_page_number_loads_one_page_and_says_so(
    api: RestApi, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.run(validate_spec(spec(api, [{"name": "fixed", "path": "fixed/items"}])))
    assert result.status == "success", result.error
    assert result.tables["fixed"].rows_loaded == 5
    assert any("page 2 repeated page 1" in note for note in result.notes), result.notes
