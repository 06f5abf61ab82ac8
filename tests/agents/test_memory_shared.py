"""Memory's vector index with a shared state store: each AOETL_HOME's index finds every
record, whichever machine wrote it, embeds each record once, picks up a record that commits
below its mark, and rebuilds a deleted folder; on PostgreSQL shared by two homes, and on
SQLite where it applies (one home, several index objects as several processes); and cold
searches from several threads of one process at once."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.agents.memory import index
from agent_orchestrated_etl.agents.memory.index import MemoryIndex
from agent_orchestrated_etl.state import MemoryRecord, StateStore
from tests.servers import Postgres

TEXTS = {
    "weather": "source files://weather.csv: table weather (csv): station, temperature_c, humidity",
    "orders": "source files://orders.csv: table orders (csv): order_id, customer_email, amount",
    "logs": "run of pipeline web_logs from s3://logs/access.ndjson: page views, http status",
    "late": "run of pipeline fleet from postgresql://db/vehicles: trucks, gps positions, fuel",
}
ASK = {
    "weather": "climate readings from stations",
    "orders": "customer purchases and invoices",
    "logs": "website traffic requests",
    "late": "lorries and their locations",
}


@pytest.fixture(scope="module", autouse=True)
def one_encoder() -> Iterator[None]:
    """The real MiniLM, loaded once for the file: sentence-transformers, whose vectors are
    the ONNX encoder's (tested in test_memory_encoder.py), saves the one-time export of a
    fresh home here. An encoder the process already chose is kept."""
    chosen = index._ENCODER
    if chosen is None:
        index._ENCODER = index.TorchEncoder()
    yield
    index._ENCODER = chosen


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """AOETL_STATE_URL of a fresh store: "" (SQLite in each home) or a PostgreSQL schema of
    this test's own, dropped afterwards."""
    if request.param == "sqlite":
        monkeypatch.delenv("AOETL_STATE_URL", raising=False)
        yield ""
        return
    server: Postgres = request.getfixturevalue("postgres").database("memory_shared")
    schema = "m_" + os.urandom(6).hex()
    url = f"{server.url()}?schema={schema}"
    monkeypatch.setenv("AOETL_STATE_URL", url)
    yield url
    with psycopg.connect(server.url(), autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _record(name: str) -> MemoryRecord:
    return MemoryRecord("run", "fp-" + name, "sh-" + name, f"files://{name}", TEXTS[name])


def _found(home: Path, name: str) -> bool:
    """Whether a vector search from ``home`` finds the record ``name`` nearest its question."""
    (hit,) = DataOrchestrator(home=home).memory_search(ASK[name], k=1)
    return hit.how == "vector" and hit.record.text == TEXTS[name]


def _index(home: Path) -> MemoryIndex:
    """The index this process has open for ``home`` (what its searches used)."""
    return MemoryIndex.open(home, StateStore(home).memory)


def test_two_homes_sharing_postgresql_find_each_others_records(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = postgres.database("memory_shared")
    schema = "m_" + os.urandom(6).hex()
    monkeypatch.setenv("AOETL_STATE_URL", f"{server.url()}?schema={schema}")
    a, b = tmp_path / "a", tmp_path / "b"
    StateStore(a).memory.add(_record("weather"))
    StateStore(a).memory.add(_record("orders"))
    assert _found(a, "weather") and _index(a).embedded == 2
    assert _found(b, "orders") and _index(b).embedded == 2  # B's own index, from the state
    StateStore(b).memory.add(_record("logs"))  # written through B, after A's first search
    assert _found(a, "logs") and _index(a).embedded == 3  # only the new record
    assert _found(b, "logs") and _index(b).embedded == 3
    for home in (a, b):  # nothing is embedded twice, and each index holds every record
        assert _found(home, "weather") and _found(home, "orders")
        assert (_index(home).embedded, _index(home).count()) == (3, 3)
    assert not (a / "state.db").exists() and not (b / "state.db").exists()
    with psycopg.connect(server.url(), autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def _late_insert(store: StateStore, url: str) -> tuple[Callable[[], None], int]:
    """A record whose insert takes an id below a record that is committed and embedded
    first: on PostgreSQL, a real transaction left open while another commits; on SQLite,
    whose writers take ids in commit order, an id left free and given later. The function
    commits it; the id."""
    if url:
        con = psycopg.connect(url.split("?")[0])
        con.execute(f"SET search_path TO {url.split('schema=')[1]}")
        (late,) = con.execute(
            "INSERT INTO memory (kind, fingerprint, schema_hash, uri, text, created_at) "
            "VALUES ('run', 'fp-late', 'sh-late', 'files://late', %s, 0) RETURNING id",
            (TEXTS["late"],),
        ).fetchone()  # uncommitted

        def commit() -> None:
            con.commit()
            con.close()

        store.memory.add(_record("logs"))  # takes the next id and commits first
        return commit, int(late)
    late = store.memory.ids()[-1] + 1
    with store._transaction() as con:  # the next id after it taken first
        con.execute(
            "INSERT INTO memory (id, kind, fingerprint, schema_hash, uri, text, created_at) "
            "VALUES (?, 'run', 'fp-logs', 'sh-logs', 'files://logs', ?, 0)",
            (late + 1, TEXTS["logs"]),
        )

    def give() -> None:
        with store._transaction() as con:
            con.execute(
                "INSERT INTO memory (id, kind, fingerprint, schema_hash, uri, text, created_at) "
                "VALUES (?, 'run', 'fp-late', 'sh-late', 'files://late', ?, 0)",
                (late, TEXTS["late"]),
            )

    return give, late


def test_a_record_committed_below_the_mark_is_still_found(state_url: str, tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b" if state_url else a  # SQLite: a second process on the same home
    store = StateStore(a)
    store.memory.add(_record("weather"))
    commit, late = _late_insert(store, state_url)
    assert _found(a, "logs") and _index(a).embedded == 2  # the mark is above the late id
    other = MemoryIndex(b, StateStore(b).memory)  # another process, which then ends
    other.sync()
    assert other.embedded == (2 if state_url else 0)
    commit()
    assert store.memory.get([late])[late].text == TEXTS["late"]
    # A new process finds the state's count up to its mark above the mark's, compares ids,
    # and embeds the one record it lacks.
    again = MemoryIndex(b, StateStore(b).memory)
    assert again.sync() == 1 and again.count() == 3
    # The long-lived process looks again for the ids it saw missing below its mark.
    assert _found(a, "late") and _index(a).embedded == 3
    # A new process of a home whose index holds everything embeds nothing.
    assert MemoryIndex(a, store.memory).sync() == 0
    assert MemoryIndex(b, StateStore(b).memory).sync() == 0


def test_a_deleted_index_folder_is_rebuilt_from_the_state(state_url: str, tmp_path: Path) -> None:
    home = tmp_path / "h"
    for name in ("weather", "orders", "logs"):
        StateStore(home).memory.add(_record(name))
    assert _found(home, "orders") and _index(home).embedded == 3
    shutil.rmtree(home / "memory")
    # A new process: Chroma's clients of this process share one system per folder.
    index._OPEN.pop(str((home / "memory").resolve()))
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    assert _found(home, "logs") and _index(home).embedded == 3 and _index(home).count() == 3
    assert MemoryIndex(home, StateStore(home).memory).sync() == 0


def test_an_index_of_another_state_store_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AOETL_STATE_URL", raising=False)
    home = tmp_path / "h"
    for name in ("weather", "orders"):
        StateStore(home).memory.add(_record(name))
    assert _found(home, "orders")
    (home / "state.db").unlink()  # e.g. AOETL_STATE_URL changed: the same ids, other records
    StateStore(home).memory.add(_record("late"))
    fresh = MemoryIndex(home, StateStore(home).memory)  # a new process
    assert fresh.sync() == 1 and fresh.count() == 1  # weather's vector under id 1 is gone
    assert [h.record.text for h in DataOrchestrator(home=home).memory_search("weather", k=5)] == [
        TEXTS["late"]
    ]


def test_three_cold_searches_from_threads_at_once_all_succeed(
    orch: DataOrchestrator, work: Path
) -> None:
    """One process searching from several threads (aoetl mcp, a notebook): the first searches
    of a fresh home open its index together; all succeed with the same hits."""
    (work / "weather.csv").write_text(
        "station,temperature_c,humidity\n" + "".join(f"s{i},{i}.5,{40 + i}\n" for i in range(5))
    )
    (work / "orders.csv").write_text(
        "order_id,customer_email,amount\n" + "".join(f"{i},c{i}@x.org,{i}\n" for i in range(5))
    )
    for source in ("weather.csv", "orders.csv"):
        pipeline = orch.create_pipeline(source, target="duckdb:///w.duckdb")
        assert orch.run(pipeline).status == "success"
    assert not (orch.home / "memory").exists()  # nothing has opened the index yet
    start = threading.Barrier(3)
    found: dict[int, list[tuple[int | None, str]]] = {}
    failed: dict[int, str] = {}

    def search(n: int) -> None:
        start.wait()
        try:
            hits = DataOrchestrator(home=orch.home).memory_search("climate readings", k=2)
            found[n] = [(hit.record.id, hit.how) for hit in hits]
        except Exception as exc:  # reported below, by thread
            failed[n] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=search, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failed, failed
    assert len(found) == 3 and found[0] == found[1] == found[2], found
    assert [how for _, how in found[0]] == ["vector", "vector"]
    (nearest,) = orch.memory_search("climate readings", k=1)
    assert nearest.record.id == found[0][0][0] and nearest.record.uri.endswith("weather.csv")
    assert _index(orch.home).embedded == StateStore(orch.home).memory.count()  # each once
