"""Several Arrow batch streams read at once, consumed as one.

A driver such as ADBC decodes its stream in C with the GIL released, so reading N key ranges on
N threads overlaps their network waits and decoding, while the engine consumes one stream.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

_DONE = object()


def concurrently(streams: list[Iterator[Any]], depth: int = 2) -> Iterator[Any]:
    """Yield the items of every stream as they arrive, each stream read on its own thread.

    At most ``depth`` items per stream wait in memory. The first exception a stream raises
    propagates here, after which the other streams stop. Closing the returned generator early
    (the consumer failed or was cancelled) stops every thread, and each stream's own ``finally``
    runs on its thread, so connections close either way.
    """
    if not streams:
        return
    items: queue.Queue[Any] = queue.Queue(maxsize=depth * len(streams))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def pump(stream: Iterator[Any]) -> None:
        try:
            for item in stream:
                if not put(item):
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            put(_DONE)

    threads = [
        threading.Thread(target=pump, args=(s,), name=f"aoetl-stream-{i}", daemon=True)
        for i, s in enumerate(streams)
    ]
    for thread in threads:
        thread.start()
    try:
        remaining = len(threads)
        while remaining:
            item = items.get()
            if item is _DONE:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()
