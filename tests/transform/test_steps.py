from __future__ import annotations

from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from tests.helpers import query

CSV = "id,name,amount,region\n1,ann,10,eu\n2,bob,20,us\n3,cy,30,eu\n3,cy,35,eu\n"


def run(orch: DataOrchestrator, work: Path, transforms: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    (work / "src.csv").write_text(CSV)
    spec = orch.create_pipeline(
        "src.csv", "duckdb:///w.duckdb", table="t", transforms=transforms
    ).spec
    result = orch.run(spec)
    assert result.status == "success", result.error
    return result


def test_sql_step_over_input(orch: DataOrchestrator, work: Path) -> None:
    run(orch, work, [{"sql": "SELECT region, sum(amount) AS total FROM input GROUP BY region"}])
    assert query(work / "w.duckdb", "SELECT * FROM t ORDER BY region") == [("eu", 75), ("us", 20)]


def test_sql_step_may_use_its_own_cte(orch: DataOrchestrator, work: Path) -> None:
    sql = "WITH big AS (SELECT * FROM input WHERE amount > 15) SELECT count(*) AS n FROM big"
    run(orch, work, [{"sql": sql}])
    assert query(work / "w.duckdb", "SELECT n FROM t") == [(3,)]


def test_declarative_steps_in_order(orch: DataOrchestrator, work: Path) -> None:
    result = run(
        orch,
        work,
        [
            {"rename": {"name": "customer"}},
            {"cast": {"amount": "DECIMAL(10,2)"}},
            {"filter": "region = 'eu'"},
            {"derive": {"amount_x2": "amount * 2"}},
            {"drop": ["region"]},
            {"dedupe": ["id"]},
        ],
    )
    assert result.tables["t"].fused
    rows = query(
        work / "w.duckdb",
        "SELECT id, customer, amount::DOUBLE, amount_x2::DOUBLE FROM t ORDER BY id",
    )
    assert rows == [(1, "ann", 10.0, 20.0), (3, "cy", 35.0, 70.0)]


def test_dedupe_without_keys_drops_exact_duplicates(orch: DataOrchestrator, work: Path) -> None:
    (work / "src.csv").write_text("a,b\n1,x\n1,x\n2,y\n")
    spec = orch.create_pipeline(
        "src.csv", "duckdb:///w.duckdb", table="t", transforms=[{"dedupe": []}]
    ).spec
    assert orch.run(spec).status == "success"
    assert query(work / "w.duckdb", "SELECT count(*) FROM t") == [(2,)]


def test_python_step_streams_batches(orch: DataOrchestrator, work: Path) -> None:
    (work / "mysteps.py").write_text(
        "import pyarrow.compute as pc\n"
        "def upper(batch):\n"
        "    return batch.set_column(1, 'name', pc.utf8_upper(batch.column('name')))\n"
    )
    result = run(orch, work, [{"python": "mysteps:upper"}, {"filter": "amount >= 20"}])
    assert not result.tables["t"].fused
    assert query(work / "w.duckdb", "SELECT name FROM t ORDER BY amount") == [
        ("BOB",),
        ("CY",),
        ("CY",),
    ]


def test_python_step_keeps_quarantine_counts(orch: DataOrchestrator, work: Path) -> None:
    (work / "ident.py").write_text("def same(batch):\n    return batch\n")
    (work / "src.csv").write_text("id,v\n" + "".join(f"{i},x\n" for i in range(40)) + "1,2,3\n")
    spec = orch.create_pipeline(
        "src.csv", "duckdb:///w.duckdb", table="t", transforms=[{"python": "ident:same"}]
    ).spec
    result = orch.run(spec)
    assert result.tables["t"].rows_loaded == 40
    assert result.tables["t"].rows_rejected == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def f(batch):\n    raise ValueError('boom')\n", "raised ValueError: boom"),
        ("def f(batch):\n    return [1, 2]\n", "return a pyarrow Table or RecordBatch"),
    ],
)
def test_python_step_errors_fail_the_run_cleanly(
    orch: DataOrchestrator, work: Path, body: str, message: str
) -> None:
    module = f"broken_step_{abs(hash(body))}"  # a fresh module name per case
    (work / f"{module}.py").write_text(body)
    (work / "src.csv").write_text(CSV)
    spec = orch.create_pipeline(
        "src.csv", "duckdb:///w.duckdb", table="t", transforms=[{"python": f"{module}:f"}]
    ).spec
    result = orch.run(spec)
    assert result.status == "failed"
    assert message in (result.error or "")
    assert not (work / "w.duckdb").exists() or query(
        work / "w.duckdb", "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'"
    ) == [(0,)]


def test_python_step_failing_mid_stream_names_the_step(orch: DataOrchestrator, work: Path) -> None:
    # The first batch passes; a later one raises while the engine is pulling the stream.
    (work / "late_fail.py").write_text(
        "import pyarrow.compute as pc\n"
        "def f(batch):\n"
        "    if pc.max(batch.column('id')).as_py() >= 200000:\n"
        "        raise ValueError('bad batch')\n"
        "    return batch\n"
    )
    (work / "big.csv").write_text("id,v\n" + "".join(f"{i},x\n" for i in range(300_000)))
    spec = orch.create_pipeline(
        "big.csv", "duckdb:///w.duckdb", table="t", transforms=[{"python": "late_fail:f"}]
    ).spec
    result = orch.run(spec)
    assert result.status == "failed"
    assert result.error == "python step 'late_fail:f' raised ValueError: bad batch"


def test_python_step_that_cannot_be_imported(orch: DataOrchestrator, work: Path) -> None:
    (work / "src.csv").write_text(CSV)
    spec = orch.create_pipeline(
        "src.csv", "duckdb:///w.duckdb", transforms=[{"python": "no_such_module:f"}]
    ).spec
    result = orch.run(spec)
    assert result.exit_code == 2
    assert "cannot import no_such_module" in (result.error or "")


def test_renaming_a_column_that_is_not_there_is_an_error(
    orch: DataOrchestrator, work: Path
) -> None:
    """DuckDB's RENAME skips an unknown column; a misspelt name must fail as drop does."""
    (work / "src.csv").write_text(CSV)
    spec = orch.create_pipeline(
        "src.csv", "duckdb:///w.duckdb", table="t", transforms=[{"rename": {"nmae": "who"}}]
    ).spec
    result = orch.run(spec)
    assert result.status == "failed" and result.exit_code == 2
    assert "nmae" in (result.error or "") and "transform step 1" in (result.error or "")
    assert not (work / "w.duckdb").exists()
