"""``propose`` for files: a pipeline drawn from the analysis, per table, with its reasons."""

from __future__ import annotations

from pathlib import Path

import yaml

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.api import build_spec
from agent_orchestrated_etl.pipeline.propose import Proposal
from agent_orchestrated_etl.spec import validate_spec
from agent_orchestrated_etl.spec.models import CheckSpec
from tests.helpers import shop_export


def comments_of(text: str) -> str:
    """The file's comments as one text (lines wrapped for width joined again)."""
    said = [line.strip()[1:] for line in text.splitlines() if line.lstrip().startswith("#")]
    return " ".join(" ".join(said).split())


def test_a_related_export_is_planned_like_the_database_it_came_from(
    orch: DataOrchestrator, work: Path
) -> None:
    shop_export(work / "export")
    proposal = orch.propose(build_spec("export", target="duckdb:///w.duckdb"))
    document = proposal.document
    validate_spec(document)
    assert document["tasks"] == {
        "customers": {"mode": "merge", "key": ["id"]},
        "order_items": {
            "mode": "merge",
            "key": ["order_id", "line"],
            "after": ["orders", "products"],
            "references": ["order_id -> orders(order_id)", "sku -> products(sku)"],
        },
        "orders": {
            "mode": "merge",
            "key": ["order_id"],
            "after": ["customers"],
            "references": ["customer_id -> customers(id)"],
        },
        "products": {"mode": "merge", "key": ["sku"]},
    }
    source = document["source"]
    assert isinstance(source, dict)
    # An update timestamp is a merge table's cursor; nothing else is.
    assert source["incremental"] == {"orders": {"cursor": "updated_at"}}
    assert proposal.report is not None and proposal.report.method == "sample"
    checks = document["checks"]
    assert isinstance(checks, list)
    assert {"table": "orders", "check": "unique", "columns": ["order_id"], "severity": "warn"} in (
        checks
    )
    assert {
        "table": "order_items", "check": "not_null", "columns": ["order_id", "line"],
        "severity": "warn",
    } in checks  # fmt: skip
    assert "customers: merge on id: a rerun updates rows in place" in proposal.reasons[0]
    assert "order_items: loads after orders, products (its foreign keys)" in proposal.reasons
    found = {d["table"]: d for d in proposal.discovered}
    assert found["orders"]["foreign_keys"] == ["customer_id -> customers(id)"]
    assert found["order_items"]["primary_key"] == "order_id, line"


def test_the_file_says_what_was_inferred_and_loads_as_the_document(
    orch: DataOrchestrator, work: Path
) -> None:
    shop_export(work / "export")
    proposal = orch.propose(build_spec("export"), sample_rows=100)
    text = proposal.to_yaml()
    assert yaml.safe_load(text) == proposal.document  # the comments change nothing
    said = comments_of(text)
    assert "Planned by 'aoetl plan' from export: 4 tables in 4 files" in said
    assert "profiled on up to 100 rows" in said
    assert "key id: id is unique and non-null" in said
    assert "references customer_id -> customers(id): all of its distinct values" in said
    assert "incremental on updated_at: a rerun reads only rows updated since" in said
    assert "info: pii (email): suspected personal data" in said
    assert "info: null heavy (note)" in said
    assert "columns: order_id BIGINT, customer_id BIGINT, updated_at TIMESTAMP" in said
    # The checks are live, one a line, each a valid check that only warns.
    lines = text.splitlines()
    start = lines.index("checks:")
    assert lines[start + 1].startswith('  - {"table": ')
    checks = proposal.document["checks"]
    assert isinstance(checks, list) and len(checks) == 12
    for check in checks:
        assert CheckSpec.model_validate(check).severity == "warn"


def test_a_folder_without_keys_appends_reading_each_file_once(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "logs").mkdir()
    for month in ("01", "02"):
        (work / "logs" / f"events-2024-{month}.csv").write_text(
            "level,message\ninfo,started\ninfo,started\n"
        )
    (work / "logs" / "events-2024-03.csv").write_bytes(b"")
    proposal = orch.propose(build_spec("logs"))
    assert proposal.document["tasks"] == {"events": {"mode": "append"}}
    source = proposal.document["source"]
    assert isinstance(source, dict)
    assert source["incremental"] == {"events": {"cursor": "_object_modified"}}
    said = comments_of(proposal.to_yaml())
    assert "append: no column (or pair of columns) is unique and non-null" in said
    assert "incremental on _object_modified: each file is read once" in said
    caveat = said[said.index("_object_modified assumes files are written once") :]
    for words in ("cp -p", "multipart upload", "read whole again", "mode: replace", "_object_key"):
        assert words in caveat
    assert "csv: 2 files" in said
    assert "Found: empty file (events-2024-03.csv): the file is empty" in said
    assert proposal.document["checks"] == [
        {"table": "events", "check": "row_count", "min": 1, "severity": "warn"}
    ]


def test_references_in_a_circle_order_the_loads_by_one_of_them(
    orch: DataOrchestrator, work: Path
) -> None:
    (work / "org").mkdir()
    (work / "org" / "departments.csv").write_text(
        "id,employee_id\n" + "".join(f"{i},{i * 2}\n" for i in range(1, 11))
    )
    (work / "org" / "employees.csv").write_text(
        "id,department_id\n" + "".join(f"{i},{1 + i % 10}\n" for i in range(1, 31))
    )
    proposal = orch.propose(build_spec("org", target="duckdb:///w.duckdb"))
    tasks = proposal.document["tasks"]
    assert isinstance(tasks, dict)
    assert tasks["departments"]["references"] == ["employee_id -> employees(id)"]
    assert tasks["employees"]["references"] == ["department_id -> departments(id)"]
    # Both references are documented; only one orders the loads, so the plan has no cycle.
    ordered = [t for t in ("departments", "employees") if "after" in tasks[t]]
    assert len(ordered) == 1
    said = comments_of(proposal.to_yaml())
    assert "not used to order the loads, since the references go round in a circle" in said
    planned = orch.plan_tasks(validate_spec(proposal.document))
    planned.source.close()


def test_no_comment_can_become_yaml() -> None:
    document = {"name": "x", "source": {"uri": "data"}, "tasks": {"t": {"mode": "append"}}}
    proposal = Proposal(
        document,
        [],
        [],
        comments={
            "": ["a header\nname: injected"],
            "tasks.t": ["column 'a\nmode: merge' looks odd", "x" * 300],
        },
        checks=[
            ("t", {"check": "min_rows", "value": 1}),
            ("t\nmode: replace", {"check": "not_null", "columns": ["a\nmode: replace"]}),
            ("u", {"check": "unique", "columns": ["id\u2028target: x\x85mode: replace\u2029#"]}),
        ],
    )
    text = proposal.to_yaml()
    assert yaml.safe_load(text) == document
    assert all(len(line) <= 100 or " " not in line.strip("# ") for line in text.splitlines())
    assert '#   - {"check": "min_rows", "value": 1}  # table "t"' in text
    # A name holding a newline stays on its check's one commented line.
    assert '#   - {"check": "not_null", "columns": ["a\\nmode: replace"]}' in text


def test_a_plan_from_an_analysis_already_made_reads_nothing_again(
    orch: DataOrchestrator, work: Path
) -> None:
    import shutil

    shop_export(work / "export")
    report = orch.analyze(str(work / "export"), sample_rows=100)
    spec = build_spec(str(work / "export"))
    shutil.rmtree(work / "export")  # nothing left to read: the plan comes from the report
    proposal = orch.propose(spec, report=report)
    assert proposal.report is report
    assert proposal.document["tasks"]["orders"]["after"] == ["customers"]
