"""Typed events on an in-process bus. The executor publishes; sinks (CLI, logs) subscribe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something that happened during a run.

    kind is one of: run_started, run_finished, task_started, task_finished, task_failed,
    task_retried, task_skipped, progress, warning (a source's, e.g. a widened column), anomaly.
    """

    kind: str
    run_id: str
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


Observer = Callable[[Event], None]


class EventBus:
    """Delivers each event to every subscriber, in order, from the publishing thread.

    ``scrub`` rewrites each event before delivery; the runner sets it to the secrets
    redaction filter, so no sink ever sees a secret value.
    """

    def __init__(self, scrub: Callable[[Event], Event] | None = None) -> None:
        self._observers: list[Observer] = []
        self._lock = threading.Lock()
        self.scrub = scrub

    def subscribe(self, observer: Observer) -> None:
        with self._lock:
            self._observers.append(observer)

    def publish(self, event: Event) -> None:
        with self._lock:
            observers = list(self._observers)
        if self.scrub is not None:
            event = self.scrub(event)
        for observer in observers:
            observer(event)
