"""The Python API: DataOrchestrator.plan, create_pipeline -> Pipeline, operations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from agent_orchestrated_etl import DataOrchestrator, NotSupportedError, UserError
from agent_orchestrated_etl.api import Pipeline, RunPlan
from tests.helpers import query, run_cli

if TYPE_CHECKING:
    import pyarrow as pa

SALES = "id,amount,country\n1,10.5,DE\n2,-3,FR\n3,7,DE\n4,120,US\n"


@pytest.fixture
def sales(work: Path) -> Path:
    path = work / "sales.csv"
    path.write_text(SALES)
    return path


def test_creating_reads_nothing_and_the_plan_comes_on_first_use(
    orch: DataOrchestrator, sales: Path
) -> None:
    missing = orch.create_pipeline("later.csv", target="duckdb:///w.duckdb")
    assert isinstance(missing, Pipeline) and "not planned yet" in repr(missing)
    with pytest.raises(UserError, match=r"later\.csv"):
        missing.plan  # noqa: B018 - reading it discovers the source
    (sales.parent / "later.csv").write_text(SALES)
    assert missing.plan.tables == ["later"]
    assert missing.plan is missing.plan  # kept, not planned twice
    assert "planned" in repr(missing) and "not planned" not in repr(missing)


def test_plan_is_what_list_tasks_prints_and_closes_the_source(
    orch: DataOrchestrator, work: Path
) -> None:
    db = work / "src.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE orders AS SELECT range AS id, range * 2 AS v FROM range(5)")
    plan = orch.plan(f"duckdb:///{db}", target="duckdb:///w.duckdb", mode="merge", key="id")
    assert isinstance(plan, RunPlan)
    listed = run_cli(
        "run", f"duckdb:///{db}", "--to", "duckdb:///w.duckdb", "--mode", "merge", "--key", "id",
        "--list-tasks", "--json", cwd=work,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert plan.to_dict() == json.loads(listed.stdout)
    load = plan.task("load:orders")
    assert load.action == "load" and load.table == "orders" and "merge on id" in load.description
    assert plan.task("commit").depends_on == ("load:orders",)
    assert set(plan.fingerprints) == {"orders"}
    assert "load:orders" in str(plan)
    with pytest.raises(UserError, match="no task 'load:nope'"):
        plan.task("load:nope")
    # Planning closed what it opened: a writer in this process may open the file now (while
    # a read-only connection stays open, DuckDB refuses one of another configuration).
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO orders VALUES (5, 10)")


def test_transform_callables_run_in_this_process(
    orch: DataOrchestrator, sales: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "sales_steps.py").write_text(
        "import pyarrow.compute as pc\n"
        "def doubled(batch):\n"
        "    i = batch.schema.get_field_index('amount')\n"
        "    return batch.set_column(i, 'amount', pc.multiply(batch['amount'], 2))\n"
    )
    monkeypatch.syspath_prepend(str(work))
    import sales_steps  # type: ignore[import-not-found]

    def scaled(factor: int):  # type: ignore[no-untyped-def]
        return lambda batch: batch.append_column("big", pc.multiply(batch["amount"], factor))

    import pyarrow.compute as pc

    pipeline = orch.create_pipeline(
        str(sales),
        target="duckdb:///w.duckdb",
        operations={
            "filter": "amount > 0",
            "transform": [sales_steps.doubled, scaled(10), "SELECT * FROM input WHERE id <> 4"],
            "drop": ["country"],
        },
    )
    steps = pipeline.spec.model_dump(mode="json")["transforms"]
    assert steps[0] == {"filter": "amount > 0"}
    assert steps[1] == {"python": "sales_steps:doubled"}  # importable: its own name
    local = steps[2]["python"]
    assert local.startswith("aoetl_local.fn_") and local.endswith(":fn")
    assert steps[3:] == [{"sql": "SELECT * FROM input WHERE id <> 4"}, {"drop": ["country"]}]
    # The same code over the same value is the same step (a rerun resumes); another is not.
    again = orch.create_pipeline(str(sales), operations={"transform": scaled(10)}).spec
    other = orch.create_pipeline(str(sales), operations={"transform": scaled(3)}).spec
    assert again.transforms[0].python == local  # type: ignore[union-attr]
    assert other.transforms[0].python != local  # type: ignore[union-attr]

    result = pipeline.execute()
    assert result.status == "success", result.error
    assert query(work / "w.duckdb", "SELECT * FROM sales ORDER BY id") == [
        (1, 21.0, 210.0),
        (3, 14.0, 140.0),
    ]
    assert [r.run_id for r in pipeline.runs()] == [result.run_id]
    # A callable of this process cannot cross to another: it is named in the refusal.
    with pytest.raises(NotSupportedError, match=r"the lambda \(test_python_api\.py line"):
        pipeline.to_airflow(work / "dag.py")


def test_checks_and_the_other_operations(orch: DataOrchestrator, sales: Path) -> None:
    pipeline = orch.create_pipeline(
        str(sales),
        target="duckdb:///w.duckdb",
        operations={
            "rename": {"amount": "total"},
            "checks": [{"check": "range", "columns": ["total"], "min": 0, "severity": "fail"}],
        },
    )
    assert [t.id for t in pipeline.plan.tasks] == ["load:sales", "check:sales", "commit"]
    result = orch.run(pipeline)  # the facade's run takes a Pipeline too
    assert result.status == "failed"
    assert [(c["name"], c["status"], c["failing"]) for c in result.checks] == [
        ("range:*.total", "failed", 1)
    ]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ({"map": "x"}, r"operations has no 'map'; use transform, sql, filter"),
        ({"transform": 3}, r"operations\['transform'\]\[0\] is int; give a Python callable"),
        ({"transform": [{"nope": 1}]}, r"exactly one of the keys"),
        ({"python": "not a target"}, r"is not 'module:function'"),
    ],
)
def test_bad_operations_say_what_to_fix(
    orch: DataOrchestrator, sales: Path, operations: dict[str, object], message: str
) -> None:
    with pytest.raises(UserError, match=message) as caught:
        orch.create_pipeline(str(sales), operations=operations)
    assert caught.value.exit_code == 2


def test_a_pipeline_file_runs_from_its_folder_and_airflow_is_refused(
    orch: DataOrchestrator, sales: Path, work: Path
) -> None:
    folder = work / "etl"
    folder.mkdir()
    (folder / "in.csv").write_text(SALES)
    (folder / "p.yaml").write_text("name: filed\nsource: in.csv\ntarget: duckdb:///f.duckdb\n")
    pipeline = orch.create_pipeline(str(folder / "p.yaml"), mode="replace")
    assert pipeline.name == "filed" and pipeline.base_dir == folder.resolve()
    assert pipeline.execute().status == "success"
    assert orch.run(pipeline.spec, base_dir=pipeline.base_dir).status == "success"
    assert query(folder / "f.duckdb", 'SELECT count(*) FROM "in"') == [(4,)]
    written = pipeline.to_airflow(folder / "dags" / "filed.py")
    text = written.read_text()
    assert written == folder / "dags" / "filed.py" and 'dag_id="filed"' in text
    assert '"load:in"' in text and '"commit"' in text  # each Airflow task names its aoetl task


def test_a_callable_of_this_process_is_refused_elsewhere_with_a_clear_line(
    orch: DataOrchestrator, sales: Path, work: Path
) -> None:
    pipeline = orch.create_pipeline(
        str(sales), target="duckdb:///w.duckdb", operations={"transform": lambda b: b}
    )
    # The pipeline file another process would read names the registered callable.
    (work / "p.json").write_text(pipeline.spec.model_dump_json())
    shell = run_cli("run", "p.json", "--task", "load:sales", "--run-id", "elsewhere", cwd=work)
    assert shell.returncode == 2, shell.stderr
    assert "is a callable given to create_pipeline in another Python process" in shell.stderr
    assert "Traceback" not in shell.stderr
    assert pipeline.execute().status == "success"  # in this process it runs


# Globals the lambdas below refer to: what a lambda does depends on which one it calls.
def _double(batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow.compute as pc

    return batch.set_column(1, "amount", pc.multiply(batch["amount"], 2))


def _negate(batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow.compute as pc

    return batch.set_column(1, "amount", pc.negate(batch["amount"]))


_LIMIT = 10


def test_two_lambdas_calling_different_functions_are_two_steps(
    orch: DataOrchestrator, sales: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doubled = orch.create_pipeline(
        str(sales), "duckdb:///a.duckdb", name="p1", operations={"transform": lambda t: _double(t)}
    )
    negated = orch.create_pipeline(
        str(sales), "duckdb:///b.duckdb", name="p2", operations={"transform": lambda t: _negate(t)}
    )
    first, second = (p.spec.transforms[0].python for p in (doubled, negated))  # type: ignore[union-attr]
    assert first != second
    # The later pipeline's callable does not take the earlier one's name: each runs its own.
    assert doubled.execute().status == "success"
    assert query(work / "a.duckdb", "SELECT amount FROM sales ORDER BY id") == [
        (21.0,), (-6.0,), (14.0,), (240.0,)
    ]  # fmt: skip
    # A global plain value the callable reads is part of what it does.
    capped = lambda t: t.filter(t["id"] < _LIMIT)  # noqa: E731
    before = orch.create_pipeline(str(sales), operations={"transform": capped}).spec
    monkeypatch.setattr(sys.modules[__name__], "_LIMIT", 3)
    after = orch.create_pipeline(str(sales), operations={"transform": capped}).spec
    assert before.transforms[0].python != after.transforms[0].python  # type: ignore[union-attr]


_SCRIPT = """
from agent_orchestrated_etl import DataOrchestrator

def keep(t):
    return t.select([c for c in t.column_names if c not in {"secret", "internal", "note"}])

def step(fn):
    orch = DataOrchestrator(home=".aoetl")
    return orch.create_pipeline("in.csv", operations={"transform": fn}).spec.transforms[0].python

print(step(keep), step(lambda t: keep(t)))
"""


def test_a_main_function_with_a_comprehension_has_one_name_in_every_process(
    work: Path,
) -> None:
    (work / "etl.py").write_text(_SCRIPT)
    names = []
    for seed in ("1", "2"):  # a set's order follows string hashing, seeded per process
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "etl.py"], cwd=work, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        names.append(done.stdout.split())
    assert names[0] == names[1]
    assert names[0][0].startswith("aoetl_local.keep_") and names[0][0].endswith(":keep")
    # The comprehension's own code counts: the same function but for it is another step.
    variants = []
    for column in ("secret", "public"):
        scope: dict[str, object] = {"__name__": "__main__"}
        exec(_SCRIPT.replace('"secret"', repr(column)).rsplit("print", 1)[0], scope)
        variants.append(scope["step"](scope["keep"]))  # type: ignore[operator]
    assert variants[0] != variants[1]


def test_closures_over_different_values_are_different_steps(
    orch: DataOrchestrator, sales: Path
) -> None:
    def scaled(factor: object):  # type: ignore[no-untyped-def]
        return lambda t: t.append_column("big", t["amount"] * factor)

    def via_helper(factor: int):  # type: ignore[no-untyped-def]
        def helper(t):  # type: ignore[no-untyped-def]
            return t.append_column("big", t["amount"] * factor)

        return lambda t: helper(t)

    def name(fn: object) -> str:
        spec = orch.create_pipeline(str(sales), operations={"transform": fn}).spec
        return spec.transforms[0].python  # type: ignore[union-attr,no-any-return]

    assert name(scaled(2)) == name(scaled(2))
    assert len({name(scaled(2)), name(scaled(3)), name(scaled(2.5)), name(scaled("2"))}) == 4
    # A captured function is followed: the helper's own captured constant counts.
    assert name(via_helper(2)) == name(via_helper(2)) != name(via_helper(3))
    assert name(scaled(frozenset({"a", "b"}))) == name(scaled(frozenset({"b", "a"})))
