"""The retry policy: exponential backoff with full jitter (tenacity), honouring Retry-After.

One policy serves every level: the engine retries a task with it, and a connector retries one
request, page or connection attempt with it. Only :class:`TransientError` is retried; every
other error passes through at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ..errors import TransientError
from .breaker import CircuitBreaker, Listener

T = TypeVar("T")

# attempt number (1-based), seconds until the next attempt, the error that ended this one
OnRetry = Callable[[int, float, BaseException], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try again.

    Attributes:
        attempts: tries in all, the first included.
        base_s: the first backoff ceiling; each later one doubles, up to ``cap_s``.
        cap_s: the largest wait, also the most a Retry-After is honoured for.
    """

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 30.0

    def wait_s(self, state: RetryCallState) -> float:
        """Seconds before the next attempt: the remote's Retry-After, else full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(exc.retry_after, self.cap_s)
        jitter = wait_random_exponential(multiplier=self.base_s, max=self.cap_s)
        return float(jitter(state))

    def call(
        self,
        fn: Callable[[], T],
        *,
        breaker: CircuitBreaker | None = None,
        on_breaker: Listener | None = None,
        sleep: Callable[[float], None] | None = None,
        on_attempt: Callable[[int], None] | None = None,
        on_retry: OnRetry | None = None,
    ) -> T:
        """``fn()``, tried again after each TransientError until ``attempts`` are used.

        With ``breaker``, every attempt goes through it: an open circuit fails fast (itself a
        TransientError whose retry_after is the rest of the cool-down); ``on_breaker`` hears
        of the state changes these attempts cause. ``sleep`` lets a
        caller wake early on cancel; ``on_attempt`` and ``on_retry`` report progress.
        """
        number = 0

        def attempt() -> T:
            nonlocal number
            number += 1
            if on_attempt is not None:
                on_attempt(number)
            if breaker is not None:
                breaker.before_call(on_breaker)
            try:
                result = fn()
            except TransientError:
                if breaker is not None:
                    breaker.record_failure(on_breaker)
                raise
            if breaker is not None:
                breaker.record_success(on_breaker)
            return result

        # The first attempt runs bare: most calls succeed at once, and tenacity's machinery
        # costs more than a fast request. A failure is replayed as tenacity's first attempt,
        # so the attempt count, the waits and the callbacks are exactly the loop's.
        first: TransientError | None = None
        try:
            return attempt()
        except TransientError as exc:
            if self.attempts <= 1:
                raise
            first = exc

        def replay() -> T:
            nonlocal first
            if first is not None:
                error, first = first, None
                raise error
            return attempt()

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                error = state.outcome.exception()
                assert error is not None
                on_retry(state.attempt_number, state.upcoming_sleep, error)

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait_s,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
            before_sleep=before_sleep,
            sleep=sleep or time.sleep,
        )
        return retrying(replay)
