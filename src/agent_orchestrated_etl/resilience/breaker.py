"""Circuit breakers, one per external endpoint, shared by every task in the process.

closed --(failure_threshold consecutive transient failures)--> open
open   --(cooldown_s elapsed)--> half-open: one trial call is let through
half-open --success--> closed;  --failure--> open again (a new cool-down)

Written here rather than taken from pybreaker: the executor needs an injectable clock (tests
drive it by hand), state changes as events on the bus, and an open circuit raised as a
TransientError whose ``retry_after`` tells the retry policy when the endpoint may be tried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..errors import TransientError

Clock = Callable[[], float]
Listener = Callable[[str, str, str], None]  # endpoint, old state, new state

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpenError(TransientError):
    """The endpoint's circuit is open: calls fail fast until the cool-down ends."""

    def __init__(self, endpoint: str, retry_in: float) -> None:
        super().__init__(
            f"circuit open for {endpoint} after repeated failures; "
            f"it will be tried again in {retry_in:.1f}s",
            retry_after=retry_in,
        )
        self.endpoint = endpoint


class CircuitBreaker:
    """The breaker of one endpoint. Thread-safe."""

    def __init__(
        self,
        endpoint: str,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Clock = time.monotonic,
        listener: Listener | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._listener = listener
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            self._maybe_half_open()
            return self._state

    def before_call(self, listener: Listener | None = None) -> None:
        """Raise CircuitOpenError if the call must not go out now.

        Each call may name the ``listener`` told of a state change it causes: one breaker
        serves every run in the process, and a change belongs to the run whose call made it.
        """
        with self._lock:
            self._maybe_half_open(listener)
            if self._state == OPEN:
                raise CircuitOpenError(self.endpoint, self._remaining())
            if self._state == HALF_OPEN:
                if self._trial_running:
                    raise CircuitOpenError(self.endpoint, self.cooldown_s)
                self._trial_running = True

    def record_success(self, listener: Listener | None = None) -> None:
        with self._lock:
            self._failures = 0
            self._trial_running = False
            self._set(CLOSED, listener)

    def record_failure(self, listener: Listener | None = None) -> None:
        with self._lock:
            self._trial_running = False
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                self._set(OPEN, listener)

    def _remaining(self) -> float:
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def _maybe_half_open(self, listener: Listener | None = None) -> None:
        if self._state == OPEN and self._remaining() <= 0:
            self._set(HALF_OPEN, listener)

    def _set(self, state: str, listener: Listener | None = None) -> None:
        old, self._state = self._state, state
        tell = listener or self._listener
        if old != state and tell is not None:
            tell(self.endpoint, old, state)


class BreakerRegistry:
    """The process-wide breakers, created on first use per endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, endpoint: str, *, failure_threshold: int, cooldown_s: float) -> CircuitBreaker:
        """The endpoint's breaker. Its settings are those of the first caller; state changes
        are told to the listener each call names (see :meth:`CircuitBreaker.before_call`)."""
        with self._lock:
            breaker = self._breakers.get(endpoint)
            if breaker is None:
                breaker = CircuitBreaker(
                    endpoint, failure_threshold=failure_threshold, cooldown_s=cooldown_s
                )
                self._breakers[endpoint] = breaker
            return breaker


BREAKERS = BreakerRegistry()
