"""Routing rules: what a spec may say, and the decisions made from them (pure functions).

Whole runs that route are in test_routing_runs.py.
"""

from __future__ import annotations

import duckdb
import pytest

from agent_orchestrated_etl.agents.routing import (
    SourceFacts,
    decide_workflow,
    pinned_workflow,
    row_predicates,
)
from agent_orchestrated_etl.errors import UserError
from agent_orchestrated_etl.spec import PipelineSpec, TargetSpec, size_bytes, validate_spec


def spec(**extra: object) -> PipelineSpec:
    return validate_spec({"name": "p", "source": "data/", **extra})


ROUTE = [
    {"when": {"format": "parquet", "min_size": "1GB"}, "target": "duckdb:///big.duckdb"},
    {"when": {"environment": "dev"}, "target": {"uri": "duckdb:///dev.duckdb"}},
    {"when": {"tags": ["finance"], "max_rows": 100}, "target": "duckdb:///fin.duckdb"},
    {"else": "duckdb:///warehouse.duckdb"},
]


def facts(
    fmt: str = "csv",
    size: int = 10,
    rows: int | None = 5,
    tags: frozenset[str] = frozenset(),
    environment: str | None = None,
) -> SourceFacts:
    return SourceFacts(frozenset({fmt}), size, rows, tags, environment)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500MB", 500_000_000), ("1GB", 10**9), ("1.5 gb", 1_500_000_000), ("2GiB", 2 * 1024**3),
     ("10kB", 10_000), ("123", 123), (4096, 4096), ("7 B", 7)],
)  # fmt: skip
def test_sizes_read_as_bytes(text: str | int, expected: int) -> None:
    assert size_bytes(text) == expected


def test_a_bad_size_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match="500MB"):
        size_bytes("lots")
    with pytest.raises(UserError, match="not a size"):
        spec(route=[{"when": {"min_size": "big"}, "target": "duckdb:///a.duckdb"}])


def test_workflow_rules_first_match_wins_with_reasons() -> None:
    rules = spec(route=ROUTE, tags=["finance"]).route
    default = TargetSpec(uri="duckdb:///own.duckdb")
    big = decide_workflow(rules, default, facts("parquet", 2 * 10**9, None))
    assert (big.rule, big.target.uri) == (0, "duckdb:///big.duckdb")
    assert big.reasons == ("rule 1 matched: format parquet, size 2.0 GB",)
    dev = decide_workflow(rules, default, facts("parquet", 10, 5, environment="dev"))
    assert (dev.rule, dev.target.uri) == (1, "duckdb:///dev.duckdb")
    assert "size 10 bytes < 1.0 GB" in dev.reasons[0]
    fin = decide_workflow(rules, default, facts(tags=frozenset({"finance"}), environment="prod"))
    assert fin.rule == 2
    assert "AOETL_ENV=prod, not dev" in fin.reasons[1]
    other = decide_workflow(rules, default, facts(rows=None))
    assert (other.rule, other.target.uri) == (3, "duckdb:///warehouse.duckdb")
    assert other.reasons[1].endswith("AOETL_ENV is unset, not dev")
    assert "the row estimate is unknown" in other.reasons[2]
    assert other.reasons[-1] == "rule 4 (else) taken: no earlier rule matched"


def test_no_match_and_no_else_keeps_the_specs_target() -> None:
    rules = spec(route=ROUTE[:1]).route
    default = TargetSpec(uri="postgresql://u:hunter2@db/x")
    decision = decide_workflow(rules, default, facts("csv", 10**10))
    assert decision.rule is None and decision.target is default
    assert "hunter2" not in decision.choice
    assert decision.reasons[-1].startswith("no rule matched and there is no 'else'")


def test_a_format_rule_needs_every_table_in_that_format() -> None:
    rules = spec(route=[{"when": {"format": ["csv", "json"]}, "target": "a.duckdb"}]).route
    default = TargetSpec()
    mixed = SourceFacts(frozenset({"csv", "parquet"}), 1, 1)
    assert decide_workflow(rules, default, mixed).rule is None
    both = SourceFacts(frozenset({"csv", "json"}), 1, 1)
    assert decide_workflow(rules, default, both).rule == 0


def test_a_resumed_run_keeps_the_rule_it_took() -> None:
    rules = spec(route=ROUTE).route
    kept = pinned_workflow(rules, TargetSpec(), 1, facts(environment="prod"))
    assert kept.target.uri == "duckdb:///dev.duckdb"
    assert "resumed run" in kept.reasons[0]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ([{"else": "a.duckdb"}, {"else": "b.duckdb"}], "'else' comes once"),
        ([{"when": {}, "target": "a.duckdb"}], "'when' needs a condition"),
        ([{"when": {"tags": ["x"]}}], "needs 'when' and 'target'"),
        ([{"when": {"tags": ["x"]}, "target": "a.duckdb", "else": "b.duckdb"}], "not both"),
        ([{"when": {"colour": "red"}, "target": "a.duckdb"}], "colour"),
    ],
)
def test_malformed_workflow_rules_are_refused(route: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        spec(route=route)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"else": "x"}], "at least one"),
        ([{"when": "a > 1", "to": "x"}, {"else": "y"}, {"unroutable": "dlq"}], "comes once"),
        ([{"else": "y"}, {"when": "a > 1", "to": "x"}], "comes once"),
        ([{"when": "a > 1"}], "both 'when'"),
        ([{"when": "a > 1", "to": "x"}, {"when": "a > 2", "to": "x"}], "named by two"),
        ([{"when": "a > 1", "to": "x"}, {"unroutable": "drop"}], "fail|dlq|'fail'"),
    ],
)
def test_malformed_row_routes_are_refused(rules: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        spec(routes={"orders": rules})


def test_a_spec_without_routing_dumps_as_before() -> None:
    plain = spec()
    assert not {"tags", "route", "routes"} & set(plain.model_dump(mode="json"))
    routed = spec(route=ROUTE, tags=["finance"], routes={"o": [{"when": "a", "to": "b"}]})
    again = validate_spec(routed.model_dump(mode="json"))
    assert again == routed  # the stored spec reads back the same rules


def test_row_predicates_take_each_row_once() -> None:
    rules = spec(
        routes={"orders": [
            {"when": "country = 'DE'", "to": "orders_de"},
            {"when": "country IN ('FR', 'BE') OR amount > 100", "to": "orders_fr"},
            {"else": "orders_other"},
        ]}
    ).routes["orders"]  # fmt: skip
    routing = row_predicates("orders", rules)
    assert [r.table for r in routing.routes] == ["orders_de", "orders_fr", "orders_other"]
    assert routing.fate == "else" and routing.unroutable == "FALSE"
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('DE', 500), ('FR', 1), ('BE', NULL), "
        "(NULL, 200), (NULL, NULL), ('US', 3)) v(country, amount)"
    )
    taken = {
        r.table: con.execute(f"SELECT count(*) FROM t WHERE {r.predicate}").fetchall()[0][0]
        for r in routing.routes
    }
    # DE with amount 500 is the first rule's only: first match wins; NULLs match nothing.
    assert taken == {"orders_de": 1, "orders_fr": 3, "orders_other": 2}


def test_without_else_the_rest_is_unroutable() -> None:
    rules = spec(routes={"o": [{"when": "a > 1", "to": "big"}, {"unroutable": "dlq"}]}).routes["o"]
    routing = row_predicates("o", rules)
    assert routing.fate == "dlq"
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1), (2), (NULL)) v(a)")
    rest = con.execute(f"SELECT count(*) FROM t WHERE {routing.unroutable}").fetchone()
    assert rest == (2,)
    default = row_predicates("o", rules[:1])
    assert default.fate == "fail"
