"""``analyze`` on local folders: a related CSV export (keys and foreign keys), personal data,
quality issues, formats by name and by content, encodings and empty files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.analysis import SourceReport


def _copy(sql: str, path: Path, options: str = "HEADER") -> None:
    duckdb.execute(f"COPY ({sql}) TO '{path}' ({options})")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A database export: customers, products, orders, order_items (no line number)."""
    root = tmp_path / "export"
    root.mkdir()
    _copy(
        "SELECT range + 1 AS customer_id, 'Ann' || range AS first_name, "
        "'user' || range || '@example.com' AS email, "
        "'555-01' || lpad((range % 100)::VARCHAR, 2, '0') || '-' || lpad(range::VARCHAR, 4, '0')"
        " AS phone FROM range(60)",
        root / "customers.csv",
    )
    _copy(
        "SELECT range + 1 AS product_id, 'P' || range AS code, range * 1.5 AS price FROM range(20)",
        root / "products.csv",
    )
    _copy(
        "SELECT range + 1 AS order_id, range % 60 + 1 AS customer_id, "
        "TIMESTAMP '2024-01-01' + INTERVAL (range) HOUR AS updated_at, "
        "CASE WHEN range % 4 = 0 THEN 'gift' END AS note FROM range(300)",
        root / "orders.csv",
    )
    _copy(
        "SELECT range // 3 + 1 AS order_id, range % 20 + 1 AS product_id, 1 + range % 5 AS qty "
        "FROM range(900)",
        root / "order_items.csv",
    )
    return root


def test_a_csv_export_is_reported_like_the_database_it_came_from(
    orch: DataOrchestrator, export: Path
) -> None:
    report = orch.analyze(str(export))
    assert report.method == "sample" and report.sample_rows == 10_000
    customers, items, orders, products = (
        report.resource(n) for n in ("customers", "order_items", "orders", "products")
    )
    assert customers.primary_key == ("customer_id",)
    assert products.primary_key == ("product_id",)
    assert orders.primary_key == ("order_id",)
    # No single column is unique in order_items: the id-like pair is its key.
    assert items.primary_key == ("order_id", "product_id")
    assert items.candidate_keys[0].columns == ("order_id", "product_id")
    assert "unique and non-null in all 900 rows" in items.candidate_keys[0].reason
    pk = next(d for d in orders.decisions if d.what == "primary key")
    assert pk.value == "order_id" and "all 300 rows" in pk.reason

    assert {(r.columns, r.table, r.referenced_columns, r.coverage) for r in items.references} == {
        (("order_id",), "orders", ("order_id",), 1.0),
        (("product_id",), "products", ("product_id",), 1.0),
    }
    assert orders.foreign_keys == ("customer_id -> customers(customer_id)",)
    assert customers.references == () and products.references == ()

    assert orders.cursors[:2] == ("updated_at", "order_id")
    assert "_object_modified" in orders.cursors
    assert orders.row_estimate == 300 and orders.sampled_rows == 300
    note = next(f for f in orders.fields if f.name == "note")
    assert note.null_ratio == 0.75 and note.distinct == 1 and note.confidence == 1.0
    assert any(i.kind == "null_heavy" and i.column == "note" for i in orders.issues)
    data = report.to_dict()
    (json_items,) = [r for r in data["resources"] if r["name"] == "order_items"]
    assert json_items["references"][0]["coverage"] == 1.0
    assert json_items["files"][0]["format_by_extension"] == "csv"


def test_personal_data_is_suspected_by_name_and_by_values(
    orch: DataOrchestrator, export: Path
) -> None:
    report = orch.analyze(str(export))
    pii = {i.column: i.detail for i in report.resource("customers").issues if i.kind == "pii"}
    assert set(pii) == {"first_name", "email", "phone"}
    assert "name suggests email" in pii["email"] and "look like email addresses" in pii["email"]
    assert "look like phone numbers" in pii["phone"]
    # Evidence is a share, never a value.
    assert "@" not in pii["email"] and "Ann" not in pii["first_name"]


def test_card_numbers_are_told_by_luhn_and_unnamed_columns_by_values(
    orch: DataOrchestrator, tmp_path: Path
) -> None:
    valid = ["4111111111111111", "5500005555555559", "4012888888881881", "378282246310005"]
    lines = ["ref,contact,digits,ip,day,version"]
    for i in range(40):
        card, day = 9000000000000000 + i * 7, f"2024-01-{i % 28 + 1:02}"
        lines.append(f"{i},x{i}@mail.example.org,{card},10.0.{i}.1,{day},1.{10 + i}.{300 + i}")
    lines += [
        f"{40 + i},y{i}@mail.example.org,{n},192.168.0.{i},2024-02-01,2.0.{i}"
        for i, n in enumerate(valid)
    ]
    cards = tmp_path / "cards.csv"
    cards.write_text("\n".join(lines) + "\n")
    luhn_ok = tmp_path / "luhn.csv"
    luhn_ok.write_text("ref,number\n" + "\n".join(f"{i},{valid[i % 4]}" for i in range(20)))
    report = orch.analyze(str(cards))
    pii = {i.column: i.detail for i in report.all_issues() if i.kind == "pii"}
    assert pii["contact"].endswith("100% of 44 sampled values look like email addresses")
    assert "look like IP addresses" in pii["ip"]
    assert "digits" not in pii  # 16 digits, but most fail the Luhn check: no card numbers
    assert "day" not in pii and "version" not in pii  # split like phone numbers, but are not
    report = orch.analyze(str(luhn_ok))
    (issue,) = [i for i in report.all_issues() if i.kind == "pii"]
    assert issue.column == "number" and "card numbers" in issue.detail


def test_mixed_types_and_duplicate_keys(orch: DataOrchestrator, tmp_path: Path) -> None:
    rows = ["id,amount,code"]
    for i in range(200):
        amount = "pending" if i % 50 == 0 else str(i * 2)
        code = str(i) if i % 4 else f"C{i}"  # mostly numbers, a quarter text
        rows.append(f"{i if i != 7 else 6},{amount},{code}")
    (tmp_path / "sales.csv").write_text("\n".join(rows) + "\n")
    report = orch.analyze(str(tmp_path / "sales.csv"))
    (sales,) = report.resources
    issues = {(i.kind, i.column): i for i in sales.issues}
    amount = next(f for f in sales.fields if f.name == "amount")
    assert amount.type == "BIGINT" and amount.confidence == pytest.approx(196 / 200)
    assert "4 of 200 sampled values are not BIGINT" in issues[("mixed_types", "amount")].detail
    assert "mostly BIGINT (75%" in issues[("mixed_types", "code")].detail
    dup = issues[("duplicate_key", "id")]
    assert "1 of its 200 values repeat" in dup.detail
    assert "id" not in sales.primary_key


def test_formats_encodings_and_empty_files(orch: DataOrchestrator, tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "events.json").write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    (root / "people.csv").write_bytes("id,name\n1,José\n2,Renée\n3,Zoë\n".encode("latin-1"))
    (root / "bom.csv").write_bytes(b"\xef\xbb\xbfid,x\n1,2\n3,4\n")
    (root / "empty.csv").write_bytes(b"")
    (root / "notes.md").write_text("# not data\n")
    _copy("SELECT 1 AS k", root / "nums.parquet", "FORMAT parquet")
    _copy("SELECT 1 AS k", root / "zipped.csv.gz", "HEADER, COMPRESSION gzip")
    report = orch.analyze(str(root))
    by_file = {(i.kind, Path(i.file or "").name): i for i in report.all_issues()}
    mismatch = by_file[("format_mismatch", "events.json")]
    assert "named as json but its content is ndjson" in mismatch.detail
    assert mismatch.resource == "events"
    assert "read as latin-1" in by_file[("encoding", "people.csv")].detail
    assert "byte-order mark" in by_file[("encoding", "bom.csv")].detail
    assert by_file[("empty_file", "empty.csv")].resource is None
    assert ("unreadable", "notes.md") in by_file
    assert not any("empty.csv" in w or "notes.md" in w for w in report.warnings)
    files = {Path(f.path).name: f for r in report.resources for f in r.files}
    assert files["nums.parquet"].format_by_content == "parquet" and files["nums.parquet"].rows == 1
    zipped = files["zipped.csv.gz"]
    assert (zipped.format_by_extension, zipped.compression) == ("csv", "gzip")
    assert zipped.format_by_content == "csv" or zipped.format_by_content is None
    people = report.resource("people")
    assert [f.name for f in people.fields] == ["id", "name"]


def test_the_sample_size_bounds_what_is_read(orch: DataOrchestrator, tmp_path: Path) -> None:
    _copy("SELECT range AS id, range % 3 AS grp FROM range(5000)", tmp_path / "big.csv")
    report: SourceReport = orch.analyze(str(tmp_path / "big.csv"), sample_rows=100)
    (big,) = report.resources
    assert report.sample_rows == 100 and big.sampled_rows == 100
    assert (
        big.primary_key == ("id",) and "all 5,000 rows (read whole" in big.candidate_keys[0].reason
    )
    assert big.row_estimate is not None and 4000 < big.row_estimate < 6000
    assert report.to_dict()["sample_rows"] == 100
