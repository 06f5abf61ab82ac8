"""Anonymised samples: columns found by name and by value, hash / mask / fake values of the
right shape, the same fake for the same value across tables and runs, and no real value in
any file or output."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import stat
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.analysis.pii import PYTHON_PATTERNS as VALUE_PATTERNS
from agent_orchestrated_etl.analysis.pii import luhn
from agent_orchestrated_etl.errors import UserError
from tests.helpers import run_cli

PEOPLE = 40
SALT = "test-salt-" + "9" * 8


def _card(i: int) -> str:
    body = f"4{i:014d}"
    return next(f"{body}{d}" for d in "0123456789" if luhn(f"{body}{d}"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """customers.csv with personal data of every kind, orders.csv naming them by email."""
    root = tmp_path_factory.mktemp("pii")
    lines = ["id,first_name,contact,phone,ssn,card,ip,birth_date,notes"]
    for i in range(PEOPLE):
        name = "" if i % 10 == 3 else f"Name{i}"  # some nulls
        lines.append(
            f"{i},{name},person{i}@mail{i % 3}.org,+1 555 {i:03d} {1000 + i},"
            f"{100 + i:03d}-45-{6000 + i},{_card(i)},10.0.{i}.{i + 1},"
            f"19{50 + i % 40}-0{1 + i % 9}-1{i % 9},memo {i}"
        )
    (root / "customers.csv").write_text("\n".join(lines) + "\n")
    orders = ["order_id,customer_id,customer_email"]
    orders += [f"{o},{o % PEOPLE},person{o % PEOPLE}@mail{o % PEOPLE % 3}.org" for o in range(60)]
    (root / "orders.csv").write_text("\n".join(orders) + "\n")
    return root


def real_values(shop: Path, notes: bool) -> set[str]:
    """Every personal value of the fixture, as text (and the notes, when listed as such)."""
    rows = duckdb.sql(
        f"SELECT first_name, contact, phone, ssn, card, ip, CAST(birth_date AS VARCHAR), "
        f"{'notes' if notes else 'NULL'} "
        f"FROM read_csv({str(shop / 'customers.csv')!r}, types={{'card': 'VARCHAR'}})"
    ).fetchall()
    return {str(v) for row in rows for v in row if v is not None}


def read(path: Path) -> list[dict[str, object]]:
    rel = duckdb.sql(f"SELECT * FROM {str(path)!r}")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def leaks(text: str, shop: Path, *, notes: bool = True) -> list[str]:
    return [v for v in real_values(shop, notes) if v in text]


def test_mask_hides_the_middle_and_keeps_the_shape(
    shop: Path, orch: DataOrchestrator, work: Path
) -> None:
    result = orch.sample(
        str(shop / "customers.csv"),
        work / "m.csv",
        rows=PEOPLE,
        anonymize=True,
        anonymize_with="mask",
        pii=("notes",),
    )
    assert result.irreversible
    assert not (work / ".aoetl" / "sample.salt").exists()  # a mask needs no key
    assert result.anonymized == {
        "first_name": "mask (name)",
        "contact": "mask (email)",
        "phone": "mask (phone)",
        "ssn": "mask (ssn)",
        "card": "mask (card_number, written as text)",
        "ip": "mask (ip_address)",
        "birth_date": "mask (birth_date, written as text)",
        "notes": "mask (listed)",
    }
    text = (work / "m.csv").read_text()
    assert not leaks(text, shop)
    by_id = {r["id"]: r for r in read(work / "m.csv")}
    one = by_id[12]
    assert one["contact"] == "p*******@m****.org"
    assert one["phone"] == "+1 *** *** 1012"
    assert one["ssn"] == "***-**-6012"
    assert str(one["card"]).endswith(_card(12)[-4:]) and set(str(one["card"])[:-4]) == {"*"}
    assert one["ip"] == "10.*.*.*"
    assert one["first_name"] == "N*****"
    assert re.fullmatch(r"19\d\d-\*\*-\*\*", str(one["birth_date"]))
    assert by_id[3]["first_name"] is None  # nulls stay null


def test_fake_keeps_kind_format_and_type(shop: Path, orch: DataOrchestrator, work: Path) -> None:
    result = orch.sample(
        str(shop / "customers.csv"), work / "f.parquet", rows=PEOPLE, anonymize=True, salt=SALT
    )
    assert not result.irreversible
    assert result.anonymized["contact"] == "fake (email)"
    assert result.anonymized["birth_date"] == "fake (birth_date)"
    assert "notes" not in result.anonymized
    described = duckdb.sql(f"DESCRIBE SELECT * FROM {str(work / 'f.parquet')!r}").fetchall()
    types = {r[0]: r[1] for r in described}
    assert types["birth_date"] == "DATE" and types["card"] == "BIGINT"
    rows = read(work / "f.parquet")
    assert not leaks(json.dumps(rows, default=str), shop, notes=False)
    for row in rows:
        assert re.fullmatch(VALUE_PATTERNS["email"], str(row["contact"]))
        assert str(row["contact"]).split("@")[1].startswith("example.")
        assert re.fullmatch(r"\+1 \d{3} \d{3} \d{4}", str(row["phone"]))
        assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", str(row["ssn"]))
        assert luhn(str(row["card"])) and len(str(row["card"])) == 16
        assert re.fullmatch(VALUE_PATTERNS["ip_address"], str(row["ip"]))
    assert sum(r["first_name"] is None for r in rows) == PEOPLE // 10


def test_fakes_and_hashes_join_across_tables_and_runs(
    shop: Path, orch: DataOrchestrator, work: Path
) -> None:
    for how in ("fake", "hash"):
        for name in ("customers", "orders"):
            orch.sample(
                str(shop / f"{name}.csv"),
                work / f"{name}.{how}.csv",
                rows=100,
                anonymize=True,
                anonymize_with=how,
                salt=SALT,
            )
        customers = {r["id"]: r["contact"] for r in read(work / f"customers.{how}.csv")}
        orders = read(work / f"orders.{how}.csv")
        assert len(orders) == 60
        assert all(o["customer_email"] == customers[o["customer_id"]] for o in orders)
        assert len(set(customers.values())) == PEOPLE  # no two people share a fake
    # The documented token: HMAC-SHA256 of the value keyed by the salt, 16 hex characters.
    hashed = {r["id"]: r["contact"] for r in read(work / "customers.hash.csv")}
    digest = hmac.new(SALT.encode(), b"person7@mail1.org", hashlib.sha256).hexdigest()
    assert hashed[7] == digest[:16]
    again = work / "again.csv"
    orch.sample(str(shop / "customers.csv"), again, rows=100, anonymize=True, salt=SALT)
    # All rows again (another seed: another order): every value gets the same fake.
    assert sorted(again.read_text().splitlines()) == sorted(
        (work / "customers.fake.csv").read_text().splitlines()
    )
    other = work / "other.csv"
    orch.sample(str(shop / "customers.csv"), other, rows=100, anonymize=True, salt="another")
    fakes = {r["id"]: r["contact"] for r in read(other)}
    assert all(fakes[i] != customers[i] for i in fakes)


def test_salt_from_a_reference_or_kept_in_the_workspace(
    shop: Path, orch: DataOrchestrator, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_SALT", SALT)
    orch.sample(
        str(shop / "orders.csv"),
        work / "ref.csv",
        rows=5,
        method="head",
        anonymize_with="hash",
        pii=("customer_email",),
        salt="${env:SHOP_SALT}",
    )
    first = read(work / "ref.csv")[0]["customer_email"]
    assert first == hmac.new(SALT.encode(), b"person0@mail0.org", hashlib.sha256).hexdigest()[:16]
    # No salt given: one is made once in AOETL_HOME, private, and used again.
    for name in ("w1.csv", "w2.csv"):
        orch.sample(
            str(shop / "orders.csv"), work / name, rows=5, method="head", anonymize_with="hash",
            pii=("customer_email",),
        )  # fmt: skip
    kept = work / ".aoetl" / "sample.salt"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and len(kept.read_text()) == 64
    assert (work / "w1.csv").read_text() == (work / "w2.csv").read_text()
    assert (work / "w1.csv").read_text() != (work / "ref.csv").read_text()
    with pytest.raises(UserError, match="--pii nope: no such column"):
        orch.sample(str(shop / "orders.csv"), work / "x.csv", rows=5, pii=("nope",))


def test_cli_prints_no_real_value_and_no_salt(shop: Path, work: Path) -> None:
    done = run_cli(
        "sample", str(shop / "customers.csv"), "--rows", "10", "--anonymize", "--with", "fake",
        "--salt", "${env:SHOP_SALT}", "--pii", "notes", "-o", "out.json", "--json", cwd=work,
        env={"SHOP_SALT": SALT},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert SALT not in said and not leaks(said, shop)
    assert not leaks((work / "out.json").read_text(), shop)
    assert "anonymised: first_name=fake (name), contact=fake (email)" in done.stderr
    assert json.loads(done.stdout)["anonymized"]["notes"] == "fake (listed)"


NESTED_PII = ("ann@mail.org", "bo@mail.org", "cy@mail.org", "Ann Lee", "123-45-6789", "555 0101")


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB table with personal data inside STRUCT, LIST, MAP, JSON and BLOB columns."""
    path = tmp_path_factory.mktemp("nested") / "people.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        """CREATE TABLE people AS SELECT i AS id,
          {'email': ['ann@mail.org', 'bo@mail.org'][i % 2 + 1], 'full_name': 'Ann Lee', 'age': 30}
            AS contact,
          ['cy@mail.org', 'bo@mail.org'] AS emails,
          MAP {'phone': '+1 555 0101', 'plan': 'gold'} AS props,
          '{"user": {"ssn": "123-45-6789", "tier": "a"}, "note": "mail cy@mail.org"}'::JSON
            AS doc,
          'from ann@mail.org'::BLOB AS raw,
          {'kind': 'x', 'n': i} AS meta
        FROM range(6) r(i)"""
    )
    con.close()
    return path


@pytest.mark.parametrize("how", ["mask", "hash", "fake"])
def test_nested_columns_are_anonymised_inside(
    nested: Path, orch: DataOrchestrator, work: Path, how: str
) -> None:
    out = work / f"nested-{how}.parquet"
    result = orch.sample(
        f"duckdb:///{nested}", out, rows=6, anonymize=True, anonymize_with=how, salt=SALT
    )
    assert set(result.anonymized) == {"contact", "emails", "props", "doc", "raw"}, result
    dumped = duckdb.sql(f"SELECT * FROM {str(out)!r}").fetchall()
    assert not [v for v in NESTED_PII if v in repr(dumped)], dumped
    described = duckdb.sql(f"DESCRIBE SELECT * FROM {str(out)!r}").fetchall()
    types = {r[0]: r[1] for r in described}
    # A struct stays a struct where its fields keep their types, field by field.
    rows = read(out)
    for row in rows:
        contact = row["contact"]
        assert isinstance(contact, dict) and contact["age"] == 30
        if how == "fake":
            assert re.fullmatch(VALUE_PATTERNS["email"], contact["email"])
        assert row["meta"]["kind"] == "x"  # no personal data: as it was
        assert len(row["emails"]) == 2
        assert json.loads(str(row["doc"]))["user"]["tier"] == "a"
    assert types["contact"] == "STRUCT(email VARCHAR, full_name VARCHAR, age INTEGER)"
    assert (types["emails"], types["doc"], types["raw"]) == ("VARCHAR[]", "JSON", "BLOB")
    notes = result.anonymized
    assert notes["contact"] == f"{how} (email at contact.email, name at contact.full_name)"
    assert notes["doc"] == f"{how} (email in text at doc.note, ssn at doc.user.ssn)"


def test_nested_columns_in_csv_and_the_cli_leak_nothing(nested: Path, work: Path) -> None:
    done = run_cli(
        "sample", f"duckdb:///{nested}", "--rows", "6", "--anonymize", "--with", "mask",
        "-o", "n.csv", "--json", cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr + (work / "n.csv").read_text()
    assert not [v for v in NESTED_PII if v in said]
    assert json.loads(done.stdout)["irreversible"] is True


def test_a_mask_never_gives_back_the_value() -> None:
    from agent_orchestrated_etl.quality._fake import mask_value

    # A one-letter word kept its letter: the address masked to itself.
    assert mask_value("email", "a@b.org") == "*@*.org"
    assert mask_value("name", "Ann Jo Leeds") == "*** ** L****"


def test_a_mask_hides_short_values_booleans_and_cjk_and_fakes_keep_extensions() -> None:
    from faker import Faker

    from agent_orchestrated_etl.quality._fake import fake_value, mask_value

    # A boolean's or a short value's length gave it away (False -> F****, True -> T***).
    assert mask_value(None, True) == mask_value(None, False) == "***"
    assert mask_value(None, "yes") == mask_value(None, "no") == mask_value(None, 7) == "***"
    assert mask_value("name", "Jo A Lee") == "** * ***"
    assert mask_value("address", "港区") == "***"  # one character was half of it
    assert "東" not in mask_value("address", "東京都港区六本木")
    assert mask_value("name", "Name12") == "N*****"
    fake = Faker("en_US")
    fake.seed_instance(3)
    made = fake_value(fake, "phone", "phone", "001-234-567-8901x8649")
    assert re.fullmatch(r"\d{3}-\d{3}-\d{3}-\d{4}x\d{4}", str(made)), made


def test_a_column_mostly_but_not_all_emails_has_its_emails_replaced(
    orch: DataOrchestrator, work: Path
) -> None:
    # 75 % emails: under the 80 % share that flags a column, yet its emails are personal data.
    lines = ["id,contact"] + [
        f"{i},{'unknown' if i % 4 == 0 else f'who{i}@mail.org'}" for i in range(40)
    ]
    lines += ["40,only one 123-45-6789 here"]
    (work / "mixed.csv").write_text("\n".join(lines) + "\n")
    for how in ("mask", "hash", "fake"):
        out = work / f"mixed-{how}.csv"
        result = orch.sample(
            str(work / "mixed.csv"), out, rows=50, anonymize=True, anonymize_with=how, salt=SALT
        )
        assert result.anonymized == {"contact": f"{how} (email, the matching values)"}, how
        text = out.read_text()
        assert "@mail.org" not in text and "123-45-6789" not in text, how
        assert text.count("unknown") == 10, how  # the other values stay as they were


def test_an_address_with_letters_of_any_script_is_replaced_whole(
    orch: DataOrchestrator, work: Path
) -> None:
    # 'oluwaseun.müller29@…' once kept 'oluwaseun.mü' and faked only the ASCII rest.
    people = ["oluwaseun.müller29@mail.example.com", "jürgen.57@bücher.de", "zoë@ex.org"]
    lines = ["id,contact"] + [f"{i},{people[i % 3]}" for i in range(30)]
    (work / "intl.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = work / "intl-sample.csv"
    result = orch.sample(str(work / "intl.csv"), out, rows=30, anonymize=True, salt=SALT)
    assert result.anonymized == {"contact": "fake (email)"}
    text = out.read_text(encoding="utf-8")
    assert not any(part in text for part in ("oluwaseun", "müller", "jürgen", "bücher", "zoë"))
