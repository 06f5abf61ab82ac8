"""Nested JSON into flat tables: DuckDB types in, SQL out, run over small NDJSON files; and the
scratch files the source writes those records to, their types inferred chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from agent_orchestrated_etl.connectors.rest._flatten import (
    ROW_FIELD,
    Table,
    columns_arg,
    compare,
    flatten,
)
from agent_orchestrated_etl.connectors.rest._scratch import Writer, merge
from agent_orchestrated_etl.data.duck import quote_literal
from agent_orchestrated_etl.errors import UserError

USERS = [
    {
        "id": 1,
        "name": "ann",
        "address": {"city": "Oslo", "geo": {"lat": 59.9, "lng": 10.7}},
        "tags": ["a", "b"],
        "orders": [
            {
                "order_id": 10,
                "amount": 5.5,
                "items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}],
            },
            {"order_id": 11, "amount": 1.0, "items": []},
        ],
    },
    {
        "id": 2,
        "name": "bob",
        "address": {"city": "Rome", "geo": {"lat": 41.9, "lng": 12.5}},
        "tags": [],
        "orders": None,
    },
]


def scan(tmp_path: Path, records: list[object], name: str = "r.ndjson") -> str:
    path = tmp_path / name
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return f"read_json({quote_literal(str(path))}, format='newline_delimited', sample_size=-1)"


def tables(source: str, name: str, key: tuple[str, ...]) -> dict[str, Table]:
    rel = duckdb.sql(f"SELECT * FROM {source}")
    return {t.name: t for t in flatten(name, list(zip(rel.columns, rel.types, strict=True)), key)}


def rows(table: Table, source: str) -> list[tuple[object, ...]]:
    return sorted(duckdb.sql(table.select(source)).fetchall(), key=repr)


def test_objects_become_columns_and_arrays_child_tables(tmp_path: Path) -> None:
    source = scan(tmp_path, USERS)
    found = tables(source, "users", ("id",))
    assert list(found) == ["users", "users__tags", "users__orders", "users__orders__items"]
    users = found["users"]
    assert users.columns == (
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("address__city", "VARCHAR"),
        ("address__geo__lat", "DOUBLE"),
        ("address__geo__lng", "DOUBLE"),
    )
    assert users.key == ("id",)
    assert rows(users, source) == [(1, "ann", "Oslo", 59.9, 10.7), (2, "bob", "Rome", 41.9, 12.5)]
    # What the SQL returns is what the table says it returns.
    rel = duckdb.sql(users.select(source))
    assert list(zip(rel.columns, map(str, rel.types), strict=True)) == list(users.columns)

    tags = found["users__tags"]
    assert tags.key == ("_parent_id", "_index")
    assert [c for c, _ in tags.columns] == ["_parent_id", "_index", "value"]
    assert rows(tags, source) == [(1, 0, "a"), (1, 1, "b")]

    orders = found["users__orders"]
    assert [c for c, _ in orders.columns] == ["_parent_id", "_index", "order_id", "amount"]
    assert rows(orders, source) == [(1, 0, 10, 5.5), (1, 1, 11, 1.0)]

    items = found["users__orders__items"]
    assert items.key == ("_parent_parent_id", "_parent_index", "_index")
    assert items.path == ("orders", "items")
    assert rows(items, source) == [(1, 0, 0, "x", 1), (1, 0, 1, "y", 2)]


def test_without_a_key_the_row_number_links_children(tmp_path: Path) -> None:
    records = [{"_aoetl_row": i + 1, "tags": t} for i, t in enumerate([["p"], ["q", "r"]])]
    source = scan(tmp_path, records)
    found = tables(source, "t", ())
    assert found["t"].columns == (("_row", "BIGINT"),)
    assert found["t"].key == ("_row",)
    assert rows(found["t__tags"], source) == [(1, 0, "p"), (2, 0, "q"), (2, 1, "r")]


def test_mixed_and_untyped_values_load_as_text(tmp_path: Path) -> None:
    records = [
        {"id": 1, "value": 5, "extra": {"k": 1}, "nested": [[1, 2], [3]]},
        {"id": 2, "value": "n/a", "extra": "plain", "nested": []},
        {"id": 3, "value": None, "extra": None, "nested": None},
    ]
    source = scan(tmp_path, records)
    found = tables(source, "clash", ("id",))
    assert dict(found["clash"].columns) == {"id": "BIGINT", "value": "VARCHAR", "extra": "VARCHAR"}
    assert rows(found["clash"], source) == [
        (1, "5", '{"k":1}'),
        (2, "n/a", "plain"),
        (3, None, None),
    ]
    assert rows(found["clash__nested"], source) == [(1, 0, "[1,2]"), (1, 1, "[3]")]


def test_pinned_columns_read_the_same_without_inference(tmp_path: Path) -> None:
    source = scan(tmp_path, USERS)
    rel = duckdb.sql(f"SELECT * FROM {source}")
    fields = list(zip(rel.columns, rel.types, strict=True))
    path = tmp_path / "r.ndjson"
    pinned = (
        f"read_json({quote_literal(str(path))}, format='newline_delimited', "
        f"columns={columns_arg(fields)})"
    )
    for table in flatten("users", fields, ("id",)):
        assert rows(table, pinned) == rows(table, source)


def test_a_key_that_is_not_a_column_is_a_user_error(tmp_path: Path) -> None:
    source = scan(tmp_path, USERS)
    with pytest.raises(UserError, match="primary key uid is not a column"):
        tables(source, "users", ("uid",))


def test_two_fields_with_one_flat_name_are_a_user_error(tmp_path: Path) -> None:
    source = scan(tmp_path, [{"a": {"b": 1}, "a__b": 2}])
    with pytest.raises(UserError, match="'a__b'"):
        tables(source, "t", ())


def test_compare_names_widened_new_and_vanished_columns() -> None:
    notes = compare(
        "clash",
        [("id", "BIGINT"), ("value", "BIGINT"), ("gone", "VARCHAR")],
        [("id", "BIGINT"), ("value", "VARCHAR"), ("late", "DOUBLE")],
    )
    assert notes == [
        "column clash.value: BIGINT on the first page, VARCHAR across all pages; loaded as VARCHAR",
        "column clash.late (DOUBLE) appears only after the first page; added to the table",
        "column clash.gone (VARCHAR) from the first page has no values of that shape across "
        "all pages; loaded as NULL",
    ]
    assert compare("t", [("id", "BIGINT")], [("id", "BIGINT")]) == []


# Pages whose types change from page to page: each page is a chunk of its own below.
PAGES = [
    [{"id": 1, "value": 5, "when": "2024-01-01", "address": {"city": "Oslo"}, "gone": None}],
    [{"id": 2, "value": 6, "when": "2024-01-02", "address": {"city": "Rome", "zip": "00100"}}],
    [{"id": 3, "value": "n/a", "when": "soon", "late": [{"x": 1}], "gone": "now"}],
    [{"id": 4, "value": 7.5, "late": [{"y": "b"}]}],
]


def test_chunks_inferred_apart_have_the_types_of_one_inference(tmp_path: Path) -> None:
    con = duckdb.connect()
    writer = Writer(tmp_path / "r.ndjson", "r", ("id",), con, chunk_bytes=1)
    for page in PAGES:
        writer.page("u", page)
    scratch = writer.finish(con.cursor())
    assert ROW_FIELD not in PAGES[0][0], "the page's records are left as they came"
    assert len(scratch.paths) == len(PAGES)
    whole = tmp_path / "whole.ndjson"
    numbered = [{**r, ROW_FIELD: i} for i, r in enumerate((r for p in PAGES for r in p), 1)]
    whole.write_bytes(b"\n".join(orjson.dumps(r) for r in numbered))
    rel = con.sql(f"SELECT * FROM read_json({quote_literal(str(whole))}, sample_size=-1)")
    once = [(n, str(t)) for n, t in zip(rel.columns, rel.types, strict=True)]
    assert [(n, str(t)) for n, t in scratch.fields] == once
    assert dict(once)["value"] == "JSON" and dict(once)["when"] == "VARCHAR"
    got = con.sql(f"SELECT id, {ROW_FIELD} FROM {scratch.scan()}").fetchall()
    assert got == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_chunks_that_agree_merge_without_reading_again() -> None:
    big, text = duckdb.sqltype("BIGINT"), duckdb.sqltype("VARCHAR")
    assert merge([[("id", big)], [("id", big), ("name", text)], [("name", text)]]) == [
        ("id", big),
        ("name", text),
    ]
    assert merge([[("id", big)], [("id", text)]]) is None


def test_bad_records_are_numbered_and_left_out(tmp_path: Path) -> None:
    con = duckdb.connect()
    writer = Writer(tmp_path / "r.ndjson", "r", ("id",), con, chunk_bytes=1)
    writer.page("u1", [{"id": 1}, 42, {"id": None}, {"name": "no id"}])
    writer.page("u2", [None])  # a chunk of bad records only: no file left for it
    writer.page("u3", [{"id": 2}], {"_p_id": 9})
    scratch = writer.finish(con.cursor())
    assert [(b.file, b.line, b.reason) for b in scratch.bad] == [
        ("u1", 2, "the record is a number, not a JSON object"),
        ("u1", 3, "primary key id is null"),
        ("u1", 4, "primary key id is missing"),
        ("u2", 1, "the record is null, not a JSON object"),
    ]
    assert len(scratch.paths) == 2 and all(p.exists() for p in scratch.paths)
    rows = con.sql(f"SELECT _p_id, id, {ROW_FIELD} FROM {scratch.scan()}").fetchall()
    assert rows == [(None, 1, 1), (9, 2, 6)]
    assert len(list(tmp_path.iterdir())) == 2
    writer.abandon()
    assert not list(tmp_path.iterdir())


def test_records_of_a_keyed_resource_without_children_go_unnumbered(tmp_path: Path) -> None:
    con = duckdb.connect()
    writer = Writer(tmp_path / "r.ndjson", "r", ("id",), con, numbered=False)
    writer.page("u1", [{"id": 1, "name": "a"}, {"id": None}])
    writer.page("u2", [{"id": 2, "name": "b"}])
    scratch = writer.finish(con.cursor())
    assert [name for name, _ in scratch.fields] == ["id", "name"]
    assert con.sql(f"SELECT * FROM {scratch.scan()}").fetchall() == [(1, "a"), (2, "b")]
    assert [(b.file, b.line) for b in scratch.bad] == [("u1", 2)]
    (users,) = [t for t in flatten("r", scratch.fields, ("id",)) if not t.path]
    assert rows(users, scratch.scan()) == [(1, "a"), (2, "b")]


def test_a_timestamp_with_an_offset_loads_as_the_utc_time_it_names(tmp_path: Path) -> None:
    records = [  # DuckDB types a column TIMESTAMP when its values share one form
        {"id": 1, "at": "2024-03-02T10:00:00+02:00", "in": {"at": "2024-03-02T10:00:00"}},
        {"id": 2, "at": "2024-03-02T23:30:00-01:30", "in": {"at": "2024-03-02T23:30:00"}},
    ]
    source = scan(tmp_path, records)
    rel = duckdb.sql(f"SELECT * FROM {source}")
    fields = list(zip(rel.columns, rel.types, strict=True))
    pinned = (
        f"read_json({quote_literal(str(tmp_path / 'r.ndjson'))}, format='newline_delimited', "
        f"columns={columns_arg(fields)})"
    )
    (table,) = flatten("t", fields, ("id",))
    assert dict(table.columns) == {"id": "BIGINT", "at": "TIMESTAMP", "in__at": "TIMESTAMP"}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Tokyo'")  # the session's zone changes nothing
    got = sorted(con.sql(table.select(pinned)).fetchall())
    assert [(i, str(a), str(b)) for i, a, b in got] == [
        (1, "2024-03-02 08:00:00", "2024-03-02 10:00:00"),
        (2, "2024-03-03 01:00:00", "2024-03-02 23:30:00"),
    ]


def test_fields_that_differ_only_in_case_are_a_user_error(tmp_path: Path) -> None:
    source = scan(tmp_path, [{"id": 1, "Name": "x", "name": "y"}])
    with pytest.raises(UserError, match=r"differ only in case \('Name' and 'name'\)"):
        tables(source, "people", ("id",))
    plain = scan(tmp_path, [{"id": 1, "name": "x", "name_1": "y"}], "plain.ndjson")
    assert set(tables(plain, "people", ("id",))) == {"people"}  # a real name_1 is fine


def test_an_array_discovery_did_not_see_loads_as_json_text_of_its_parent(
    tmp_path: Path,
) -> None:
    source = scan(tmp_path, USERS)
    rel = duckdb.sql(f"SELECT * FROM {source}")
    fields = list(zip(rel.columns, rel.types, strict=True))
    found = flatten("users", fields, ("id",), frozenset({("orders", "items")}))
    by_name = {t.name: t for t in found}
    assert "users__orders__items" not in by_name
    assert dict(by_name["users__orders"].columns)["items"] == "VARCHAR"
    assert (
        rows(by_name["users__orders"], source)[0][-1] == '[{"sku":"x","qty":1},{"sku":"y","qty":2}]'
    )
