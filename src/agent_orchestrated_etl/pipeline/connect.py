"""Connect to a source and discover it, inside the retry policy and the endpoint's breaker.

Constructing a database source connects, so a refused connection, a reset or a timeout
happens before any task runs. Connectors raise those as :class:`TransientError`; here they are
tried again with the pipeline's ``retries``, through the circuit breaker of the source's
endpoint (the same breaker its load tasks use), and every attempt is an event with the task id
``discover``. After the last attempt the run fails with one line naming the endpoint and the
attempts made.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..connectors import Resource, Source, locate, source_for
from ..engine import BREAKERS, CircuitBreaker, Event, EventBus, RunInterrupted, interrupts
from ..errors import TransientError, redact_uri
from ..resilience import RetryPolicy
from ..secrets import redact
from ..spec import PipelineSpec

DISCOVER = "discover"  # the task id of connect and discovery events


def discover_source(
    spec: PipelineSpec,
    *,
    home: Path | None = None,
    bus: EventBus | None = None,
    run_id: str = "",
) -> tuple[Source, list[Resource]]:
    """Connect to ``spec``'s source and discover it, retrying transient failures.

    Raises:
        TransientError: every attempt failed; the message names the endpoint and attempts.
        RunInterrupted: SIGINT or SIGTERM came while connecting or waiting to retry.
    """
    retries, settings = spec.retries, spec.breaker
    endpoint: str | None = None
    tried = 0

    def emit(kind: str, **data: object) -> None:
        if bus is not None:
            bus.publish(Event(kind, run_id, DISCOVER, dict(data)))

    def breaker(name: str | None) -> CircuitBreaker | None:
        if name is None:
            return None
        return BREAKERS.get(
            name,
            failure_threshold=settings.failure_threshold,
            cooldown_s=settings.cooldown_s,
            listener=lambda ep, old, new: emit("breaker", endpoint=ep, old=old, new=new),
        )

    def attempt() -> tuple[Source, list[Resource]]:
        nonlocal endpoint, tried
        if interrupts.interrupted() is not None:
            raise RunInterrupted("interrupted; nothing was committed")
        tried += 1
        # Resolving the URI's references is inside the attempt too: a secret store may be
        # down for a moment. The breaker is taken here rather than by the policy: a plugin
        # source may name its endpoint only once constructed (constructing it does not connect).
        where = locate(spec.source.uri, spec.source.base_dir)
        endpoint = endpoint or where.endpoint
        emit("connect_attempt", attempt=tried, endpoint=endpoint)
        gate = breaker(endpoint)
        if gate is not None:
            gate.before_call()
        try:
            source = source_for(spec.source, home=home, where=where)
            try:
                if endpoint is None and source.endpoint:
                    endpoint = source.endpoint
                    gate = breaker(endpoint)
                    if gate is not None:
                        gate.before_call()
                resources = source.discover()
            except BaseException:
                source.close()
                raise
        except TransientError:
            if gate is not None:
                gate.record_failure()
            raise
        if gate is not None:
            gate.record_success()
        return source, resources

    policy = RetryPolicy(retries.attempts, retries.base_s, retries.cap_s)
    try:
        return policy.call(
            attempt,
            sleep=_sleep,
            on_retry=lambda number, wait_s, error: emit(
                "connect_retried", attempt=number, wait_s=round(wait_s, 3), error=redact(str(error))
            ),
        )
    except TransientError as exc:
        server = endpoint or redact_uri(spec.source.uri)
        attempts = f"{tried} attempt{'' if tried == 1 else 's'}"
        raise TransientError(
            f"cannot connect to {server} after {attempts}: {_reason(exc)}; check that the "
            "server is running, or raise retries.attempts",
            uri=spec.source.uri,
        ) from exc


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
