"""A load's progress as events, while the destination writes it."""

from __future__ import annotations

import threading
from typing import Any

from ..connectors import Destination, Relation
from ..engine import Event, EventBus


class ProgressPoller:
    """Publishes a load's progress as events, every 0.2 s while it runs.

    Rows that stream in from a driver (ADBC, SQLAlchemy) are counted as they pass, against
    discovery's row estimate; otherwise the engine's own progress is read from the destination.
    """

    def __init__(
        self,
        destination: Destination,
        bus: EventBus,
        run_id: str,
        task_id: str,
        estimate: int | None = None,
        relation: Relation | None = None,
    ) -> None:
        self._probe = getattr(destination, "progress", None)
        self._estimate = estimate
        self._rows_read = relation.rows_read if relation is not None else None
        self._bus, self._run_id, self._task_id = bus, run_id, task_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProgressPoller:
        if self._probe is not None or self._rows_read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            data = self._streamed() if self._rows_read is not None else self._engine()
            if data is not None:
                self._bus.publish(Event("progress", self._run_id, self._task_id, data))

    def _streamed(self) -> dict[str, Any]:
        assert self._rows_read is not None
        rows = self._rows_read[0]
        # An estimate can be low: hold the bar short of full until the load says it is done.
        fraction = min(rows / self._estimate, 0.99) if self._estimate else 0.0
        return {"fraction": fraction, "rows": rows}

    def _engine(self) -> dict[str, Any] | None:
        assert self._probe is not None
        fraction = self._probe()
        if fraction < 0:
            return None
        data: dict[str, Any] = {"fraction": fraction}
        if self._estimate:
            data["rows_estimate"] = int(fraction * self._estimate)
        return data
