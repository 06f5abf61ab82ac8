"""Several streams read on threads and consumed as one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from agent_orchestrated_etl.connectors.sql._streams import concurrently


class Tracked:
    """A stream that records whether its cleanup ran and on which threads it was read."""

    def __init__(self, items: list[int], fail_after: int | None = None) -> None:
        self.items = items
        self.fail_after = fail_after
        self.closed = threading.Event()
        self.threads: set[str] = set()

    def __call__(self) -> Iterator[int]:
        try:
            for i, item in enumerate(self.items):
                self.threads.add(threading.current_thread().name)
                if self.fail_after is not None and i == self.fail_after:
                    raise ValueError(f"stream broke at {item}")
                yield item
        finally:
            self.closed.set()


def test_every_item_of_every_stream_arrives_once_read_on_other_threads() -> None:
    streams = [Tracked(list(range(k * 1000, k * 1000 + 500))) for k in range(4)]
    got = list(concurrently([s() for s in streams]))
    assert sorted(got) == sorted(i for s in streams for i in s.items)
    for s in streams:
        assert s.closed.is_set()
        assert threading.current_thread().name not in s.threads
    # Each stream keeps its own order.
    for s in streams:
        assert [i for i in got if i in set(s.items)] == s.items


def test_a_failing_stream_raises_its_error_and_the_others_are_closed() -> None:
    healthy = [Tracked(list(range(100_000))) for _ in range(2)]
    broken = Tracked([1, 2, 3, 4], fail_after=2)
    with pytest.raises(ValueError, match="stream broke at 3"):
        list(concurrently([healthy[0](), broken(), healthy[1]()]))
    for s in (*healthy, broken):
        assert s.closed.wait(5)


def test_a_consumer_that_stops_early_stops_every_thread() -> None:
    streams = [Tracked(list(range(100_000))) for _ in range(3)]
    merged = concurrently([s() for s in streams])
    assert next(merged) is not None
    merged.close()  # type: ignore[attr-defined]
    for s in streams:
        assert s.closed.wait(5)
    assert not [t for t in threading.enumerate() if t.name.startswith("aoetl-stream-")]


def test_no_streams_yield_nothing() -> None:
    assert list(concurrently([])) == []
