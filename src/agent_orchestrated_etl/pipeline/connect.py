"""Connect to a source and discover it, and to the target, inside the retry policy and the
endpoint's breaker.

Constructing a database source connects, so a refused connection, a reset or a timeout
happens before any task runs. Connectors raise those as :class:`TransientError`; here they are
tried again with the pipeline's ``retries``, through the circuit breaker of the source's
endpoint (the same breaker its load tasks use), and every attempt is an event with the task id
``discover``. After the last attempt the run fails with one line naming the endpoint and the
attempts made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..agents import Coordinator, coordinator_for
from ..agents.work import AnalyzeWork, analyze_need
from ..connectors import Destination, Resource, Source, destination_for, locate, source_for
from ..engine import BREAKERS, CircuitBreaker, Event, EventBus, RunInterrupted, interrupts
from ..errors import TransientError, redact_uri
from ..resilience import RetryPolicy
from ..secrets import redact
from ..spec import PipelineSpec

DISCOVER = "discover"  # the task id of the source's connect and discovery events
PLANNING = "plan"  # the task id of the decisions made while planning (the analyst's)
CONNECT = "connect"  # the task id of the target's connect events
T = TypeVar("T")


class _Connecting:
    """What connecting to one end of a pipeline shares across its attempts: the endpoint once
    known, the attempts made, the breaker and the events (task id ``task``)."""

    def __init__(self, spec: PipelineSpec, bus: EventBus | None, run_id: str, task: str) -> None:
        self.spec, self.bus, self.run_id, self.task = spec, bus, run_id, task
        self.endpoint: str | None = None
        self.tried = 0

    def emit(self, kind: str, **data: object) -> None:
        if self.bus is not None:
            self.bus.publish(Event(kind, self.run_id, self.task, dict(data)))

    def start(self, endpoint: str | None) -> CircuitBreaker | None:
        """Count an attempt at ``endpoint`` and let it through the endpoint's breaker."""
        if interrupts.interrupted() is not None:
            raise RunInterrupted("interrupted; nothing was committed")
        self.tried += 1
        self.endpoint = self.endpoint or endpoint
        self.emit("connect_attempt", attempt=self.tried, endpoint=self.endpoint)
        return self.gate(self.endpoint)

    def gate(self, endpoint: str | None) -> CircuitBreaker | None:
        if endpoint is None:
            return None
        settings = self.spec.breaker
        gate = BREAKERS.get(
            endpoint, failure_threshold=settings.failure_threshold, cooldown_s=settings.cooldown_s
        )
        gate.before_call(self.changed)
        return gate

    def changed(self, endpoint: str, old: str, new: str) -> None:
        """A breaker state change this connecting caused, as an event of its run."""
        self.emit("breaker", endpoint=endpoint, old=old, new=new)

    def run(self, attempt: Callable[[], T], uri: str) -> T:
        """``attempt()`` under the pipeline's retries; after the last, one line naming the
        endpoint (or the URI, password masked) and the attempts made."""
        retries = self.spec.retries
        policy = RetryPolicy(retries.attempts, retries.base_s, retries.cap_s)
        try:
            return policy.call(
                attempt,
                sleep=_sleep,
                on_retry=lambda number, wait_s, error: self.emit(
                    "connect_retried",
                    attempt=number,
                    wait_s=round(wait_s, 3),
                    error=redact(str(error)),
                ),
            )
        except TransientError as exc:
            server = self.endpoint or redact_uri(uri)
            attempts = f"{self.tried} attempt{'' if self.tried == 1 else 's'}"
            raise TransientError(
                f"cannot connect to {server} after {attempts}: {_reason(exc)}; check that the "
                "server is running, or raise retries.attempts",
                uri=uri,
            ) from exc


def _settle(
    connecting: _Connecting, gate: CircuitBreaker | None, failed: BaseException | None
) -> None:
    """Tell the breaker how the attempt went: only a transient failure counts against it."""
    if gate is None:
        return
    if failed is None:
        gate.record_success(connecting.changed)
    elif isinstance(failed, TransientError):
        gate.record_failure(connecting.changed)


def discover_source(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    bus: EventBus | None = None,
    run_id: str = "",
    coordinator: Coordinator | None = None,
) -> tuple[Source, list[Resource]]:
    """Connect to ``spec``'s source and have the agent the ``coordinator`` selects for
    ``analyze`` discover it, retrying transient failures.

    Raises:
        TransientError: every attempt failed; the message names the endpoint and attempts.
        RunInterrupted: SIGINT or SIGTERM came while connecting or waiting to retry.
    """
    connecting = _Connecting(spec, bus, run_id, DISCOVER)
    agents = coordinator if coordinator is not None else coordinator_for()

    def attempt() -> tuple[Source, list[Resource]]:
        # Resolving the URI's references is inside the attempt too: a secret store may be
        # down for a moment. A plugin source may name its endpoint only once constructed
        # (constructing it does not connect), so its breaker is taken then.
        where = locate(spec.source.uri, spec.source.base_dir)
        gate = connecting.start(where.endpoint)
        try:
            source = source_for(spec.source, home=home, where=where)
            try:
                if gate is None and source.endpoint:
                    connecting.endpoint = source.endpoint
                    gate = connecting.gate(source.endpoint)
                resources = agents.dispatch(
                    analyze_need(spec), AnalyzeWork(run_id, PLANNING, source)
                )
            except BaseException:
                source.close()
                raise
        except BaseException as exc:
            _settle(connecting, gate, exc)
            raise
        _settle(connecting, gate, None)
        return source, resources

    return connecting.run(attempt, spec.source.uri)


def open_destination(
    spec: PipelineSpec,
    run_id: str,
    *,
    home: Path,
    bus: EventBus | None = None,
) -> Destination:
    """The target, begun for ``run_id``: connecting inside the retry policy and the target
    endpoint's breaker, as :func:`discover_source` connects to the source (events with the
    task id ``connect``)."""
    connecting = _Connecting(spec, bus, run_id, CONNECT)

    def attempt() -> Destination:
        destination = destination_for(spec.target, home=home)
        try:
            gate = connecting.start(destination.endpoint)
        except BaseException:
            destination.close()
            raise
        try:
            destination.begin(run_id, spec.name)
        except BaseException as exc:
            _settle(connecting, gate, exc)
            destination.close()
            raise
        _settle(connecting, gate, None)
        return destination

    return connecting.run(attempt, spec.target.uri)


def _reason(exc: BaseException) -> str:
    """What the last attempt met, without the connector's own 'cannot connect to …:' and hint."""
    text = redact(str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if text.startswith("cannot connect to ") and ": " in text:
        text = text.split(": ", 1)[1]
    hint = text.rfind("; check ")
    return text[:hint] if hint > 0 else text


def _sleep(seconds: float) -> None:
    """Wait before the next attempt; an interrupt wakes it (the next attempt then stops)."""
    woken = threading.Event()
    forget = interrupts.on_interrupt(woken.set)
    try:
        woken.wait(seconds)
    finally:
        forget()
