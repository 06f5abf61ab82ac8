"""Routing as a new user met it: route targets written as relative paths, a bad predicate
after transforms, row conditions on NDJSON sources, unroutable rows' DLQ lines and the
order of routed loads in the plan. Real files, the real CLI and real DuckDB targets."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import query, run_cli

ORDERS = "id,country,amount\n1,DE,10\n2,FR,20\n3,BE,30\n4,DE,40\n5,US,50\n"


def _project(work: Path, body: str) -> Path:
    proj = work / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "orders.csv").write_text(ORDERS)
    (proj / "p.yaml").write_text(body)
    (work / "elsewhere").mkdir(exist_ok=True)
    return proj


def test_route_targets_resolve_from_the_pipeline_files_folder(work: Path) -> None:
    proj = _project(
        work,
        "source: orders.csv\ntarget: duckdb:///default.duckdb\n"
        "route:\n  - when: {format: parquet}\n    target: duckdb:///parquet.duckdb\n"
        "  - when: {format: csv}\n    target: {uri: 'duckdb:///routed.duckdb'}\n"
        "  - else: duckdb:///other.duckdb\n",
    )
    done = run_cli("run", "../proj/p.yaml", cwd=work / "elsewhere")
    assert done.returncode == 0, done.stderr
    assert query(proj / "routed.duckdb", "SELECT count(*) FROM orders") == [(5,)]
    assert not list((work / "elsewhere").glob("*.duckdb"))
    # Tasks of one run started from different folders stage and commit in one target.
    env = {"AOETL_HOME": str(work / ".aoetl")}
    task = ("--run-id", "NIGHTLY-1", "--task")
    staged = run_cli("run", "../proj/p.yaml", *task, "load:orders", cwd=work / "elsewhere", env=env)
    assert staged.returncode == 0, staged.stderr
    committed = run_cli("run", "proj/p.yaml", *task, "commit", cwd=work, env=env)
    assert committed.returncode == 0, committed.stderr
    assert query(proj / "routed.duckdb", "SELECT count(*) FROM orders") == [(10,)]
    assert not list(work.glob("*.duckdb"))


def test_a_bad_predicate_after_transforms_names_its_rule(work: Path) -> None:
    proj = _project(
        work,
        "source: orders.csv\ntarget: duckdb:///w.duckdb\n"
        "transforms:\n  - derive: {big: 'amount > 25'}\n"
        "routes:\n  orders:\n    - when: 'ccc = 1'\n      to: o_de\n"
        "    - when: \"country = 'FR'\"\n      to: o_fr\n    - else: o_other\n",
    )
    done = run_cli("run", "p.yaml", cwd=proj)
    assert done.returncode == 2, done.stderr
    assert "routes.orders rule 1: when 'ccc = 1' cannot run" in done.stderr, done.stderr
    assert '"ccc" not found' in done.stderr
    assert "columns of table orders: id, country, amount, big" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (proj / "w.duckdb").exists() or query(
        proj / "w.duckdb",
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'o_%'",
    ) == [(0,)]


def test_a_row_condition_matches_an_ndjson_source(work: Path) -> None:
    proj = _project(
        work,
        "source: events.ndjson\ntarget: duckdb:///default.duckdb\n"
        "route:\n  - when: {max_rows: 1000}\n    target: duckdb:///small.duckdb\n"
        "  - when: {max_rows: 1000000}\n    target: duckdb:///mid.duckdb\n",
    )
    events = "".join(f'{{"id": {i}, "kind": "click", "user": "u{i % 97}"}}\n' for i in range(3000))
    (proj / "events.ndjson").write_text(events)
    done = run_cli("run", "p.yaml", cwd=proj)
    assert done.returncode == 0, done.stderr
    assert query(proj / "mid.duckdb", "SELECT count(*) FROM events") == [(3000,)]
    audit = run_cli("audit", "--run", _run_id(done.stdout), "--json", cwd=proj)
    [decision] = [e for e in json.loads(audit.stdout) if e["subject"] == "workflow"]
    assert 2700 < decision["detail"]["facts"]["row_estimate"] < 3300
    assert "rule 1 did not match: about 3," in decision["reasons"][0]


def _run_id(stdout: str) -> str:
    return stdout.split()[1]


def test_an_unroutable_rows_dlq_entry_says_what_its_number_is(work: Path) -> None:
    proj = _project(
        work,
        "source: orders.csv\ntarget: duckdb:///w.duckdb\n"
        "transforms:\n  - filter: amount > 15\n"
        "routes:\n  orders:\n    - when: \"country = 'DE'\"\n      to: o_de\n"
        "    - unroutable: dlq\n",
    )
    done = run_cli("run", "p.yaml", cwd=proj)
    assert done.returncode == 0, done.stderr
    listed = run_cli("dlq", "list", "--json", cwd=proj)
    entries = sorted(json.loads(listed.stdout), key=lambda e: e["line"])
    assert [json.loads(e["payload"])["id"] for e in entries] == [2, 3, 5]
    assert {e["file"] for e in entries} == {"route:orders"}
    for entry in entries:
        assert entry["reason"] == (
            "no route matched (routes.orders); its line numbers the rows no route took, "
            "in order of their content, not a line of the source"
        )


def test_routed_loads_are_listed_in_the_order_of_their_rules(work: Path) -> None:
    proj = _project(
        work,
        "source: orders.csv\ntarget: duckdb:///w.duckdb\n"
        "checks:\n  - {check: not_null, column: id}\n"
        "routes:\n  orders:\n    - when: \"country = 'US'\"\n      to: o_us\n"
        "    - when: \"country = 'DE'\"\n      to: o_de\n    - else: a_rest\n",
    )
    (proj / "zz.csv").write_text("id\n1\n")
    (proj / "p.yaml").write_text((proj / "p.yaml").read_text().replace("orders.csv", "."))
    listed = run_cli("run", "p.yaml", "--list-tasks", "--json", cwd=proj)
    assert listed.returncode == 0, listed.stderr
    ids = [t["id"] for t in json.loads(listed.stdout)["tasks"]]
    assert ids == [
        "load:o_us", "load:o_de", "load:a_rest", "load:zz",
        "check:o_us", "check:o_de", "check:a_rest", "check:zz", "commit",
    ]  # fmt: skip
