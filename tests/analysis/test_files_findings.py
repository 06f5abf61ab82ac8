"""``analyze`` findings a new user questioned: SSNs told from phone numbers, decimals not
counted as integers, broken NDJSON lines, foreign keys that almost hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from tests.servers import S3Server


def test_social_security_numbers_are_not_phone_numbers(
    orch: DataOrchestrator, tmp_path: Path
) -> None:
    lines = ["id,ssn,ssn_like,ref,phone"]
    for i in range(60):
        ssn = f"{100 + i}-45-{6789 + i}"
        lines.append(f"{i},{ssn},{ssn},{ssn},555-01{i % 100:02}-{i:04}")
    (tmp_path / "people.csv").write_text("\n".join(lines) + "\n")
    report = orch.analyze(str(tmp_path / "people.csv"))
    pii = {i.column: i.detail for i in report.all_issues() if i.kind == "pii"}
    for column in ("ssn", "ssn_like"):
        assert "its name suggests ssn" in pii[column]
        assert pii[column].endswith(
            "100% of 60 sampled values look like US social security numbers"
        )
    # No name to go by: on a tie the narrower pattern wins.
    assert pii["ref"] == (
        "suspected personal data: 100% of 60 sampled values look like US social security numbers"
    )
    assert "look like phone numbers" in pii["phone"]


def test_decimals_are_not_counted_as_integers_and_mostly_means_more_than_half(
    orch: DataOrchestrator, tmp_path: Path
) -> None:
    # Like /usr/share/distro-info/ubuntu.csv: 4.10, 5.04 … and a quarter '6.06 LTS'.
    versions = [f"{4 + i // 2}.{'04' if i % 2 else '10'}" for i in range(30)]
    versions += [f"{6 + i}.04 LTS" for i in range(10)]
    half = ["1", "2", "3", "a", "b", "c"] * 6 + ["d", "e", "4", "5"]
    lines = ["version,half"] + [f"{v},{h}" for v, h in zip(versions, half, strict=True)]
    (tmp_path / "releases.csv").write_text("\n".join(lines) + "\n")
    report = orch.analyze(str(tmp_path / "releases.csv"))
    mixed = {i.column: i.detail for i in report.all_issues() if i.kind == "mixed_types"}
    assert mixed["version"].startswith("mostly DOUBLE (75% of 40 sampled values)")
    assert "half" not in mixed  # 20 of 40 numbers is not "mostly"


def test_ndjson_lines_that_are_not_records_are_an_issue(
    orch: DataOrchestrator, tmp_path: Path
) -> None:
    (tmp_path / "broken.ndjson").write_text('{"a": 1}\n{"a": "x"}\n{"a": 2, oops\n{"a": 2}\n')
    (tmp_path / "clean.ndjson").write_text('{"b": 1}\n\n{"b": 2}\nnull\n')
    report = orch.analyze(str(tmp_path))
    (issue,) = [i for i in report.all_issues() if i.kind == "unreadable"]
    assert issue.resource == "broken" and issue.file is not None
    assert issue.file.endswith("broken.ndjson") and issue.severity == "warning"
    assert issue.detail.startswith("1 of 4 lines read are not JSON objects")
    assert "a run quarantines them" in issue.detail


def test_broken_ndjson_lines_are_counted_in_an_s3_object_too(
    orch: DataOrchestrator, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.bucket()
    body = b'{"a": 1}\n[1, 2]\n{"a": 2, oops\n{"a": 3}\n\xff\xfe\n{"a": 4}\n'
    s3_server.client().put_object(Bucket=bucket, Key="logs/events.ndjson", Body=body)
    report = orch.analyze(f"s3://{bucket}/logs/")
    (issue,) = [i for i in report.all_issues() if i.kind == "unreadable"]
    assert issue.file == f"s3://{bucket}/logs/events.ndjson"
    assert issue.detail.startswith("3 of 6 lines read are not JSON objects")


def test_a_foreign_key_with_orphans_is_a_hint_not_a_reference(
    orch: DataOrchestrator, tmp_path: Path
) -> None:
    users = ["id,name"] + [f"{i},u{i}" for i in range(1, 101)]
    (tmp_path / "users.csv").write_text("\n".join(users) + "\n")
    # 100 distinct user ids, 9 of them (101..109) not in users.
    orders = ["order_id,user_id"] + [f"{i},{i if i <= 91 else 100 + i - 91}" for i in range(1, 101)]
    (tmp_path / "orders.csv").write_text("\n".join(orders) + "\n")
    report = orch.analyze(str(tmp_path))
    orders_report = report.resource("orders")
    assert orders_report.references == () and orders_report.foreign_keys == ()
    (issue,) = [i for i in orders_report.issues if i.kind == "orphans"]
    assert issue.column == "user_id" and issue.severity == "info"
    assert issue.detail.startswith(
        "user_id -> users(id): 91% of its distinct values are found there; 9% are orphans"
    )
    # A cleaner child is still a reference, with no hint.
    (tmp_path / "orders.csv").write_text(
        "\n".join(["order_id,user_id"] + [f"{i},{i}" for i in range(1, 101)]) + "\n"
    )
    report = orch.analyze(str(tmp_path))
    assert report.resource("orders").foreign_keys == ("user_id -> users(id)",)
    assert not [i for i in report.all_issues() if i.kind == "orphans"]
