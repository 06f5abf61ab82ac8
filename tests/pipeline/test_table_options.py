"""Per-table settings in ``tasks:``: each table's own mode and merge key, and ``after``
ordering the loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.pipeline import RunOptions, plan_pipeline, run_pipeline
from agent_orchestrated_etl.spec import PipelineSpec, validate_spec
from tests.helpers import query, run_cli


def shop(work: Path) -> Path:
    data = work / "data"
    data.mkdir(exist_ok=True)
    (data / "customers.csv").write_text("id,name\n1,ann\n2,bob\n")
    (data / "events.csv").write_text("at,what\n2026-01-01,open\n2026-01-02,close\n")
    return data


def spec_of(work: Path, tasks: dict[str, object], **extra: object) -> PipelineSpec:
    return validate_spec(
        {
            "name": "shop",
            "source": str(work / "data"),
            "target": f"duckdb:///{work / 'w.duckdb'}",
            "tasks": tasks,
            **extra,
        }
    )


def test_one_table_merges_on_its_own_key_while_another_appends(work: Path) -> None:
    data = shop(work)
    spec = spec_of(
        work, {"customers": {"mode": "merge", "key": "id"}, "events": {"after": ["customers"]}}
    )
    first = run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=2))
    assert first.status == "success", first.error
    (data / "customers.csv").write_text("id,name\n1,ann\n2,bobby\n3,cy\n")
    second = run_pipeline(spec, RunOptions(home=work / ".aoetl", workers=2))
    assert second.status == "success", second.error
    db = work / "w.duckdb"
    assert query(db, "SELECT id, name FROM customers ORDER BY id") == [
        (1, "ann"),
        (2, "bobby"),
        (3, "cy"),
    ]
    # The pipeline's own mode (append) holds for the table without a mode of its own.
    assert query(db, "SELECT what, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        ("close", 2),
        ("open", 2),
    ]


def test_after_orders_the_loads_and_descriptions_show_each_mode(work: Path) -> None:
    shop(work)
    spec = spec_of(
        work,
        {"load:customers": {"mode": "merge", "key": ["id"]}, "events": {"after": ["customers"]}},
        mode="replace",
    )
    planned = plan_pipeline(spec, home=work / ".aoetl")
    try:
        plan = planned.plan
        assert plan.task("load:events").depends_on == ("load:customers",)
        assert plan.task("load:customers").depends_on == ()
        assert [[t.id for t in layer] for layer in plan.layers()] == [
            ["load:customers"],
            ["load:events"],
            ["commit"],
        ]
        assert "(merge on id)" in plan.task("load:customers").description
        assert "(replace)" in plan.task("load:events").description
    finally:
        planned.source.close()


def test_a_tables_mode_and_key_are_part_of_what_a_run_loads(work: Path) -> None:
    from agent_orchestrated_etl.pipeline import spec_hash

    shop(work)
    plain = spec_of(work, {})
    assert spec_hash(plain) == spec_hash(spec_of(work, {"events": {"timeout_s": 5}}))
    assert spec_hash(plain) != spec_hash(spec_of(work, {"customers": {"mode": "replace"}}))
    assert spec_hash(plain) == spec_hash(spec_of(work, {"events": {"after": ["customers"]}}))


@pytest.mark.parametrize(
    ("tasks", "said"),
    [
        (
            {"events": {"after": ["custmers"]}},
            "tasks.events.after names no table 'custmers': list tables this pipeline loads "
            "(customers)",
        ),
        ({"events": {"after": ["events"]}}, "tasks.events.after names itself"),
        ({"evnts": {"after": ["customers"]}}, "this pipeline loads no table 'evnts'"),
        (
            {"events": {"after": ["customers"]}, "customers": {"after": ["events"]}},
            "wait for each other in a circle",
        ),
    ],
)
def test_bad_after_settings_are_one_clear_error(
    work: Path, tasks: dict[str, object], said: str
) -> None:
    shop(work)
    with pytest.raises(UserError) as caught:
        plan_pipeline(spec_of(work, tasks), home=work / ".aoetl")
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_table_settings_from_the_cli_are_one_line_exit_2(tmp_path: Path) -> None:
    shop(tmp_path)
    (tmp_path / "p.yaml").write_text(
        "name: shop\nsource: data\ntarget: duckdb:///w.duckdb\n"
        "tasks:\n  events:\n    after: [orders]\n"
    )
    proc = run_cli("run", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "error: tasks.events.after names no table 'orders': list tables this pipeline loads "
        "(customers)"
    ]
    (tmp_path / "p.yaml").write_text(
        "name: shop\nsource: data\ntarget: duckdb:///w.duckdb\n"
        "tasks:\n  customers:\n    mode: merge\n"
    )
    proc = run_cli("run", "p.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "tasks.customers: mode 'merge' needs a key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_pipeline_key_is_not_called_ignored_when_a_table_merges_on_it(
    tmp_path: Path,
) -> None:
    shop(tmp_path)
    (tmp_path / "p.yaml").write_text(
        "name: shop\nsource: data\ntarget: duckdb:///w.duckdb\nkey: id\n"
        "tasks:\n  customers: {mode: merge}\n  events: {after: [customers]}\n"
    )
    proc = run_cli("run", "p.yaml", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ignored" not in proc.stderr
    run_cli("run", "p.yaml", cwd=tmp_path)
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM customers") == [(2,)]
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM events") == [(4,)]


def test_replay_uses_the_tables_own_mode_and_key(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "id,amount\n" + "".join(f"{i},{i}.5\n" for i in range(1, 60)) + "5,missing\n"
    )
    pipeline = (
        "name: orders\nsource:\n  uri: orders.csv\n{csv}target: duckdb:///w.duckdb\n"
        "tasks:\n  orders: {{mode: merge, key: id}}\n"
    )
    (tmp_path / "p.yaml").write_text(pipeline.format(csv=""))
    proc = run_cli("run", "p.yaml", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM orders") == [(59,)]
    (tmp_path / "fixed.yaml").write_text(
        pipeline.format(csv="  csv: {null_values: ['', 'missing']}\n")
    )
    proc = run_cli(
        "dlq", "replay", "--run", run_id, "--pipeline", "fixed.yaml", "--json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["replayed"]) == 1
    # Merged on id: row 5 is updated in place, not added a second time.
    rows = query(tmp_path / "w.duckdb", "SELECT count(*), count(amount) FROM orders")
    assert rows == [(59, 58)]
