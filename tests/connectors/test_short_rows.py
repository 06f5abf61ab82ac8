"""CSV rows that leave out their trailing fields: the file's pattern loads them with NULLs,
damage (a cut line) is quarantined.

``tests/fixtures/short_rows`` has the shape of Debian's distro-info files: an 8-field (and a
9-field) header over rows that mostly stop after 4 to 7 fields, and a version column whose
complete rows are integers and whose short rows are not.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.api import build_spec
from agent_orchestrated_etl.connectors.files.source import FileSource
from agent_orchestrated_etl.engine import RunResult
from agent_orchestrated_etl.errors import SpecError
from agent_orchestrated_etl.spec import FileSourceSpec, validate_spec
from agent_orchestrated_etl.state import StateStore
from tests.helpers import FIXTURES, query, said

SHORT = FIXTURES / "short_rows"


def _run(orch: DataOrchestrator, uri: str | Path, **source: Any) -> RunResult:
    spec = validate_spec(
        {
            "name": "t",
            "source": {"uri": str(uri), **source},
            "target": "duckdb:///w.duckdb",
            "max_bad_ratio": 1.0,
        }
    )
    result = orch.run(spec)
    assert result.status == "success", result.error
    return result


def _discover(path: Path, **csv: Any) -> list[str]:
    source = FileSource(FileSourceSpec(uri=str(path), csv=csv))
    try:
        (resource,) = source.discover()
        return said(resource)
    finally:
        source.close()


def _short_decision(decisions: list[str]) -> str:
    (found,) = [d for d in decisions if d.startswith("short rows:")]
    return found


def test_rows_lacking_trailing_fields_load_with_nulls_and_the_plan_says_why(
    orch: DataOrchestrator, work: Path
) -> None:
    shutil.copy(SHORT / "releases.csv", work / "releases.csv")
    assert _short_decision(_discover(work / "releases.csv")) == (
        "short rows: read as NULL (15 of 22 sampled rows lack trailing fields (4 to 7 of 8 "
        "fields), so leaving them out is the file's pattern; set csv.null_padding: false to "
        "quarantine them)"
    )
    result = _run(orch, work / "releases.csv")
    table = result.tables["releases"]
    assert (table.rows_loaded, table.rows_rejected) == (22, 0)
    # Typed over every row: the short rows' '1.1' made version DOUBLE, not the BIGINT the
    # complete rows alone suggest.
    db = work / "w.duckdb"
    assert query(db, "SELECT data_type FROM duckdb_columns() WHERE column_name = 'version'") == [
        ("DOUBLE",)
    ]
    rows = query(
        db,
        'SELECT version, codename, eol::VARCHAR, "eol-lts"::VARCHAR, "eol-elts" FROM releases '
        "WHERE codename IN ('Acorn', 'Spruce', 'Unstable', 'Kapok') ORDER BY codename",
    )
    assert rows == [
        (1.1, "Acorn", "1997-06-05", None, None),
        (6.0, "Kapok", "2014-05-31", "2016-02-29", None),
        (14.0, "Spruce", None, None, None),
        (None, "Unstable", None, None, None),
    ]


def test_an_isolated_short_row_among_complete_ones_is_still_quarantined_with_its_line(
    orch: DataOrchestrator, work: Path
) -> None:
    lines = ["id,name,amount"] + [f"{i},n{i},{i}.5" for i in range(1, 40)]
    lines.insert(20, "19,cut")  # a line cut short: damage, not the file's pattern
    (work / "cut.csv").write_text("\n".join(lines) + "\n")
    assert _short_decision(_discover(work / "cut.csv")) == (
        "short rows: quarantined (1 of 40 sampled rows lacks trailing fields (2 of 3 fields): "
        "too few to be the file's pattern, so damage (a cut line); set csv.null_padding: true "
        "to read them as NULL)"
    )
    result = _run(orch, work / "cut.csv")
    assert (result.tables["cut"].rows_loaded, result.tables["cut"].rows_rejected) == (39, 1)
    (entry,) = StateStore(orch.home).dlq_entries(result.run_id)
    assert (Path(str(entry.file)).name, entry.line, entry.payload) == ("cut.csv", 21, b"19,cut")
    assert "Expected Number of Columns: 3 Found: 2" in entry.reason

    # The user knows better: null_padding: true reads it with a NULL amount.
    padded = _run(orch, work / "cut.csv", csv={"null_padding": True})
    assert padded.tables["cut"].rows_rejected == 0
    assert query(work / "w.duckdb", "SELECT amount FROM cut WHERE name = 'cut'") == [(None,)]


def test_null_padding_false_quarantines_the_short_rows(orch: DataOrchestrator, work: Path) -> None:
    shutil.copy(SHORT / "releases.csv", work / "releases.csv")
    decisions = _discover(work / "releases.csv", null_padding=False)
    assert _short_decision(decisions) == (
        "short rows: quarantined (15 of 22 sampled rows lack trailing fields (4 to 7 of 8 "
        "fields); as csv.null_padding says)"
    )
    result = _run(orch, work / "releases.csv", csv={"null_padding": False})
    table = result.tables["releases"]
    assert (table.rows_loaded, table.rows_rejected) == (7, 15)
    lines = [e.line for e in StateStore(orch.home).dlq_entries(result.run_id)]
    assert lines == [*range(2, 13), 20, 21, 22, 23]

    # A fixed pipeline file with null_padding: true replays them.
    (work / "fixed.yaml").write_text(
        "name: t\nsource:\n  uri: releases.csv\n  csv: {null_padding: true}\n"
        "target: duckdb:///w.duckdb\n"
    )
    replayed = orch.replay(run_id=result.run_id, pipeline=work / "fixed.yaml")
    assert (len(replayed.replayed), len(replayed.still_bad)) == (15, 0)
    assert query(
        work / "w.duckdb", "SELECT eol::VARCHAR, \"eol-lts\" FROM releases WHERE codename = 'Elm'"
    ) == [("2000-10-30", None)]


def test_too_many_fields_and_cut_lines_are_quarantined_in_a_padded_file(
    orch: DataOrchestrator, work: Path
) -> None:
    rows = [f"{i},n{i}" if i % 3 else f"{i},n{i},x{i},{i}" for i in range(30)]
    rows[10] = "10,n10,x10,10,surplus"  # a field too many: damage whatever the pattern
    (work / "mixed.csv").write_text("id,name,note,score\n" + "\n".join(rows) + "\n")
    result = _run(orch, work / "mixed.csv")
    assert (result.tables["mixed"].rows_loaded, result.tables["mixed"].rows_rejected) == (29, 1)
    (entry,) = StateStore(orch.home).dlq_entries(result.run_id)
    assert (entry.line, entry.payload) == (12, b"10,n10,x10,10,surplus")
    assert query(work / "w.duckdb", "SELECT note, score FROM mixed WHERE id = 1") == [(None, None)]


def test_short_rows_keeping_less_than_half_the_fields_are_damage(work: Path) -> None:
    rows = [f"{i},a,b,c" if i % 4 else f"{i}" for i in range(40)]
    (work / "stumps.csv").write_text("id,x,y,z\n" + "\n".join(rows) + "\n")
    found = _short_decision(_discover(work / "stumps.csv"))
    assert found.startswith("short rows: quarantined (10 of 40 sampled rows lack trailing")
    assert "the shortest keeps less than half the fields, more like a cut line" in found


def test_padded_rows_with_quoted_line_breaks_load(orch: DataOrchestrator, work: Path) -> None:
    # DuckDB's parallel reader refuses null_padding next to a quoted line break.
    rows = [f'{i},"line\nbreak {i}"' if i % 2 else f"{i},plain,{i}" for i in range(12)]
    (work / "notes.csv").write_text("id,note,extra\n" + "\n".join(rows) + "\n")
    result = _run(orch, work / "notes.csv")
    assert (result.tables["notes"].rows_loaded, result.tables["notes"].rows_rejected) == (12, 0)
    assert query(work / "w.duckdb", "SELECT note, extra FROM notes WHERE id = 3") == [
        ("line\nbreak 3", None)
    ]


def test_analyze_plan_and_run_of_a_folder_of_such_files_load_every_row(
    orch: DataOrchestrator, work: Path
) -> None:
    shutil.copytree(SHORT, work / "releases")
    report = orch.analyze("releases")
    fields = {(r.name, f.name): f for r in report.resources for f in r.fields}
    assert (fields["releases", "version"].type, fields["releases", "version"].confidence) == (
        "DOUBLE",
        1.0,
    )
    # '6.06 LTS' among the editions' versions: text, as the load reads it.
    assert fields["editions", "version"].type == "VARCHAR"
    releases = next(r for r in report.resources if r.name == "releases")
    assert not [i for i in releases.issues if i.kind in ("mixed_types", "schema_drift")]
    proposal = orch.propose(build_spec("releases"), report=report)
    (work / "p.yaml").write_text(proposal.to_yaml())
    result = orch.run(work / "p.yaml")
    assert result.status == "success", result.error
    loaded = {t: (r.rows_loaded, r.rows_rejected) for t, r in result.tables.items()}
    assert loaded == {"releases": (22, 0), "editions": (22, 0)}


def test_the_json_schema_offers_the_override() -> None:
    csv = DataOrchestrator.schema()["$defs"]["CsvOptions"]["properties"]
    assert "null_padding" in csv
    bad = {"uri": "x.csv", "csv": {"null_padding": "sometimes"}}
    with pytest.raises(SpecError, match=r"field 'source\.csv\.null_padding'"):
        validate_spec({"name": "t", "source": bad, "target": "duckdb:///w.duckdb"})


def test_analyze_samples_a_csv_with_a_quoted_line_break(orch: DataOrchestrator, work: Path) -> None:
    # The sample once always padded short rows, and DuckDB refuses that beside a quoted line
    # break: such a file had 'no rows' and an 'unreadable' issue.
    (work / "q").mkdir()
    (work / "q" / "t.csv").write_text('a,b,c\n1,"x\ny",3\n7,8,9\n')
    (resource,) = orch.analyze("q").resources
    assert resource.sampled_rows == 2
    assert not [i for i in resource.issues if i.kind == "unreadable"]
