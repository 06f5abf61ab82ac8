"""The MonitorAgent: compares each finished run with the pipeline's recent history.

For the run's duration, rows loaded and rows rejected it takes the last ``history`` successful
runs of the same pipeline (at least ``min_history``) and emits an ``anomaly`` event when the
new value is more than ``threshold`` spreads from their mean. The spread is the standard
deviation, but never less than 10 % of the mean (plus a small absolute floor), so a perfectly
steady history does not turn every small wobble into an alarm.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..engine import Event, EventBus
from ..state import StateStore
from .base import Agent, Capability, Work

_FLOORS = {"duration_s": 0.5, "rows_loaded": 10.0, "rows_rejected": 5.0}


@dataclass
class MonitorWork(Work):
    """One event of a run for the monitor to watch."""

    event: Event


class MonitorAgent(Agent):
    """Subscribe it to a run's bus; it publishes ``anomaly`` events on the same bus."""

    name = "monitor"
    description = "watches every event of a run; flags runs far from their recent history"
    builtin = True
    capabilities = (Capability.of("monitor", "events", "anomalies"),)

    def __init__(
        self,
        store: StateStore | None,
        *,
        history: int = 10,
        min_history: int = 3,
        threshold: float = 3.0,
    ) -> None:
        self.store = store
        self.history = history
        self.min_history = min_history
        self.threshold = threshold
        self._bus: EventBus | None = None

    @classmethod
    def descriptor(cls) -> MonitorAgent:
        """The agent as ``aoetl agents`` lists it: it watches no store."""
        return cls(None)

    def handle(self, work: Work) -> None:
        if not isinstance(work, MonitorWork):
            raise TypeError(f"agent monitor handles MonitorWork, not {type(work).__name__}")
        self.observe(work.event)

    def attach(self, bus: EventBus) -> MonitorAgent:
        self._bus = bus
        bus.subscribe(self.observe)
        return self

    def observe(self, event: Event) -> None:
        if self.store is None:
            return
        if event.kind != "run_finished" or event.data.get("status") != "success":
            return
        pipeline = str(event.data.get("pipeline"))
        past = self.store.recent_successes(pipeline, exclude=event.run_id, limit=self.history)
        if len(past) < self.min_history:
            return
        tables = event.data.get("tables", {})
        current = {
            "duration_s": float(event.data.get("duration_s", 0.0)),
            "rows_loaded": float(sum(t["rows_loaded"] for t in tables.values())),
            "rows_rejected": float(sum(t["rows_rejected"] for t in tables.values())),
        }
        previous = {
            "duration_s": [r.duration_s or 0.0 for r in past],
            "rows_loaded": [float(r.rows_loaded) for r in past],
            "rows_rejected": [float(r.rows_rejected) for r in past],
        }
        for metric, value in current.items():
            values = previous[metric]
            mean = statistics.fmean(values)
            spread = max(statistics.pstdev(values), 0.1 * abs(mean), _FLOORS[metric])
            score = (value - mean) / spread
            if abs(score) > self.threshold and self._bus is not None:
                direction = "above" if score > 0 else "below"
                self._bus.publish(
                    Event(
                        "anomaly",
                        event.run_id,
                        data={
                            "metric": metric,
                            "value": value,
                            "mean": round(mean, 4),
                            "score": round(score, 2),
                            "message": f"{metric} = {value:g} is {abs(score):.1f} spreads "
                            f"{direction} the mean of the last {len(values)} runs ({mean:g})",
                        },
                    )
                )
