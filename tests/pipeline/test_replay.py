"""Dead-letter replay, through the CLI as a new user would run it."""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import query, run_cli


def setup_orders(cwd: Path) -> str:
    lines = ["id,amount"] + [f"{i},{i}.5" for i in range(1, 60)]
    lines += ["60,missing", "61,unknown", "62,1,2"]
    (cwd / "orders.csv").write_text("\n".join(lines) + "\n")
    proc = run_cli("run", "orders.csv", "--to", "duckdb:///w.duckdb", "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["run_id"])


def test_replay_after_the_cause_is_fixed_is_exactly_once(tmp_path: Path) -> None:
    run_id = setup_orders(tmp_path)
    listed = json.loads(run_cli("dlq", "list", "--run", run_id, "--json", cwd=tmp_path).stdout)
    assert [(e["line"], e["status"]) for e in listed] == [(61, "open"), (62, "open"), (63, "open")]

    # Not fixed yet: replaying changes nothing and says why.
    proc = run_cli("dlq", "replay", "--run", run_id, "--json", cwd=tmp_path)
    assert proc.returncode == 1
    assert len(json.loads(proc.stdout)["still_bad"]) == 3
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM orders") == [(59,)]

    # The fix: these words mean NULL. Rows 60 and 61 now load; the ragged row stays quarantined.
    (tmp_path / "fixed.yaml").write_text(
        "name: orders\nsource:\n  uri: orders.csv\n"
        "  csv: {null_values: ['', 'missing', 'unknown']}\n"
        "target: duckdb:///w.duckdb\n"
    )
    proc = run_cli(
        "dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", "--json", cwd=tmp_path
    )
    outcome = json.loads(proc.stdout)
    assert len(outcome["replayed"]) == 2 and len(outcome["still_bad"]) == 1
    rows = query(tmp_path / "w.duckdb", "SELECT id, amount FROM orders WHERE id >= 60 ORDER BY id")
    assert rows == [(60, None), (61, None)]

    # Again: replayed entries are never loaded twice.
    run_cli("dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", cwd=tmp_path)
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM orders") == [(61,)]
    statuses = json.loads(run_cli("dlq", "list", "--run", run_id, "--json", cwd=tmp_path).stdout)
    assert [e["status"] for e in statuses] == ["replayed", "replayed", "open"]
    assert statuses[2]["attempts"] == 3  # one per replay


def test_dlq_show_and_errors(tmp_path: Path) -> None:
    run_id = setup_orders(tmp_path)
    entry = json.loads(run_cli("dlq", "list", "--run", run_id, "--json", cwd=tmp_path).stdout)[0]
    shown = json.loads(run_cli("dlq", "show", str(entry["id"]), cwd=tmp_path).stdout)
    assert shown["payload"] == "60,missing"
    assert shown["kind"] == "row"
    missing = run_cli("dlq", "show", "9999", cwd=tmp_path)
    assert missing.returncode == 2 and "no dead-letter entry 9999" in missing.stderr
    both = run_cli("dlq", "replay", "1", "--run", run_id, cwd=tmp_path)
    assert both.returncode == 2


def write_csv(rows: list[list[object]], delimiter: str = ",") -> str:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return text.getvalue()


def compress(data: bytes, suffix: str) -> bytes:
    if suffix == ".gz":
        return gzip.compress(data)
    if suffix == ".zst":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return data


def run_id_of(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["run_id"])


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_latin1_rows_are_kept_as_bytes_and_replay_exactly(tmp_path: Path, suffix: str) -> None:
    header = [["id", "name", "amount"]]
    good = [[i, f"naïve {i}", f"{i}.5"] for i in range(1, 41)]  # UTF-8, as most of the file
    # Rows from a latin-1 system: an accent next to the separator, and a quoted field holding
    # the separator and a line break.
    latin = [[41, "café", "9.90"], [42, "multi\nline, à la", "3.5"], [43, "Ångström", "1"]]
    raw_latin = [write_csv([r]).rstrip("\n").encode("latin-1") for r in latin]
    data = write_csv(header + good).encode() + b"".join(r + b"\n" for r in raw_latin)
    name = f"orders.csv{suffix}"
    (tmp_path / name).write_bytes(compress(data, suffix))
    run_id = run_id_of(run_cli("run", name, "--to", "duckdb:///w.duckdb", "--json", cwd=tmp_path))

    listed = json.loads(run_cli("dlq", "list", "--run", run_id, "--json", cwd=tmp_path).stdout)
    stored = [base64.b64decode(e["payload_base64"]) for e in listed]
    assert stored == raw_latin  # exactly as in the file, not 'caf??9.90'
    assert listed[0]["payload"] == "41,caf\\xe9,9.90"  # shown with escapes, never a crash
    shown = run_cli("runs", "--show", run_id, cwd=tmp_path)
    assert shown.returncode == 0 and "41,caf\\xe9,9.90" in shown.stdout

    (tmp_path / "fixed.yaml").write_text(
        f"name: orders\nsource:\n  uri: {name}\n  csv: {{encoding: latin-1}}\n"
        "target: duckdb:///w.duckdb\n"
    )
    proc = run_cli(
        "dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(json.loads(proc.stdout)["replayed"]) == 3
    # An independent reader: the standard library's csv module over the stored bytes.
    expected = [
        (int(i), n, float(a))
        for i, n, a in csv.reader(io.StringIO(b"\n".join(stored).decode("latin-1")))
    ]
    assert expected == [(int(i), str(n), float(a)) for i, n, a in latin]  # type: ignore[call-overload]
    loaded = query(tmp_path / "w.duckdb", "SELECT id, name, amount FROM orders WHERE id > 40")
    assert sorted(loaded) == expected
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM orders") == [(43,)]


def test_rows_with_another_delimiter_replay_with_the_corrected_one(tmp_path: Path) -> None:
    header = [["id", "name", "amount"]]
    good = [[i, f"n{i}", f"{i}.5"] for i in range(1, 41)]
    # Rows appended by another tool that writes ';', one with ';' inside a quoted field.
    other = [[41, "Smith; John", "12.5"], [42, "plain", "4"], [43, 'say "hi"', "0.25"]]
    raw_other = [write_csv([r], ";").rstrip("\n").encode() for r in other]
    data = write_csv(header + good).encode() + b"".join(r + b"\n" for r in raw_other)
    (tmp_path / "orders.csv").write_bytes(data.replace(b"\n", b"\r\n"))  # a Windows file
    (tmp_path / "first.yaml").write_text(
        "name: orders\nsource:\n  uri: orders.csv\n  csv: {delimiter: ','}\n"
        "target: duckdb:///w.duckdb\n"
    )
    run_id = run_id_of(run_cli("run", "first.yaml", "--json", cwd=tmp_path))
    listed = json.loads(run_cli("dlq", "list", "--run", run_id, "--json", cwd=tmp_path).stdout)
    stored = [base64.b64decode(e["payload_base64"]) for e in listed]
    assert stored == raw_other  # the CRLF terminator is not part of the row

    # The first read saw no quotes, so the fix names the quote along with the delimiter.
    (tmp_path / "fixed.yaml").write_text(
        "name: orders\nsource:\n  uri: orders.csv\n  csv: {delimiter: ';', quote: '\"'}\n"
        "target: duckdb:///w.duckdb\n"
    )
    proc = run_cli("dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replayed 3 entries; 0 still bad" in proc.stdout
    reader = csv.reader(io.StringIO(b"\n".join(stored).decode()), delimiter=";")
    expected = [(int(i), n, float(a)) for i, n, a in reader]
    loaded = query(tmp_path / "w.duckdb", "SELECT id, name, amount FROM orders WHERE id > 40")
    assert sorted(loaded) == expected
    assert expected[0][1] == "Smith; John" and expected[2][1] == 'say "hi"'


def test_a_state_db_from_before_bytes_opens_and_replays(tmp_path: Path, state_backend: str) -> None:
    """A state database whose dlq.payload was declared TEXT, holding decoded text."""
    if state_backend:
        pytest.skip("the upgrade of an old state.db file: SQLite's alone, run by the SQLite pass")
    (tmp_path / "orders.csv").write_text("id,amount\n1,1.5\n2,2.5\n")
    run_id = run_id_of(run_cli("run", "orders.csv", "--to", "w.duckdb", "--json", cwd=tmp_path))
    db = tmp_path / ".aoetl" / "state.db"
    con = sqlite3.connect(db)
    # Rebuild dlq as older versions declared it, with an entry as they stored it.
    con.executescript(
        """
        DROP TABLE schema_migrations;
        DROP TABLE dlq;
        CREATE TABLE dlq (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, kind TEXT NOT NULL,
            table_name TEXT, source_file TEXT, line INTEGER, reason TEXT NOT NULL,
            payload TEXT, created_at REAL NOT NULL);
        """
    )
    context = json.dumps(
        {
            "format": "csv",
            "columns": [["id", "BIGINT"], ["amount", "DOUBLE"]],
            "read_options": [["delim", "','"], ["header", "true"], ["encoding", "'utf-8'"]],
        }
    )
    con.execute(
        "INSERT INTO dlq (run_id, kind, table_name, source_file, line, reason, payload, "
        "created_at) VALUES (?, 'row', 'orders', 'orders.csv', 4, 'old', '3,missing', 0)",
        (run_id,),
    )
    con.commit()
    con.close()
    listed = json.loads(run_cli("dlq", "list", "--json", cwd=tmp_path).stdout)
    assert [(e["payload"], e["status"]) for e in listed] == [("3,missing", "open")]
    # The upgrade added the columns; the new payloads go into the TEXT column as BLOBs.
    con = sqlite3.connect(db)
    con.execute("UPDATE dlq SET context = ?", (context,))
    con.commit()
    con.close()
    (tmp_path / "fixed.yaml").write_text(
        "name: orders\nsource:\n  uri: orders.csv\n  csv: {null_values: ['missing']}\n"
        "target: duckdb:///w.duckdb\n"
    )
    proc = run_cli("dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert query(tmp_path / "w.duckdb", "SELECT * FROM orders WHERE id = 3") == [(3, None)]
    good = b"".join(b"%d,%d.5\n" % (i, i) for i in range(30))
    (tmp_path / "bad.csv").write_bytes(b"id,amount\n" + good + b"30,caf\xe9\n")
    assert run_cli("run", "bad.csv", "--to", "w.duckdb", cwd=tmp_path).returncode == 0
    con = sqlite3.connect(db)
    kinds = con.execute("SELECT typeof(payload) FROM dlq ORDER BY id").fetchall()
    con.close()
    assert kinds == [("text",), ("blob",)]


def test_a_broken_json_line_stays_open_with_its_reason_and_the_good_ones_replay(
    tmp_path: Path,
) -> None:
    # A truncated line and a line too long for max_line_size: the second loads on a replay
    # with a larger limit; the first stays open, saying why, instead of failing the replay.
    long = json.dumps({"id": 3, "note": "x" * 1500})
    lines = ['{"id": 1, "note": "a"}', '{"id": 2, "note": ', long, '{"id": 4, "note": "d"}']
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    pipeline = "source: {uri: events.jsonl, max_line_size: 1000}\ntarget: duckdb:///w.duckdb\n"
    (tmp_path / "p.yaml").write_text("name: events\n" + pipeline)
    proc = run_cli("run", "p.yaml", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM events") == [(2,)]

    (tmp_path / "fixed.yaml").write_text("name: events\n" + pipeline.replace("1000", "4096"))
    proc = run_cli("dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", "--json",
                   cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # one entry is still bad
    replayed = json.loads(proc.stdout)
    assert len(replayed["replayed"]) == 1
    [reason] = replayed["still_bad"].values()
    assert reason.startswith("still not a JSON record"), reason
    assert query(tmp_path / "w.duckdb", "SELECT id FROM events ORDER BY id") == [(1,), (3,), (4,)]
    listed = json.loads(run_cli("dlq", "list", "--run", run_id, "--json", cwd=tmp_path).stdout)
    assert sorted(e["status"] for e in listed) == ["open", "replayed"]
