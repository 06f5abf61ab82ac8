"""The Coordinator: selection by capability, reasons, ties, NoCapableAgent, audit and stats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_orchestrated_etl.agents import (
    Agent,
    Capability,
    Coordinator,
    Need,
    NoCapableAgent,
    Work,
    all_agents,
)
from agent_orchestrated_etl.agents.coordinator import match
from agent_orchestrated_etl.errors import FatalError, UserError
from agent_orchestrated_etl.state import AgentStats, AuditEntry, StateStore


@dataclass
class Loaded:
    """What a load returns, as far as the Coordinator's record of a call reads it."""

    rows_loaded: int


class Fake(Agent):
    """An agent with the given capabilities; handle() gives ``result`` or raises ``fail``."""

    def __init__(
        self, name: str, *caps: Capability, result: Any = None, fail: Exception | None = None
    ) -> None:
        self.name = name
        self.capabilities = caps
        self.result = result
        self.fail = fail
        self.handled: list[Work] = []

    def handle(self, work: Work) -> Any:
        self.handled.append(work)
        if self.fail is not None:
            raise self.fail
        return self.result


def cap(text: str) -> Capability:
    """``extract:files/csv incremental glob`` → a Capability."""
    head, *features = text.split()
    action, subject = head.split(":", 1)
    return Capability.of(action, subject, *features)


def need(text: str) -> Need:
    head, *features = text.split()
    action, subject = head.split(":", 1)
    return Need.of(action, subject, *features)


def stats(
    agent: str, action: str, calls: int, ok: int, rows: int = 0, s: float = 0.0
) -> dict[tuple[str, str], AgentStats]:
    return {(agent, action): AgentStats(agent, action, calls, ok, rows, s)}


# -- match: the levels and the reasons ----------------------------------------------------------
@pytest.mark.parametrize(
    ("capability", "wanted", "score", "reason"),
    [
        ("extract:files/csv", "extract:files/csv", 3, "exact match: extract:files/csv"),
        ("extract:files", "extract:files/csv", 2, "family match: extract:files"),
        ("extract:*", "extract:files/csv", 1, "generic fallback match: extract:*"),
        ("load:files", "extract:files/csv", 0, "does not extract"),
        ("extract:sql", "extract:files/csv", 0, "extracts sql, not files"),
        ("extract:sql/postgresql", "extract:files/csv", 0, "extracts sql/postgresql, not files"),
        ("extract:files/parquet", "extract:files/csv", 0, "extracts files/parquet, not files/csv"),
        (
            "extract:files glob",
            "extract:files/csv incremental gzip",
            0,
            "extract:files [glob] lacks gzip, incremental",
        ),
        ("extract:* incremental", "extract:rest/json incremental", 1, "generic fallback match"),
        ("load:duckdb merge replace", "load:duckdb/duckdb merge", 2, "family match: load:duckdb"),
    ],
)
def test_match_scores_each_level_and_says_why(
    capability: str, wanted: str, score: int, reason: str
) -> None:
    got_score, got_reason = match(cap(capability), need(wanted))
    assert got_score == score
    assert got_reason.startswith(reason)


def test_exact_beats_family_beats_generic_and_each_steps_in_when_the_better_one_is_gone() -> None:
    generic = Fake("generic", cap("extract:*"))
    family = Fake("family", cap("extract:files"))
    exact = Fake("exact", cap("extract:files/csv"))
    coordinator = Coordinator([exact, family, generic])  # the best registered first
    chosen = coordinator.select(need("extract:files/csv"))
    assert (chosen.agent.name, chosen.score) == ("exact", 3)
    assert chosen.reasons[0] == "exact match: extract:files/csv"
    assert chosen.reasons[-1] == "preferred over family (family), generic (generic fallback)"
    assert coordinator.select(need("extract:files/parquet")).agent is family
    assert coordinator.select(need("extract:ftp/csv")).agent is generic
    assert Coordinator([family, generic]).select(need("extract:files/csv")).agent is family
    assert Coordinator([generic]).select(need("extract:files/csv")).agent is generic


def test_an_agent_lacking_a_required_feature_loses_the_work_to_the_next_level() -> None:
    plain = Fake("pg-plain", cap("extract:sql/postgresql query-pushdown"))
    sql = Fake("sql", cap("extract:sql incremental query-pushdown"))
    coordinator = Coordinator([sql, plain])
    assert coordinator.select(need("extract:sql/postgresql")).agent is plain
    chosen = coordinator.select(need("extract:sql/postgresql incremental"))
    assert chosen.agent is sql and chosen.score == 2
    rejected = {c.agent.name: c for c in chosen.candidates}["pg-plain"]
    assert (rejected.score, rejected.level) == (0, "rejected")
    assert rejected.reason == "extract:sql/postgresql [query-pushdown] lacks incremental"


def test_an_agents_best_capability_for_the_action_counts() -> None:
    both = Fake("both", cap("load:files/parquet append"), cap("load:files append merge"))
    assert Coordinator([both]).select(need("load:files/parquet merge")).score == 2
    assert Coordinator([both]).select(need("load:files/parquet append")).score == 3


def test_registering_an_agent_of_the_same_name_replaces_it_and_one_without_capabilities_fails() -> (
    None
):
    coordinator = Coordinator([Fake("a", cap("load:duckdb")), Fake("b", cap("load:duckdb"))])
    coordinator.register(Fake("a", cap("load:sql")))
    assert [a.name for a in coordinator.agents] == ["b", "a"]
    assert coordinator.select(need("load:sql/postgresql")).agent.name == "a"
    with pytest.raises(UserError, match="agent 'empty' declares no capabilities"):
        coordinator.register(Fake("empty"))


# -- NoCapableAgent -----------------------------------------------------------------------------
def test_no_capable_agent_is_a_one_line_user_error_listing_the_candidates_and_why() -> None:
    coordinator = Coordinator(
        [
            Fake("files", cap("extract:files")),
            Fake("pg", cap("extract:sql/postgresql")),
            Fake("inc", cap("extract:* incremental")),
            Fake("loader", cap("load:duckdb")),
        ]
    )
    with pytest.raises(NoCapableAgent) as caught:
        coordinator.select(need("extract:sql/mysql partitions"))
    error = caught.value
    assert isinstance(error, UserError) and error.exit_code == 2
    text = str(error)
    assert "\n" not in text
    assert text.startswith("no agent can do extract:sql/mysql [partitions]; candidates: ")
    assert "files: extracts files, not sql" in text
    assert "pg: extracts sql/postgresql, not sql/mysql" in text
    assert "inc: extract:* [incremental] lacks partitions" in text
    # Only agents that do the action are candidates; the loader is not listed.
    assert "loader" not in text and set(error.rejected) == {"files", "pg", "inc"}
    assert "Register an agent with a capability for extract:sql/mysql" in text


def test_no_agent_for_the_action_lists_every_agent() -> None:
    coordinator = Coordinator([Fake("a", cap("load:duckdb")), Fake("b", cap("check:*"))])
    with pytest.raises(NoCapableAgent) as caught:
        coordinator.select(need("route:rows/sql"))
    assert caught.value.rejected == {"a": "does not route", "b": "does not route"}


# -- ties -----------------------------------------------------------------------------------------
def test_a_tie_goes_to_the_better_success_rate_even_against_a_later_agent() -> None:
    a, b = Fake("a", cap("load:duckdb")), Fake("b", cap("load:duckdb"))
    track = {**stats("a", "load", 10, 9), **stats("b", "load", 10, 5, rows=10**9, s=1.0)}
    chosen = Coordinator([a, b], stats=lambda: track).select(need("load:duckdb/duckdb"))
    assert chosen.agent is a
    assert chosen.reasons[1] == "tie with b broken by success rate 83% against 50%"


def test_an_agent_never_seen_counts_as_half_a_success() -> None:
    tried, new = Fake("tried", cap("load:duckdb")), Fake("new", cap("load:duckdb"))
    track = stats("tried", "load", 3, 0)  # (0 + 1) / (3 + 2) = 20 %
    assert Coordinator([new, tried], stats=lambda: track).select(need("load:duckdb/x")).agent is new
    track = stats("tried", "load", 3, 3)  # 80 %
    assert (
        Coordinator([new, tried], stats=lambda: track).select(need("load:duckdb/x")).agent is tried
    )


def test_with_equal_success_rates_the_faster_agent_wins() -> None:
    slow, fast = Fake("slow", cap("load:sql")), Fake("fast", cap("load:sql"))
    track = {
        **stats("fast", "load", 4, 4, rows=4_000_000, s=2.0),
        **stats("slow", "load", 4, 4, rows=4_000_000, s=8.0),
    }
    chosen = Coordinator([fast, slow], stats=lambda: track).select(need("load:sql/postgresql"))
    assert chosen.agent is fast
    assert chosen.reasons[1] == (
        "tie with slow broken by throughput 2,000,000 against 500,000 rows/s"
    )


def test_with_the_same_record_the_later_registered_agent_wins() -> None:
    builtin, mine = Fake("builtin", cap("extract:rest")), Fake("mine", cap("extract:rest"))
    chosen = Coordinator([builtin, mine]).select(need("extract:rest/json"))
    assert chosen.agent is mine
    assert chosen.reasons[1] == "tie with builtin broken by registration: the later agent wins"


def test_a_track_record_never_beats_a_better_match() -> None:
    star, exact = Fake("star", cap("extract:files")), Fake("exact", cap("extract:files/csv"))
    track = {
        **stats("star", "extract", 1000, 1000, rows=10**10, s=1.0),
        **stats("exact", "extract", 10, 1),
    }
    assert (
        Coordinator([exact, star], stats=lambda: track).select(need("extract:files/csv")).agent
        is exact
    )


def test_the_track_record_is_per_action() -> None:
    a, b = (
        Fake("a", cap("load:duckdb"), cap("commit:duckdb")),
        Fake("b", cap("load:duckdb"), cap("commit:duckdb")),
    )
    track = {**stats("a", "load", 10, 10), **stats("b", "commit", 10, 10)}
    coordinator = Coordinator([a, b], stats=lambda: track)
    assert coordinator.select(need("load:duckdb/duckdb")).agent is a
    assert coordinator.select(need("commit:duckdb/duckdb")).agent is b


# -- the audit log and the agents' record, in a real state DB ----------------------------------
def test_every_selection_is_audited_with_the_candidates_and_reasons(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".aoetl")
    exact, family = Fake("csv", cap("extract:files/csv")), Fake("files", cap("extract:files"))
    loader = Fake("loader", cap("load:duckdb replace"))
    coordinator = Coordinator([exact, family, loader], audit=store.audit.record)
    coordinator.select(need("extract:files/csv"), run_id="r1", task_id="load:orders")
    coordinator.select(need("load:duckdb/duckdb replace"), run_id="r1", task_id="load:orders")
    coordinator.select(need("extract:files/json"), run_id="r2", task_id="load:events")
    with pytest.raises(NoCapableAgent):
        coordinator.select(need("extract:sql/postgresql"), run_id="r1")

    entries = store.audit.entries("r1")
    assert [(e.kind, e.subject, e.choice, e.score, e.task_id) for e in entries] == [
        ("select", "extract:files/csv", "csv", 3.0, "load:orders"),
        ("select", "load:duckdb/duckdb [replace]", "loader", 2.0, "load:orders"),
    ]
    first = entries[0]
    assert first.reasons == ("exact match: extract:files/csv", "preferred over files (family)")
    assert first.detail["need"] == {"action": "extract", "subject": "files/csv", "features": []}
    # Candidates are the agents that do the action, with their scores; the loader is not one.
    assert [(c["agent"], c["score"], c["level"]) for c in first.detail["candidates"]] == [
        ("csv", 3, "exact"),
        ("files", 2, "family"),
    ]
    assert [e.choice for e in store.audit.entries("r2")] == ["files"]
    assert store.audit.entries("r1", kind="route") == []


def test_dispatch_runs_the_chosen_agent_and_records_the_call(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".aoetl")
    good = Fake("good", cap("load:duckdb replace"), result=Loaded(1200))
    bad = Fake("bad", cap("load:sql"), fail=RuntimeError("disk full"))
    coordinator = Coordinator(
        [good, bad],
        audit=store.audit.record,
        stats=store.audit.stats,
        record_call=store.audit.record_call,
    )
    work = Work("r9", "load:orders")
    assert coordinator.dispatch(need("load:duckdb/duckdb replace"), work) == Loaded(1200)
    assert good.handled == [work]
    coordinator.dispatch(need("load:duckdb/duckdb replace"), Work("r9", "load:items"))
    # A registered agent's own error is named in one line; the original is its cause.
    with pytest.raises(FatalError, match="agent bad failed to load:sql/postgresql: Runti") as err:
        coordinator.dispatch(need("load:sql/postgresql"), Work("r9", "load:users"))
    assert isinstance(err.value.__cause__, RuntimeError)
    flush = getattr(coordinator, "flush", None)
    if flush is not None:  # a Coordinator may write its records behind the work
        flush()

    record = store.audit.stats()
    assert (record[("good", "load")].calls, record[("good", "load")].successes) == (2, 2)
    assert record[("good", "load")].rows == 2400
    assert record[("good", "load")].seconds >= 0
    assert (record[("bad", "load")].calls, record[("bad", "load")].successes) == (1, 0)
    assert record[("bad", "load")].rows == 0
    assert [(e.task_id, e.choice) for e in store.audit.entries("r9")] == [
        ("load:orders", "good"),
        ("load:items", "good"),
        ("load:users", "bad"),
    ]

    # The record breaks the next run's tie: a twin of 'bad', never seen, beats it.
    twin = Fake("twin", cap("load:sql"))
    nxt = Coordinator([twin, bad], stats=store.audit.stats)
    assert nxt.select(need("load:sql/postgresql")).agent is twin


def test_record_call_adds_up_in_the_state_db(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".aoetl")
    store.audit.record_call("a", "extract", ok=True, rows=100, seconds=0.5)
    store.audit.record_call("a", "extract", ok=False, rows=0, seconds=0.25)
    store.audit.record_call("a", "load", ok=True, rows=7, seconds=1.0)
    got = store.audit.stats()
    assert got[("a", "extract")] == AgentStats("a", "extract", 2, 1, 100, 0.75)
    assert got[("a", "extract")].success_rate == pytest.approx(0.5)
    assert got[("a", "extract")].rows_per_s == pytest.approx(100 / 0.75)
    assert got[("a", "load")].calls == 1


def test_audit_entries_read_back_as_written(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".aoetl")
    entry = AuditEntry(
        "r", "route", "orders", "eu", ("country = 'DE'",), 1.0, "load:orders", {"rows": 3}
    )
    store.audit.record(entry)
    (back,) = store.audit.entries("r")
    assert (back.kind, back.subject, back.choice, back.reasons, back.detail) == (
        "route",
        "orders",
        "eu",
        ("country = 'DE'",),
        {"rows": 3},
    )


# -- the built-in agents ------------------------------------------------------------------------
def test_the_builtin_agents_cover_a_run_and_a_users_exact_agent_takes_over() -> None:
    builtin = Coordinator(all_agents())
    assert builtin.select(need("extract:files/csv incremental")).agent.name == "extract-files"
    assert builtin.select(need("extract:sql/postgresql incremental")).agent.name == "extract-sql"
    assert builtin.select(need("analyze:rest/json")).agent.name == "analyst"
    assert builtin.select(need("transform:steps/python python sql")).agent.name == "transform"
    assert builtin.select(need("quarantine:s3/csv")).agent.name == "quality"
    assert builtin.select(need("load:sql/postgresql merge")).agent.name == "load-sql"
    assert builtin.select(need("commit:duckdb/duckdb")).agent.name == "load-duckdb"
    mine = Fake("csv-turbo", cap("extract:files/csv incremental"))
    custom = Coordinator([*all_agents(), mine])
    assert custom.select(need("extract:files/csv incremental")).agent is mine
    assert custom.select(need("extract:files/parquet")).agent.name == "extract-files"
    with pytest.raises(NoCapableAgent, match="extract-files: extracts files, not ftp"):
        custom.select(need("extract:ftp/csv"))
