from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.connectors.base import StagedTable
from agent_orchestrated_etl.connectors.directory.target import DirectoryDestination
from agent_orchestrated_etl.data.duck import Relation, connect
from agent_orchestrated_etl.errors import FatalError
from tests.helpers import query


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def rows(lake: Path, table: str, fmt: str = "parquet") -> list[tuple[object, ...]]:
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    return query(":memory:", f"SELECT * FROM {reader}('{lake / table}/*.{fmt}') ORDER BY ALL")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_modes_into_a_directory(orch: DataOrchestrator, work: Path, fmt: str) -> None:
    target = f"{fmt}:///lake"
    a = write(work / "a.csv", "id,v\n1,a\n2,b\n")
    b = write(work / "b.csv", "id,v\n2,B\n3,c\n")
    assert orch.run(orch.create_pipeline(a, target, table="t")).status == "success"
    assert orch.run(orch.create_pipeline(b, target, table="t")).status == "success"
    assert len(rows(work / "lake", "t", fmt)) == 4
    merged = orch.run(orch.create_pipeline(b, target, table="t", mode="merge", key="id"))
    assert merged.status == "success", merged.error
    assert rows(work / "lake", "t", fmt) == [(1, "a"), (2, "B"), (3, "c")]
    orch.run(orch.create_pipeline(a, target, table="t", mode="replace"))
    assert rows(work / "lake", "t", fmt) == [(1, "a"), (2, "b")]


def test_table_is_a_symlink_swapped_atomically_and_old_versions_removed(
    orch: DataOrchestrator, work: Path
) -> None:
    src = write(work / "a.csv", "id\n1\n")
    for _ in range(3):
        orch.run(orch.create_pipeline(src, "parquet:///lake", table="t", mode="replace"))
    link = work / "lake" / "t"
    assert link.is_symlink()
    assert len(list((work / "lake" / ".aoetl" / "t").iterdir())) == 1
    assert not os.path.isabs(os.readlink(link))  # the lake can be moved


def test_failed_run_leaves_directory_unchanged(orch: DataOrchestrator, work: Path) -> None:
    src = write(work / "a.csv", "id,day\n1,2024-01-01\n2,2024-01-02\n")
    orch.run(orch.create_pipeline(src, "parquet:///lake", table="t"))
    before = rows(work / "lake", "t")
    bad = write(work / "b.csv", "id,day\n3,someday\n4,never\n")
    result = orch.run(orch.create_pipeline(bad, "parquet:///lake", table="t"))
    assert result.status == "failed"
    assert rows(work / "lake", "t") == before
    assert len(list((work / "lake" / ".aoetl" / "t").iterdir())) == 1


def test_refuses_to_overwrite_a_folder_it_did_not_write(orch: DataOrchestrator, work: Path) -> None:
    (work / "lake" / "t").mkdir(parents=True)
    src = write(work / "a.csv", "id\n1\n")
    result = orch.run(orch.create_pipeline(src, "parquet:///lake", table="t"))
    assert result.status == "failed"
    assert "was not written by aoetl" in (result.error or "")


@pytest.mark.parametrize(
    "step",
    [
        "SELECT nocol FROM input",  # Binder Error
        "SELECT nosuchfn(id) FROM input",  # Catalog Error
        "SELECT CAST('x' AS INTEGER) AS id FROM input",  # Conversion Error
        "SELEC id FROM input",  # Parser Error
    ],
)
def test_sql_errors_exit_as_on_duckdb(orch: DataOrchestrator, work: Path, step: str) -> None:
    src = write(work / "a.csv", "id\n1\n")
    codes = {}
    for target in ("duckdb:///w.duckdb", "parquet:///lake"):
        result = orch.run(orch.create_pipeline(src, target, transforms=[{"sql": step}]))
        assert result.status == "failed" and result.error is not None
        assert len(result.error.splitlines()) == 1
        codes[target] = result.exit_code
    assert codes["parquet:///lake"] == codes["duckdb:///w.duckdb"], codes
    assert not (work / "lake").exists()  # a run that wrote nothing made no folder


def test_failed_write_keeps_the_current_version(orch: DataOrchestrator, work: Path) -> None:
    src = write(work / "a.csv", "id\n1\n2\n")
    orch.run(orch.create_pipeline(src, "parquet:///lake", table="t"))
    link, before = os.readlink(work / "lake" / "t"), rows(work / "lake", "t")
    for mode in ("append", "replace", "merge"):
        failed = orch.run(
            orch.create_pipeline(
                src, "parquet:///lake", table="t", mode=mode, key="id",
                transforms=[{"sql": "SELECT id / 0 AS id, nosuchfn(id) AS x FROM input"}],
            )
        )  # fmt: skip
        assert failed.status == "failed"
        assert os.readlink(work / "lake" / "t") == link
        assert rows(work / "lake", "t") == before
        assert [p.name for p in (work / "lake" / ".aoetl" / "t").iterdir()] == [Path(link).name]


def test_a_failed_run_into_a_new_folder_leaves_nothing(orch: DataOrchestrator, work: Path) -> None:
    bad = write(work / "b.csv", "id,day\n3,someday\n")
    spec = orch.create_pipeline(
        bad, "parquet:///new/lake", table="t", transforms=[{"sql": "SELECT nocol FROM input"}]
    ).spec
    assert orch.run(spec).status == "failed"
    assert not (work / "new").exists()


def test_locks_are_released_for_the_next_run(orch: DataOrchestrator, work: Path) -> None:
    src = write(work / "a.csv", "id\n1\n")
    for mode in ("append", "append", "merge", "replace"):
        result = orch.run(
            orch.create_pipeline(src, "parquet:///lake", table="t", mode=mode, key="id")
        )
        assert result.status == "success", result.error
    assert rows(work / "lake", "t") == [(1,)]


def test_a_failing_table_takes_the_runs_other_tables_with_it(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "in").mkdir()
    write(work / "in" / "good.csv", "v\n1\n2\n")
    write(work / "in" / "bad.csv", "v\nx\ny\n")
    cast = [{"sql": "SELECT CAST(v AS INTEGER) AS v FROM input"}]
    result = orch.run(orch.create_pipeline(str(work / "in"), "parquet:///lake", transforms=cast))
    assert result.status == "failed" and result.exit_code == 2, result.error
    assert not (work / "lake").exists()  # the good table's version went too: nothing to resume


# -- staged rows read back before the commit ---------------------------------------------------
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_merge_stages_only_the_incoming_rows_and_keeps_the_rest_apart(
    work: Path, fmt: str
) -> None:
    home = work / ".aoetl"

    def load(run: str, sql: str, mode: str, check: list[tuple[object, ...]] | None) -> None:
        dest = DirectoryDestination(str(work / "lake"), fmt, home=home)
        dest.begin(run, "p")
        dest.write(
            "t", Relation(sql), mode=mode, key=("id",), fingerprint="f", record_bad=lambda b: None
        )
        if check is not None:
            con = connect(home=home)
            staged = dest.staged("t")
            staged.attach(con)
            assert con.execute(f"{staged.sql} ORDER BY ALL").fetchall() == check
            con.close()
            assert rows(work / "lake", "t", fmt) == [(1, "a"), (2, "b"), (3, "c")]  # unchanged
        dest.commit([StagedTable("t", mode, ("id",))])
        with pytest.raises(FatalError, match="nothing staged"):
            dest.staged("t")
        dest.close()

    load("r1", "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) v(id, v)", "append", None)
    incoming = "SELECT * FROM (VALUES (3, 'C'), (4, 'd'), (4, 'D')) v(id, v)"
    load("r2", incoming, "merge", [(3, "C"), (4, "D")])
    assert rows(work / "lake", "t", fmt) == [(1, "a"), (2, "b"), (3, "C"), (4, "D")]
    current = (work / "lake" / "t").resolve()
    assert sorted(p.name for p in current.glob(f"*.{fmt}")) == [
        f"kept-r2.{fmt}",
        f"part-r2.{fmt}",
    ]
    # A merge that replaces every row it had keeps no (empty) file of old rows.
    everything = "SELECT * FROM (VALUES (1, 'x'), (2, 'x'), (3, 'x'), (4, 'x')) v(id, v)"
    load("r3", everything, "merge", None)
    current = (work / "lake" / "t").resolve()
    assert [p.name for p in current.glob(f"*.{fmt}")] == [f"part-r3.{fmt}"]
    assert rows(work / "lake", "t", fmt) == [(1, "x"), (2, "x"), (3, "x"), (4, "x")]


def test_after_discard_nothing_staged_is_readable(work: Path) -> None:
    home = work / ".aoetl"
    dest = DirectoryDestination(str(work / "lake"), "parquet", home=home)
    dest.begin("r1", "p")
    dest.write(
        "t", Relation("SELECT 1 AS id"), mode="replace", key=(), fingerprint="f",
        record_bad=lambda b: None,
    )  # fmt: skip
    staged = dest.staged("t")
    dest.discard()
    with pytest.raises(FatalError, match="table 't' has nothing staged in run r1"):
        dest.staged("t")
    con = connect(home=home)
    with pytest.raises(duckdb.IOException):  # its file went with the version
        con.execute(staged.sql).fetchall()
    con.close()
    dest.close()
    assert not (work / "lake").exists()
