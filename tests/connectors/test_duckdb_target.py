from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors._schema import (
    check_column_names,
    check_table_name,
    fits,
    plan_evolution,
)
from agent_orchestrated_etl.connectors.base import StagedTable
from agent_orchestrated_etl.connectors.duckdb.target import DuckDBDestination
from agent_orchestrated_etl.data.duck import Relation, connect, describe
from agent_orchestrated_etl.errors import FatalError, SchemaConflictError, UserError
from tests.helpers import query, read_relation, run_cli


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def run(orch: DataOrchestrator, source: str, **kw: object):  # type: ignore[no-untyped-def]
    spec = orch.create_pipeline(source, "duckdb:///w.duckdb", table="t", **kw).spec  # type: ignore[arg-type]
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
    spec = orch.create_pipeline(str(data), "duckdb:///w.duckdb").spec
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
    spec = orch.create_pipeline(src, "duckdb:///w.duckdb", table=name).spec
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


# -- failed runs leave nothing behind ------------------------------------------------------------
def everything(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table in the file (bookkeeping included) with its rows."""
    names = query(db, "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2")
    return {f"{s}.{t}": sorted(query(db, f'SELECT * FROM "{s}"."{t}"'), key=repr) for s, t in names}


def failing_load(work: Path, kind: str) -> dict[str, object]:
    """A folder of three tables whose load fails in the way ``kind`` names, once two are staged."""
    data = work / "data"
    data.mkdir(exist_ok=True)
    write(data / "a.csv", "id,v\n1,a\n2,b\n")
    write(data / "c.csv", "id,v\n5,e\n")
    options: dict[str, object] = {"source": str(data)}
    if kind == "bad key":  # b.csv has no column id
        write(data / "b.csv", "x,v\n1,a\n")
        options.update(mode="merge", key="id")
        return options
    write(data / "b.csv", "id,v\n3,c\n4,d,extra\n" if kind == "bad rows" else "id,v\n3,c\n")
    if kind == "bad rows":
        options["max_bad_rows"] = 0
    elif kind == "failing python step":
        write(work / "boom.py", "def boom(batch):\n    raise ValueError('no')\n")
        options["transforms"] = [{"python": "boom:boom"}]
    elif kind == "unknown column in a step":
        options["transforms"] = [{"filter": "nope > 1"}]
    elif kind == "unknown function in a step":
        options["transforms"] = [{"derive": {"w": "no_such_function(v)"}}]
    elif kind == "schema conflict":
        options["transforms"] = [{"sql": "SELECT 'x' || id AS id, v FROM input"}]
    return options


FAILURES = [
    "bad key",
    "bad rows",
    "failing python step",
    "unknown column in a step",
    "unknown function in a step",
    "schema conflict",
]


@pytest.mark.parametrize("kind", FAILURES)
def test_a_failed_run_leaves_the_target_exactly_as_it_was(
    orch: DataOrchestrator, work: Path, kind: str
) -> None:
    db = work / "w.duckdb"
    seed = orch.create_pipeline(write(work / "a.csv", "id,v\n1,a\n"), f"duckdb:///{db}").spec
    assert orch.run(seed).status == "success"
    before = everything(db)
    options = failing_load(work, kind)
    source = str(options.pop("source"))
    result = orch.run(orch.create_pipeline(source, f"duckdb:///{db}", **options))  # type: ignore[arg-type]
    assert result.status == "failed"
    assert result.exit_code == 2 or kind == "failing python step", result.error
    assert len((result.error or "").splitlines()) == 1
    assert everything(db) == before  # no _aoetl_stage_* table, no checkpoint, nothing else


@pytest.mark.parametrize("kind", [k for k in FAILURES if k != "schema conflict"])
def test_a_failed_run_creates_no_file(orch: DataOrchestrator, work: Path, kind: str) -> None:
    options = failing_load(work, kind)
    source = str(options.pop("source"))
    result = orch.run(orch.create_pipeline(source, "duckdb:///new.duckdb", **options))  # type: ignore[arg-type]
    assert result.status == "failed"
    assert not (work / "new.duckdb").exists()
    assert not (work / "new.duckdb.wal").exists()


def test_a_missing_merge_key_is_one_line_naming_table_key_and_columns(tmp_path: Path) -> None:
    write(tmp_path / "x.csv", "id,v\n1,a\n")
    proc = run_cli(
        "run", "x.csv", "--to", "duckdb:///new.duckdb", "--mode", "merge", "--key", "nope",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: table 'x': merge key 'nope' is not a column of the loaded data "
        "(columns: 'id', 'v'); choose --key from these"
    ]
    assert not (tmp_path / "new.duckdb").exists()


def test_a_merge_key_missing_from_the_existing_table(orch: DataOrchestrator, work: Path) -> None:
    run(orch, write(work / "a.csv", "id,v\n1,a\n"))
    result = run(orch, write(work / "b.csv", "id,v,k\n1,a,z\n"), mode="merge", key="k")
    assert result.exit_code == 2
    assert result.error == (
        "table 't': merge key 'k' is not a column of the existing table 't' "
        "(columns: 'id', 'v'); choose --key from these"
    )


def test_a_user_column_named_like_the_merge_helper_is_kept(
    orch: DataOrchestrator, work: Path
) -> None:
    src = write(work / "a.csv", "id,__aoetl_row,__aoetl_row_1\n1,x,p\n1,y,q\n2,z,r\n")
    assert run(orch, src, mode="merge", key="id").status == "success"
    assert run(orch, src, mode="merge", key="id").status == "success"
    expected = [(1, "y", "q"), (2, "z", "r")]
    assert query(work / "w.duckdb", "SELECT * FROM t ORDER BY id") == expected
    deduped = orch.create_pipeline(
        src, "duckdb:///w.duckdb", table="d", mode="replace", transforms=[{"dedupe": ["id"]}]
    ).spec
    assert orch.run(deduped).status == "success"
    assert query(work / "w.duckdb", "SELECT * FROM d ORDER BY id") == expected


@pytest.mark.parametrize("mode", ["append", "merge", "replace"])
def test_a_table_name_differing_only_in_case_is_refused(
    orch: DataOrchestrator, work: Path, mode: str
) -> None:
    run(orch, write(work / "a.csv", "id,v\n1,a\n"))
    before = everything(work / "w.duckdb")
    spec = orch.create_pipeline(
        write(work / "b.csv", "id,v\n2,b\n"), "duckdb:///w.duckdb", table="T", mode=mode,
        key="id" if mode == "merge" else None,
    ).spec  # fmt: skip
    result = orch.run(spec)
    assert result.exit_code == 2
    assert "has a table 't'" in (result.error or "")
    assert everything(work / "w.duckdb") == before


def test_name_rules() -> None:
    # DuckDB renames a second "ID" beside "id" when it reads a file or a subquery (to "ID_1");
    # a target refuses any pair that reaches it rather than load under another name.
    with pytest.raises(UserError, match="columns 'id' and 'ID' differ only in case"):
        check_column_names("t", ["id", "ID"], max_bytes=None, target="DuckDB")
    check_column_names("t", ["ü", "Ü"], max_bytes=None, target="DuckDB")  # only ASCII folds
    with pytest.raises(UserError, match="is 64 bytes long, and PostgreSQL keeps only 63"):
        check_column_names("t", ["é" * 32], max_bytes=63, target="PostgreSQL")
    check_table_name("t" * 63, max_bytes=63, target="PostgreSQL")
    with pytest.raises(UserError, match="NUL"):
        check_table_name("a\x00b", max_bytes=None, target="DuckDB")


def test_reserved_table_names_are_refused(orch: DataOrchestrator, work: Path) -> None:
    src = write(work / "a.csv", "id\n1\n")
    result = orch.run(orch.create_pipeline(src, "duckdb:///w.duckdb", table="_aoetl_stage_x"))
    assert result.exit_code == 2
    assert "starts with '_aoetl_'" in (result.error or "")
    assert not (work / "w.duckdb").exists()


# -- staged rows read back before the commit ---------------------------------------------------
def _stage(dest: DuckDBDestination, sql: str, mode: str = "append") -> None:
    dest.write(
        "t", Relation(sql), mode=mode, key=("id",), fingerprint="f", record_bad=lambda bad: None
    )


def test_staged_rows_of_an_encrypted_file_keep_their_types_until_the_commit(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_KEY", "k-" + "0123456789abcdef")
    home = work / ".aoetl"
    typed = (
        "SELECT range::BIGINT AS id, (range * 1.25)::DECIMAL(12, 2) AS amount, "
        "TIMESTAMPTZ '2024-01-02 03:04:05+00' + to_days(range::INTEGER) AS at FROM range(300000)"
    )
    dest = DuckDBDestination("w.duckdb", home=home, encryption_key="${env:WAREHOUSE_KEY}")
    dest.begin("r1", "p")
    _stage(dest, typed)
    staged = dest.staged("t")
    con = connect(home=home)
    staged.attach(con)
    assert describe(con, staged.sql) == [
        ("id", "BIGINT"),
        ("amount", "DECIMAL(12,2)"),
        ("at", "TIMESTAMP WITH TIME ZONE"),
    ]
    con.close()
    assert read_relation(dest.staged("t"), home, "SELECT count(*), sum(amount) FROM {r}") == [
        (300_000, Decimal("56249812500.00"))
    ]
    unread = dest.staged("t")  # never read: it holds no cursor, and the commit goes ahead
    assert dest.columns("t") == []  # the target has no table t until the commit
    dest.commit([StagedTable("t", "append", ("id",))])
    with pytest.raises(FatalError, match="table 't' has nothing staged in run r1"):
        dest.staged("t")
    with pytest.raises(duckdb.Error):  # the staging table became the target: nothing to read
        read_relation(unread, home, "SELECT count(*) FROM {r}")
    dest.close()


def test_staged_rows_after_discard_are_gone_and_the_target_is_unchanged(work: Path) -> None:
    home = work / ".aoetl"
    dest = DuckDBDestination("w.duckdb", home=home)
    dest.begin("r1", "p")
    _stage(dest, "SELECT 1 AS id, 'old' AS v")
    dest.commit([StagedTable("t", "append", ("id",))])
    dest.close()
    dest = DuckDBDestination("w.duckdb", home=home)
    dest.begin("r2", "p")
    _stage(dest, "SELECT * FROM (VALUES (1, 'new'), (2, 'two'), (2, 'TWO')) v(id, v)", "merge")
    assert read_relation(dest.staged("t"), home, "SELECT * FROM {r} ORDER BY id") == [
        (1, "new"),
        (2, "TWO"),  # the last row per key, as the merge will apply it
    ]
    dest.discard()
    with pytest.raises(FatalError, match="nothing staged"):
        dest.staged("t")
    dest.close()
    assert query(work / "w.duckdb", "SELECT * FROM t") == [(1, "old")]
    assert query(
        work / "w.duckdb", "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_aoetl_s%'"
    ) == [(0,)]
