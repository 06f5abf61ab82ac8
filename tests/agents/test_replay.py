"""Dead-letter replay, through the CLI as a new user would run it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import query, run_cli


def setup_orders(cwd: Path) -> str:
    lines = ["id,amount"] + [f"{i},{i}.5" for i in range(1, 60)] + ["60,N/A", "61,n/a", "62,1,2"]
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

    # The fix: N/A means NULL. Rows 60 and 61 now load; the ragged row stays quarantined.
    (tmp_path / "fixed.yaml").write_text(
        "name: orders\nsource:\n  uri: orders.csv\n  csv: {null_values: ['', 'N/A', 'n/a']}\n"
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
    assert shown["payload"] == "60,N/A"
    assert shown["kind"] == "row"
    missing = run_cli("dlq", "show", "9999", cwd=tmp_path)
    assert missing.returncode == 2 and "no dead-letter entry 9999" in missing.stderr
    both = run_cli("dlq", "replay", "1", "--run", run_id, cwd=tmp_path)
    assert both.returncode == 2
