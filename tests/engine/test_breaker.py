from __future__ import annotations

import pytest

from agent_orchestrated_etl.resilience.breaker import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        "api:443",
        failure_threshold=3,
        cooldown_s=10,
        clock=clock,
        listener=lambda ep, old, new: changes.append((old, new)),
    )
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(10)
    clock.now += 4
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_after == pytest.approx(6)
    clock.now += 6
    assert breaker.state == "half-open"
    breaker.before_call()  # the one trial call
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # a second caller waits while the trial runs
    breaker.record_success()
    assert breaker.state == "closed"
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]


def test_failed_trial_reopens_for_a_new_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("db:5432", failure_threshold=1, cooldown_s=5, clock=clock)
    breaker.before_call()
    breaker.record_failure()
    clock.now += 5
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 4.9
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now += 0.1
    assert breaker.state == "half-open"


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker("x", failure_threshold=2, cooldown_s=1, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_a_state_change_is_told_to_the_caller_that_made_it() -> None:
    """One breaker serves every run in the process; each run hears only its own changes."""
    registry = BreakerRegistry()
    first: list[tuple[str, str]] = []
    second: list[tuple[str, str]] = []
    breaker = registry.get("db:5432", failure_threshold=2, cooldown_s=60)
    assert registry.get("db:5432", failure_threshold=9, cooldown_s=1) is breaker
    breaker.before_call(lambda ep, old, new: second.append((old, new)))
    breaker.record_failure(lambda ep, old, new: second.append((old, new)))
    breaker.before_call(lambda ep, old, new: first.append((old, new)))
    breaker.record_failure(lambda ep, old, new: first.append((old, new)))  # the second failure
    assert first == [("closed", "open")] and second == []
