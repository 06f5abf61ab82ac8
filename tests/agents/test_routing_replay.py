"""dlq replay of a routed run: rows go back where the run's routing sent them, the target its
workflow was routed to and the table each row's route takes, never the spec's own target or
the source table's name. Real CSV files and DuckDB targets; aoetl dlq replay as a user runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_orchestrated_etl.engine import RunResult
from agent_orchestrated_etl.pipeline import RunOptions, run_pipeline
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import query, run_cli

# 59 good rows, then rows whose amount reads only once 'missing' is a null value.
GOOD = [f"{i},{'DE' if i % 2 else 'FR'},{i}.5" for i in range(1, 60)]


def setup(work: Path, bad: list[str], **extra: object) -> tuple[RunResult, Path]:
    """Run the pipeline (its bad rows quarantined) and write the fixed pipeline file."""
    (work / "orders.csv").write_text("\n".join(["id,country,amount", *GOOD, *bad]) + "\n")
    body: dict[str, object] = {
        "name": "orders",
        "source": "orders.csv",
        "target": "duckdb:///own.duckdb",
        **extra,
    }
    spec = validate_spec({**body, "source": str(work / "orders.csv")})
    done = run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=2, base_dir=work))
    assert done.status == "success", done.error
    fixed = {**body, "source": {"uri": "orders.csv", "csv": {"null_values": ["", "missing"]}}}
    (work / "fixed.yaml").write_text(json.dumps(fixed))
    return done, work / "fixed.yaml"


def replayed(work: Path, run_id: str) -> dict[str, object]:
    done = run_cli("dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", "--json", cwd=work)
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_row_of_a_routed_workflow_is_replayed_into_the_target_the_run_chose(
    work: Path,
) -> None:
    route = [{"when": {"tags": ["finance"]}, "target": "duckdb:///fin.duckdb"}]
    done, _ = setup(work, ["60,DE,missing"], tags=["finance"], route=route)
    assert query(work / "fin.duckdb", "SELECT count(*) FROM orders") == [(59,)]
    result = replayed(work, done.run_id)
    assert len(result["replayed"]) == 1 and not result["still_bad"]  # type: ignore[arg-type]
    assert query(work / "fin.duckdb", "SELECT count(*), max(id) FROM orders") == [(60, 60)]
    assert not (work / "own.duckdb").exists()


def test_a_row_of_a_routed_table_is_replayed_into_its_routes_table(work: Path) -> None:
    routes = {"orders": [{"when": "country = 'DE'", "to": "orders_de"}, {"else": "orders_rest"}]}
    done, _ = setup(work, ["60,DE,missing", "61,FR,missing"], routes=routes)
    entries = StateStore(work / ".aoetl").dlq_entries(done.run_id)
    assert [(e.table, e.line) for e in entries] == [("orders", 61), ("orders", 62)]
    result = replayed(work, done.run_id)
    assert len(result["replayed"]) == 2 and not result["still_bad"]  # type: ignore[arg-type]
    own = work / "own.duckdb"
    assert query(own, "SELECT max(id), count(*) FROM orders_de") == [(60, 31)]
    assert query(own, "SELECT max(id), count(*) FROM orders_rest") == [(61, 30)]
    assert query(own, "SELECT count(*) FROM information_schema.tables "
                      "WHERE table_name = 'orders'") == [(0,)]  # fmt: skip


def test_a_replayed_row_no_route_takes_stays_in_the_queue(work: Path) -> None:
    routes = {"orders": [{"when": "country = 'DE'", "to": "orders_de"}, {"unroutable": "dlq"}]}
    done, _ = setup(work, ["60,DE,missing", "61,FR,missing"], routes=routes)
    store = StateStore(work / ".aoetl")
    rejected = [e.id for e in store.dlq_entries(done.run_id) if e.file != "route:orders"]
    result = replayed(work, done.run_id)
    still = result["still_bad"]
    assert isinstance(still, dict)
    for entry in rejected:
        assert "meet no route (routes.orders)" in still[str(entry)], still
        assert "add an 'else' rule" in still[str(entry)]
    assert query(work / "own.duckdb", "SELECT max(id), count(*) FROM orders_de") == [(59, 30)]
    assert {e.status for e in store.dlq_entries(done.run_id)} == {"open"}
