"""The agents' message bus: pub/sub, request/response, dead letters, back-pressure, close."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from agent_orchestrated_etl.agents.bus import DeadLetter, Message, MessageBus, dlq_sink
from agent_orchestrated_etl.errors import FatalError, TransientError, UserError, register_secret
from agent_orchestrated_etl.pipeline.replay import replay
from agent_orchestrated_etl.state import StateStore
from tests.helpers import run_cli


def test_publish_fans_out_to_every_subscriber_of_the_topic_in_order() -> None:
    got: dict[str, list[object]] = {"a": [], "b": [], "all": [], "other": []}
    with MessageBus(maxsize=8) as bus:
        bus.subscribe("run.event", lambda m: got["a"].append(m.payload), name="a")
        bus.subscribe("run.event", lambda m: got["b"].append((m.sender, m.payload)), name="b")
        bus.subscribe("*", lambda m: got["all"].append(m.topic), name="all")
        bus.subscribe("other", lambda m: got["other"].append(m.payload), name="other")
        sent = [bus.publish("run.event", {"n": i}, sender="extract-files") for i in range(20)]
        assert bus.publish("nobody.listens", 1) == 1  # only the "*" subscriber
        assert bus.flush(5)
    assert sent == [3] * 20  # a, b and the "*" subscriber
    assert got["a"] == [{"n": i} for i in range(20)]
    assert got["b"] == [("extract-files", {"n": i}) for i in range(20)]
    assert got["all"] == ["run.event"] * 20 + ["nobody.listens"]
    assert got["other"] == []


def test_a_subscriber_name_is_unique_per_topic() -> None:
    with MessageBus() as bus:
        bus.subscribe("t", print, name="x")
        with pytest.raises(UserError, match="already has a subscriber named 'x'"):
            bus.subscribe("t", print, name="x")
        bus.subscribe("u", print, name="x")  # another topic is fine


def test_request_returns_the_responders_answer() -> None:
    with MessageBus() as bus:
        bus.respond("plan.size", lambda m: {"tables": len(m.payload)}, name="planner")
        assert bus.request("plan.size", ["a", "b", "c"], sender="orchestrator") == {"tables": 3}
        with pytest.raises(UserError, match="already has a responder \\(planner\\)"):
            bus.respond("plan.size", lambda m: None)


def test_request_without_a_responder_says_which_topics_have_one() -> None:
    with MessageBus() as bus:
        bus.respond("memory.lookup", lambda m: None, name="memory")
        with pytest.raises(UserError) as caught:
            bus.request("route.decide", {})
    message = str(caught.value)
    assert "no agent responds to 'route.decide'" in message
    assert "memory.lookup" in message and "\n" not in message


def test_request_times_out_with_a_transient_error() -> None:
    release = threading.Event()
    with MessageBus() as bus:
        bus.respond("slow", lambda m: release.wait(5), name="sleeper")
        started = time.monotonic()
        with pytest.raises(TransientError, match="'sleeper' of topic 'slow' did not answer"):
            bus.request("slow", timeout=0.2)
        assert 0.15 < time.monotonic() - started < 2
        release.set()


def test_a_failing_responder_raises_its_error_to_the_requester_and_is_dead_lettered() -> None:
    def refuse(message: Message) -> None:
        raise UserError(f"cannot plan {message.payload['table']}")

    with MessageBus() as bus:
        bus.respond("plan", refuse, name="planner")
        with pytest.raises(UserError, match="cannot plan orders"):
            bus.request("plan", {"table": "orders"})
        # The responder's thread survived its failure: it answers the next request.
        assert bus.dead_count == 1
        letter = bus.dead_letters()[0]
    assert (letter.topic, letter.handler) == ("plan", "planner")
    assert letter.error == "UserError: cannot plan orders"


def test_a_failing_handler_is_dead_lettered_and_the_bus_keeps_delivering() -> None:
    register_secret("s3cr3t-bus-value")
    healthy: list[int] = []
    seen: list[DeadLetter] = []

    def flaky(message: Message) -> None:
        if message.payload["n"] % 3 == 0:
            raise ValueError(f"bad row {message.payload['n']} with s3cr3t-bus-value")

    with MessageBus(sink=seen.append) as bus:
        bus.subscribe("rows", flaky, name="flaky")
        bus.subscribe("rows", lambda m: healthy.append(m.payload["n"]), name="healthy")
        for n in range(10):
            bus.publish(
                "rows",
                {"n": n, "uri": "postgresql://u:pw123456@db/x", "auth": {"Password": "Lit3ral-pw"}},
                sender="t",
            )
        assert bus.flush(5)
        assert bus.dead_count == 4  # 0, 3, 6, 9
        letters = bus.dead_letters()
    assert healthy == list(range(10))  # the failing subscriber broke nothing for the other
    assert [json.loads(d.payload_json)["n"] for d in letters] == [0, 3, 6, 9]
    assert seen == letters and [d.seq for d in letters] == [1, 2, 3, 4]
    first = letters[0]
    assert (first.topic, first.handler, first.sender) == ("rows", "flaky", "t")
    assert first.error == "ValueError: bad row 0 with ***"
    assert "pw123456" not in first.payload_json and "s3cr3t" not in first.payload_json
    assert first.to_dict()["payload"]["uri"] == "postgresql://u:***@db/x"
    assert "Lit3ral-pw" not in first.payload_json  # a field named like a credential is masked
    assert first.to_dict()["payload"]["auth"] == "***"


def test_a_handler_raising_system_exit_is_dead_lettered_and_its_worker_lives_on() -> None:
    handled: list[int] = []

    def quits_once(message: Message) -> None:
        if message.payload == 0:
            raise SystemExit("a handler must not end its worker")
        handled.append(message.payload)

    with MessageBus(maxsize=2, timeout=2) as bus:
        bus.subscribe("t", quits_once, name="h")
        for n in range(5):
            bus.publish("t", n)
        assert bus.flush(5)
        assert [d.error for d in bus.dead_letters()] == [
            "SystemExit: a handler must not end its worker"
        ]
    assert handled == [1, 2, 3, 4]


def test_dead_letters_kept_in_memory_are_bounded_but_all_are_counted() -> None:
    def fail(message: Message) -> None:
        raise RuntimeError("no")

    with MessageBus(dead_letters=5) as bus:
        bus.subscribe("t", fail, name="f")
        for n in range(12):
            bus.publish("t", n)
        assert bus.flush(5)
        assert bus.dead_count == 12
        assert [json.loads(d.payload_json) for d in bus.dead_letters()] == list(range(7, 12))


def test_a_full_queue_blocks_the_publisher_then_errors_and_loses_nothing_below_the_bound() -> None:
    gate = threading.Event()
    taken: list[int] = []
    fast: list[int] = []

    def slow(message: Message) -> None:
        gate.wait(10)
        taken.append(message.payload)

    with MessageBus(maxsize=3) as bus:
        bus.subscribe("t", slow, name="slow")
        bus.subscribe("t", lambda m: fast.append(m.payload), name="fast")
        # The slow worker holds message 0 and its queue takes 1, 2, 3: all four are accepted.
        for n in range(4):
            bus.publish("t", n, timeout=2)
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            bus.publish("t", 4, timeout=0.3)
        waited = time.monotonic() - started
        assert 0.25 < waited < 2  # the publisher was held back, not failed at once
        assert "subscriber 'slow' of topic 't' is full (3 messages waiting)" in str(caught.value)
        # A blocked publisher goes on as soon as the slow subscriber takes a message.
        later = threading.Thread(target=bus.publish, args=("t", 5), kwargs={"timeout": 5})
        later.start()
        time.sleep(0.1)
        assert later.is_alive()  # still blocked: the queue is full
        gate.set()
        later.join(5)
        assert not later.is_alive()
        assert bus.flush(5)
    assert taken == [0, 1, 2, 3, 5]  # everything accepted arrived, in order
    assert fast == [0, 1, 2, 3, 5]


def test_every_queue_is_bounded() -> None:
    with pytest.raises(UserError, match="maxsize >= 1"):
        MessageBus(maxsize=0)


def test_close_drains_every_queue_then_refuses_new_messages() -> None:
    handled: list[int] = []

    def slowish(message: Message) -> None:
        time.sleep(0.01)
        handled.append(message.payload)

    bus = MessageBus(maxsize=100)
    bus.subscribe("t", slowish, name="slowish")
    for n in range(30):
        bus.publish("t", n)
    bus.close()
    assert handled == list(range(30))  # close waited for the queue to drain
    assert not any(t.name.startswith("aoetl-bus-t-") for t in threading.enumerate())
    with pytest.raises(FatalError, match="the bus is closed"):
        bus.publish("t", 99)
    bus.close()  # closing twice is harmless


def test_close_waits_for_a_publisher_held_back_by_a_full_queue() -> None:
    gate = threading.Event()
    taken: list[int] = []

    def slow(message: Message) -> None:
        gate.wait(10)
        taken.append(message.payload)

    bus = MessageBus(maxsize=1)
    bus.subscribe("t", slow, name="slow")
    bus.publish("t", 0)
    bus.publish("t", 1, timeout=2)  # the worker holds 0; 1 fills the queue
    blocked = threading.Thread(target=bus.publish, args=("t", 2), kwargs={"timeout": 10})
    blocked.start()
    time.sleep(0.1)
    closing = threading.Thread(target=bus.close, kwargs={"timeout": 10})
    closing.start()
    time.sleep(0.1)
    with pytest.raises(FatalError, match="closed"):
        bus.publish("t", 3)  # a new message is refused at once while the bus closes
    gate.set()
    blocked.join(5)
    closing.join(5)
    assert not closing.is_alive()
    assert taken == [0, 1, 2]  # the send under way when close began was delivered


def test_the_db_sink_stores_dead_messages_and_replay_skips_them(work: Path) -> None:
    home = work / ".aoetl"
    store = StateStore(home)

    def fail(message: Message) -> None:
        raise ValueError(f"cannot route {message.payload['table']}")

    with MessageBus(sink=dlq_sink(store, "run-bus-1")) as bus:
        bus.subscribe("route.rows", fail, name="router")
        bus.publish("route.rows", {"table": "orders"}, sender="orchestrator")
        bus.publish("route.rows", {"table": "orders"}, sender="orchestrator")  # same payload
        assert bus.flush(5)
    entries = store.dlq_entries("run-bus-1")
    assert len(entries) == 2  # two failures of one topic and handler are two entries
    first = entries[0]
    assert (first.kind, first.table, first.reason) == (
        "message",
        "route.rows",
        "ValueError: cannot route orders",
    )
    assert json.loads(str(first.payload)) == {"table": "orders"}
    assert first.file is not None and first.file.startswith("router#")
    assert json.loads(first.context or "{}")["sender"] == "orchestrator"

    # Replaying them does not crash: each is reported still open, with the reason.
    result = replay(store, entries, home=home)
    assert result.replayed == []
    assert set(result.still_bad) == {e.id for e in entries}
    assert "on topic 'route.rows'" in result.still_bad[entries[0].id]

    # As a new user would: the CLI lists the entry and its replay says why it stays open.
    listed = run_cli("dlq", "list", "--json", cwd=work)
    assert listed.returncode == 0, listed.stderr
    assert [e["kind"] for e in json.loads(listed.stdout)] == ["message", "message"]
    replayed = run_cli("dlq", "replay", str(first.id), cwd=work)
    assert replayed.returncode == 1
    assert "is not replayed" in replayed.stdout and "Traceback" not in replayed.stderr
