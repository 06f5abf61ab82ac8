"""``aoetl profile`` as a new user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli

CSV = "id,email,amount,status\n" + "".join(
    f"{i},user{i}@example.com,{i * 2.5},{['new', 'paid'][i % 2]}\n" for i in range(1, 41)
)


def test_profile_json_table_and_depth(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(CSV)
    done = run_cli(
        "profile", "orders.csv", "--json", "--depth", "deep", "--html", "r.html", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [r["profile"]["table"] for r in reports] == ["orders"]
    report = reports[0]
    assert set(report) == {"profile", "anomalies", "score", "history"}
    profile = report["profile"]
    assert profile["depth"] == "deep" and profile["rows"] == 40
    assert profile["candidate_keys"][0] == ["id"] and profile["correlations"] is not None
    columns = {c["name"]: c for c in profile["columns"]}
    assert columns["email"]["pii"] == "email" and columns["email"]["top"] == []
    assert "example.com" not in done.stdout + done.stderr
    assert columns["amount"]["mean"] == 51.25 and columns["status"]["distinct_exact"]
    assert 0 <= report["score"]["total"] <= 100
    assert "status" in done.stderr and "score" in done.stderr  # the table on stderr
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!") and "orders" in page and "example.com" not in page

    missing = run_cli("profile", "orders.csv", "--table", "nope", cwd=tmp_path)
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "no table 'nope'" in lines[0] and "orders" in lines[0]
    assert "Traceback" not in missing.stderr
    nowhere = run_cli("profile", "orders.csv", "--html", "no/such/r.html", cwd=tmp_path)
    assert nowhere.returncode == 2 and "--html" in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) == 1


def test_names_and_values_are_printed_as_they_are(tmp_path: Path) -> None:
    rows = "".join(f"{i},[/x],[red]a{i % 2}\n" for i in range(30))
    (tmp_path / "odd.csv").write_text("tag[/b],note,[bold]c\n" + rows)
    done = run_cli("profile", "odd.csv", "--no-record", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tag[/b]" in done.stderr and "[/x]" in done.stderr and "[red]a0" in done.stderr
    assert "[bold]c" in done.stderr


def test_the_report_never_overwrites_the_source(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(CSV)
    for source, html in (
        ("orders.csv", "orders.csv"),
        ("./orders.csv", str(tmp_path / "data" / "orders.csv")),
        ("*.csv", "./orders.csv"),
        (".", "orders.csv"),
    ):
        done = run_cli("profile", source, "--html", html, "--no-record", cwd=tmp_path / "data")
        assert done.returncode == 2, (source, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--html" in lines[0] and "source" in lines[0], lines
        assert (tmp_path / "data" / "orders.csv").read_text() == CSV


def test_approximate_duplicates_and_correlations_limit_are_said(tmp_path: Path) -> None:
    # More rows than the sample, and no key: duplicate rows are counted by hash.
    (tmp_path / "big.csv").write_text(
        "a,b\n" + "".join(f"{i % 97},{i % 89}\n" for i in range(10050))
    )
    done = run_cli("profile", "big.csv", "--no-record", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert " ≈ duplicate" not in done.stderr and "duplicate rows, keys" in done.stderr
    header = done.stderr.split("duplicate rows", 1)[0]
    assert header.rstrip().split(", ")[-1].startswith("≈ "), header
    head = ",".join(f"n{k}" for k in range(22))
    rows = "".join(",".join(str((i * (k + 3)) % 31) for k in range(22)) + "\n" for i in range(30))
    (tmp_path / "wide.csv").write_text(head + "\n" + rows)
    deep = run_cli("profile", "wide.csv", "--depth", "deep", "--json", "--no-record", cwd=tmp_path)
    assert deep.returncode == 0, deep.stderr
    [report] = json.loads(deep.stdout)
    assert {c["b"] for c in report["profile"]["correlations"]} <= {f"n{k}" for k in range(20)}
    assert "correlations cover the first 20 of 22 numeric columns" in deep.stderr


def test_records_the_reader_rejects_are_said_and_lower_the_score(tmp_path: Path) -> None:
    # A ragged CSV: the reader keeps 3 rows and rejects 2; a silent 100 would mislead.
    (tmp_path / "r.csv").write_text("a,b\n1,x\n2,y,extra,more\n3,z\n4,w,extra,more\n5,v\n")
    done = run_cli("profile", "r.csv", "--no-record", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["profile"]["rows"] == 3 and report["profile"]["rejected"] == 2
    assert report["score"]["dimensions"]["validity"] < 70
    assert any("2 of 5 records could not be read" in n for n in report["score"]["notes"])
    shown = run_cli("profile", "r.csv", "--no-record", cwd=tmp_path)
    assert "2 records could not be read" in " ".join(shown.stderr.split())


def test_credentials_are_never_shown_and_file_urls_share_history(tmp_path: Path) -> None:
    from agent_orchestrated_etl.quality.profile import history_key

    rows = "".join(f"{i},Pw!{i}zz,ak_{i:08d}\n" for i in range(50))
    (tmp_path / "c.csv").write_text("id,password,api_key\n" + rows)
    done = run_cli("profile", "c.csv", "--no-record", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Pw!" not in done.stdout + done.stderr and "ak_0" not in done.stdout
    (report,) = json.loads(done.stdout)
    assert {c["name"]: c["pii"] for c in report["profile"]["columns"]}["password"] == "secret"
    masked = run_cli("sample", "c.csv", "-n", "5", "--with", "mask", "-o", "s.csv", cwd=tmp_path)
    assert masked.returncode == 0, masked.stderr
    assert "Pw!" not in (tmp_path / "s.csv").read_text()
    path = str(tmp_path / "c.csv")
    assert history_key(f"file://{path}", "c") == history_key(path, "c") == f"{path}#c"
