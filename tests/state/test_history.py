"""Quality history, the audit log with the agents' records, and memory records: the same on
SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from agent_orchestrated_etl.state import AuditEntry, CallRecord, MemoryRecord, StateStore


def _profile(run_id: str | None, taken_at: float, rows: int) -> dict[str, object]:
    return {
        "resource": "orders.csv#orders",
        "table": "orders",
        "run_id": run_id,
        "taken_at": taken_at,
        "depth": "standard",
        "rows": rows,
    }


def test_profiles_are_a_history_of_committed_runs_and_profiles(store: StateStore) -> None:
    q = store.quality
    store.start_run("ok", "p", "t")
    store.finish_run(
        "ok", status="success", duration_s=1, rows_loaded=1, rows_rejected=0, error=None, result={}
    )
    store.start_run("bad", "p", "t")
    first = q.add_profile(_profile(None, 100.5, 10), score={"total": 91.5}, anomalies=[{"a": 1}])
    q.add_profile(_profile("ok", 200.25, 20), score={"total": 80.0})
    q.add_profile(_profile("bad", 300.0, 30))  # a run that never committed: no trend point
    again = q.add_profile(_profile("ok", 250.0, 25))  # the same run again: replaces its own
    assert isinstance(first, int) and again > first
    found = q.profiles("orders.csv#orders")
    assert [(p.run_id, p.taken_at, p.profile["rows"]) for p in found] == [
        ("ok", 250.0, 25), (None, 100.5, 10),
    ]  # fmt: skip
    old = found[1]
    assert (old.score, old.score_detail, old.anomalies, old.depth, old.table) == (
        91.5, {"total": 91.5}, [{"a": 1}], "standard", "orders",
    )  # fmt: skip
    assert [p.taken_at for p in q.profiles("orders.csv#orders", before=200)] == [100.5]
    assert len(q.profiles("orders.csv#orders", limit=1)) == 1
    assert [p.profile["rows"] for p in q.run_profiles("bad")] == [30]
    assert q.profiles("other#t") == []


def test_check_results_replace_a_retried_check(store: StateStore) -> None:
    q = store.quality
    q.add_check_results("r", [
        {"table": "orders", "name": "not_null", "status": "failed", "n": 1},
        {"table": "orders", "name": "unique", "status": "passed"},
    ])  # fmt: skip
    q.add_check_results("r", [{"table": "orders", "name": "not_null", "status": "passed", "n": 2}])
    assert q.check_results("r") == [
        {"table": "orders", "name": "not_null", "status": "passed", "n": 2},
        {"table": "orders", "name": "unique", "status": "passed"},
    ]
    assert q.check_results("other") == []


def test_checked_tables_are_marked_replaced_and_forgotten(store: StateStore) -> None:
    q = store.quality
    q.mark_checked("r", "orders", "fp1", passed=False)
    q.mark_checked("r", "orders", "fp2", passed=True)
    q.mark_checked("r", "items", "fp3", passed=False)
    assert q.checked("r") == {"orders": ("fp2", True), "items": ("fp3", False)}
    q.unmark_checked("r", "items")
    assert q.checked("r") == {"orders": ("fp2", True)}


def test_audit_entries_in_the_order_made_and_agent_stats_add_up(store: StateStore) -> None:
    log = store.audit
    detail = {"candidates": [["csv-agent", 0.9]]}
    log.record(AuditEntry("r", "select", "extract:files/csv", "csv-agent", ("exact",), 0.9,
                          "load:orders", detail, at=20.5))  # fmt: skip
    log.record_many(
        [AuditEntry("r", "route", "orders", "eu", at=10.25), AuditEntry("r2", "memory", "s", "m")],
        [CallRecord("csv-agent", "extract", True, 100, 0.5)],
    )
    log.record_call("csv-agent", "extract", ok=False, rows=-5, seconds=0.25)
    log.record_call("duck", "load", ok=True, rows=7, seconds=1.0)
    log.record_many([], [])
    entries = log.entries("r")
    assert [(e.kind, e.at) for e in entries] == [("route", 10.25), ("select", 20.5)]
    chosen = entries[1]
    assert (chosen.choice, chosen.reasons, chosen.score, chosen.task_id) == (
        "csv-agent", ("exact",), 0.9, "load:orders",
    )  # fmt: skip
    assert chosen.detail == {"candidates": [["csv-agent", 0.9]]} and isinstance(chosen.id, int)
    assert [e.subject for e in log.entries("r", kind="route")] == ["orders"]
    stats = log.stats()
    csv = stats[("csv-agent", "extract")]
    assert (csv.calls, csv.successes, csv.rows, csv.seconds) == (2, 1, 100, 0.75)
    assert csv.success_rate == 0.5 and stats[("duck", "load")].rows_per_s == 7.0


def _record(kind: str, fingerprint: str, **fields: object) -> MemoryRecord:
    text = str(fields.pop("text", f"{kind} of {fingerprint}"))
    uri = "s3://b/" + fingerprint
    return MemoryRecord(kind, fingerprint, "schema-" + fingerprint[:1], uri, text, **fields)  # type: ignore[arg-type]


def test_memory_records_stored_and_looked_up(store: StateStore) -> None:
    m = store.memory
    source = m.remember_source(_record("source", "aa", data={"schema": [["id", "BIGINT"]]}))
    assert m.remember_source(_record("source", "aa", text="other")) == source  # known: kept
    outcome = {"status": "failed", "failure": "timeout", "duration_s": 1.5, "rows": 10}
    run = m.add(_record("run", "aa", run_id="20260101-x", rows_per_s=6.67,
                        settings={"workers": 2}, **outcome))  # fmt: skip
    assert m.add_many([_record("run", "bb", run_id="20260102-y"), _record("source", "bc")]) == 2
    got = m.get([run, source, 10**9])
    assert set(got) == {run, source} and got[source].text == "source of aa"
    r = got[run]
    assert (r.status, r.failure, r.duration_s, r.rows, r.rows_per_s, r.settings) == (
        "failed", "timeout", 1.5, 10, 6.67, {"workers": 2},
    )  # fmt: skip
    assert got[source].data == {"schema": [["id", "BIGINT"]]}
    assert [x.id for x in m.by_fingerprint("aa")] == [run, source]
    assert [x.id for x in m.by_fingerprint("aa", kind="run")] == [run]
    assert len(m.by_schema("schema-b")) == 2 and len(m.by_schema("schema-b", kind="source")) == 1
    assert [x.fingerprint for x in m.search_text("RUN OF")] == ["bb", "aa"]
    assert [x.fingerprint for x in m.search_text("0102-Y")] == ["bb"]  # the run id
    assert [x.fingerprint for x in m.search_text("b/bc")] == ["bc"]  # the URI
    assert m.search_text("100%") == [] and m.get([]) == {}
    assert [x.id for x in m.entries(run_id="20260101")] == [run]
    assert len(m.entries(kind="source")) == 2 and len(m.entries(limit=1)) == 1
    assert m.count() == 4 and m.count(kind="run", fingerprint="aa") == 1


def test_memory_listed_by_id_for_the_vector_index(store: StateStore) -> None:
    m = store.memory
    ids = [m.add(_record("run", f"f{i}")) for i in range(5)]
    assert ids == sorted(ids)  # increasing: what the index's mark relies on
    assert m.after(0) == [(i, f"run of f{n}") for n, i in enumerate(ids)]
    assert m.after(ids[1], limit=2) == [(ids[2], "run of f2"), (ids[3], "run of f3")]
    assert m.after(ids[-1]) == [] and m.ids(after=ids[-1]) == []
    assert m.ids(after=ids[0], limit=3) == ids[1:4]
    assert m.texts([ids[4], 10**9, ids[0], ids[4]]) == [
        (ids[0], "run of f0"),
        (ids[4], "run of f4"),
    ]
    assert m.texts([]) == []
    assert (m.count(upto=ids[2]), m.count(upto=0), m.count(kind="run", upto=ids[-1])) == (3, 0, 5)


@pytest.mark.parametrize("rows", [0, 300])
def test_memory_add_many_in_one_transaction(store: StateStore, rows: int) -> None:
    assert store.memory.add_many(_record("run", f"x{i}") for i in range(rows)) == rows
    assert store.memory.count() == rows
