from __future__ import annotations

from pathlib import Path

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors._schema import fits, plan_evolution
from agent_orchestrated_etl.errors import SchemaConflictError
from tests.conftest import query


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def run(orch: DataOrchestrator, source: str, **kw: object):  # type: ignore[no-untyped-def]
    spec = orch.create_pipeline(source, "duckdb:///w.duckdb", table="t", **kw)  # type: ignore[arg-type]
    return orch.run(spec)


def test_append_adds_rows(orch: DataOrchestrator, work: Path) -> None:
    src = write(work / "a.csv", "id,v\n1,a\n2,b\n")
    run(orch, src)
    run(orch, src)
    assert query(work / "w.duckdb", "SELECT count(*) FROM t") == [(4,)]


def test_replace_swaps_the_table(orch: DataOrchestrator, work: Path) -> None:
    run(orch, write(work / "a.csv", "id,v\n1,a\n2,b\n"))
    run(orch, write(work / "b.csv", "id,w\n9,z\n"), mode="replace")
    assert query(work / "w.duckdb", "SELECT * FROM t") == [(9, "z")]


def test_merge_upserts_on_key_and_last_duplicate_wins(orch: DataOrchestrator, work: Path) -> None:
    run(orch, write(work / "a.csv", "id,v\n1,a\n2,b\n"), mode="merge", key="id")
    result = run(orch, write(work / "b.csv", "id,v\n2,B\n3,c\n3,C\n"), mode="merge", key="id")
    assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT * FROM t ORDER BY id") == [(1, "a"), (2, "B"), (3, "C")]


def test_merge_on_composite_key(orch: DataOrchestrator, work: Path) -> None:
    run(orch, write(work / "a.csv", "k1,k2,v\n1,x,a\n1,y,b\n"), mode="merge", key="k1,k2")
    run(orch, write(work / "b.csv", "k1,k2,v\n1,y,B\n"), mode="merge", key="k1,k2")
    assert query(work / "w.duckdb", "SELECT * FROM t ORDER BY k2") == [(1, "x", "a"), (1, "y", "B")]


def test_new_column_is_added_and_old_rows_read_null(orch: DataOrchestrator, work: Path) -> None:
    run(orch, write(work / "a.csv", "id,v\n1,a\n"))
    result = run(orch, write(work / "b.csv", "id,v,extra\n2,b,x\n"))
    assert result.tables["t"].columns_added == ("extra",)
    assert query(work / "w.duckdb", "SELECT * FROM t ORDER BY id") == [
        (1, "a", None),
        (2, "b", "x"),
    ]


def test_safe_type_change_is_widened(orch: DataOrchestrator, work: Path) -> None:
    run(orch, write(work / "a.csv", "id,v\n1,2\n"))
    result = run(orch, write(work / "b.csv", "id,v\n2,2.5\n"))
    assert result.status == "success", result.error
    assert result.tables["t"].columns_widened == ("v",)
    assert query(work / "w.duckdb", "SELECT v FROM t ORDER BY id") == [(2.0,), (2.5,)]


def test_unsafe_type_change_fails_naming_column_and_types(
    orch: DataOrchestrator, work: Path
) -> None:
    run(orch, write(work / "a.csv", "id,day\n1,2024-01-01\n2,2024-01-02\n"))
    before = query(work / "w.duckdb", "SELECT * FROM t")
    result = run(orch, write(work / "b.csv", "id,day\n3,soon\n4,later\n"))
    assert result.status == "failed"
    assert result.exit_code == 2
    assert "column 'day' is DATE in the target but VARCHAR" in (result.error or "")
    assert query(work / "w.duckdb", "SELECT * FROM t") == before


def test_failure_in_one_table_leaves_every_table_unchanged(
    orch: DataOrchestrator, work: Path
) -> None:
    data = work / "data"
    data.mkdir()
    write(data / "alpha.csv", "id,v\n1,a\n")
    write(data / "beta.csv", "id,v\n1,a\n")
    spec = orch.create_pipeline(str(data), "duckdb:///w.duckdb")
    assert orch.run(spec).status == "success"
    write(data / "alpha.csv", "id,v\n2,b\n")
    write(data / "beta.csv", "id,v\nx1,b\nx2,c\n")  # VARCHAR into BIGINT: a schema conflict
    result = orch.run(spec)
    assert result.status == "failed"
    assert "column 'id' is BIGINT" in (result.error or "")
    assert query(work / "w.duckdb", "SELECT count(*) FROM alpha") == [(1,)]
    assert query(work / "w.duckdb", "SELECT count(*) FROM beta") == [(1,)]


def test_too_many_bad_rows_loads_nothing(orch: DataOrchestrator, work: Path) -> None:
    src = write(work / "a.csv", "id,v\n" + "".join(f"{i},x\n" for i in range(30)) + "1,2,3\n4\n")
    result = run(orch, src, max_bad_rows=1)
    assert result.status == "failed"
    assert result.exit_code == 2
    assert "2 bad rows exceed the limit of 1" in (result.error or "")
    assert not (work / "w.duckdb").exists() or query(
        work / "w.duckdb",
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't' AND schema_name = 'main'",
    ) == [(0,)]
    assert run(orch, src, max_bad_rows=2).status == "success"


@pytest.mark.parametrize(
    "name",
    ['odd "quoted" name', "select", "Ünïcode täble", "x'); DROP TABLE t; --", "with space"],
)
def test_hostile_and_unusual_table_names(orch: DataOrchestrator, work: Path, name: str) -> None:
    src = write(work / "a.csv", "id,v\n1,a\n")
    spec = orch.create_pipeline(src, "duckdb:///w.duckdb", table=name)
    assert orch.run(spec).status == "success"
    quoted = '"' + name.replace('"', '""') + '"'
    assert query(work / "w.duckdb", f"SELECT count(*) FROM {quoted}") == [(1,)]


@pytest.mark.parametrize(
    ("value", "column", "ok"),
    [
        ("INTEGER", "BIGINT", True),
        ("BIGINT", "INTEGER", False),
        ("BIGINT", "DOUBLE", True),
        ("DATE", "TIMESTAMP", True),
        ("TIMESTAMP", "DATE", False),
        ("DECIMAL(10,2)", "DECIMAL(12,2)", True),
        ("DECIMAL(12,4)", "DECIMAL(12,2)", False),
        ("BIGINT", "VARCHAR", True),
        ("VARCHAR", "BIGINT", False),
    ],
)
def test_widening_rules(value: str, column: str, ok: bool) -> None:
    assert fits(value, column) is ok


def test_plan_evolution_adds_and_widens_and_refuses() -> None:
    evo = plan_evolution(
        "t", [("id", "INTEGER"), ("v", "VARCHAR")], [("id", "BIGINT"), ("n", "DATE")]
    )
    assert evo.widen == [("id", "BIGINT")]
    assert evo.add == [("n", "DATE")]
    with pytest.raises(SchemaConflictError, match="'id' is DATE"):
        plan_evolution("t", [("id", "DATE")], [("id", "BOOLEAN")])
