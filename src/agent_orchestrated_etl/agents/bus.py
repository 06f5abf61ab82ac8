"""An in-process message bus between agents: publish/subscribe and request/response.

Every subscriber (and every responder) owns a bounded queue and a worker thread, so a slow
subscriber delays only itself and a failing one breaks nothing else:

* :meth:`MessageBus.publish` puts a :class:`Message` on the queue of every subscriber of its
  topic (and of ``"*"``). **Back-pressure:** while a subscriber's queue is full the publisher
  waits, up to ``timeout``, then gets a :class:`~..errors.TransientError` naming the topic and
  the subscriber; nothing below the bound is ever dropped.
* :meth:`MessageBus.request` sends a message to the one responder of its topic and waits for
  its reply; it raises when no responder is registered, when the reply does not come in
  time, and raises the responder's own error when the responder fails.
* A handler that raises does not stop its worker: the message becomes a :class:`DeadLetter`
  (topic, handler, redacted error, payload as redacted JSON), kept in the bus's bounded
  dead-letter queue, counted, and handed to the optional ``sink`` (:func:`dlq_sink` stores
  them in the state DB's DLQ, where ``aoetl dlq list`` shows them).

:meth:`MessageBus.close` stops taking messages, lets every worker drain its queue, and stops
the workers; the bus is a context manager that closes on exit.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import MASK, FatalError, TransientError, UserError, redact
from ..state import DlqEntry, StateStore

log = logging.getLogger(__name__)

ANY_TOPIC = "*"  # a subscriber of "*" receives every published message
PAYLOAD_LIMIT = 65_536  # characters of a dead letter's payload kept; memory and the DB stay small


@dataclass(frozen=True)
class Message:
    """One message: what it is about (``topic``), its ``payload``, who sent it; ``reply_to``
    is the id of the request a reply answers."""

    topic: str
    payload: Any = None
    sender: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    reply_to: str | None = None


Handler = Callable[[Message], Any]


@dataclass(frozen=True)
class DeadLetter:
    """A message whose handler raised, with the error; ``seq`` counts the bus's dead letters."""

    seq: int
    topic: str
    handler: str
    error: str  # redacted
    payload_json: str  # redacted JSON of the payload, cut to PAYLOAD_LIMIT
    message_id: str
    sender: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "topic": self.topic,
            "handler": self.handler,
            "error": self.error,
            "payload": json.loads(self.payload_json),
            "message_id": self.message_id,
            "sender": self.sender,
            "at": self.at,
        }


# A payload's fields whose names say they hold a credential: their values are masked whole.
_CREDENTIAL_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|auth|credential|private[-_]?key|cookie",
    re.IGNORECASE,
)


def _masked_fields(value: Any) -> Any:
    """``value`` with the values of credential-named fields masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: MASK
            if isinstance(k, str) and _CREDENTIAL_KEY.search(k) and value[k] not in (None, "")
            else _masked_fields(value[k])
            for k in value
        }
    if isinstance(value, list | tuple):
        return [_masked_fields(v) for v in value]
    return value


def _payload_json(payload: Any) -> str:
    """``payload`` as JSON with secrets masked: registered secret values and passwords in URLs
    (by :func:`redact`) and the values of fields named like credentials; anything not
    JSON-able is shown as its text."""
    text = redact(json.dumps(_masked_fields(payload), default=repr, sort_keys=True))
    if len(text) > PAYLOAD_LIMIT:
        text = json.dumps({"truncated_from_chars": len(text), "head": text[:PAYLOAD_LIMIT]})
    return text


def _error_text(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {exc}".strip())


class _Reply:
    """The slot a request waits on: the responder's result or error."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


_STOP = object()  # a worker ends when it takes this from its queue


class _Worker:
    """One subscriber or responder: a named handler, its bounded queue, its thread."""

    def __init__(self, bus: MessageBus, topic: str, name: str, handler: Handler, size: int) -> None:
        self.bus = bus
        self.topic = topic
        self.name = name
        self.handler = handler
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self.thread = threading.Thread(
            target=self._loop, name=f"aoetl-bus-{topic}-{name}", daemon=True
        )
        self.thread.start()

    def put(self, item: Any, deadline: float) -> None:
        try:
            self.queue.put(item, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            raise TransientError(
                f"message bus: subscriber {self.name!r} of topic {self.topic!r} is full "
                f"({self.queue.maxsize} messages waiting) and did not take one in time; it is "
                "too slow for the publisher: try again later, or give the bus a longer "
                "timeout or a larger queue"
            ) from None

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is _STOP:
                    return
                message, reply = item
                try:
                    value = self.handler(message)
                except BaseException as exc:
                    # Any failure of a handler, SystemExit included, is its message's dead
                    # letter; the worker lives on, so later messages are still handled.
                    if reply is not None:
                        reply.error = exc
                        reply.done.set()
                    self.bus._bury(message, self.name, exc)
                else:
                    if reply is not None:
                        reply.value = value
                        reply.done.set()
            finally:
                self.queue.task_done()


def _name_of(handler: Handler) -> str:
    return str(getattr(handler, "__qualname__", None) or type(handler).__name__)


class MessageBus:
    """The bus of one run (or one process): topics, subscribers, responders, dead letters.

    ``maxsize`` bounds every queue; ``timeout`` is how long a publisher waits on a full queue
    and a requester on its reply unless the call says otherwise; ``dead_letters`` bounds the
    dead letters kept in memory (all are counted and all go to ``sink``).
    """

    def __init__(
        self,
        *,
        maxsize: int = 1000,
        timeout: float = 30.0,
        dead_letters: int = 1000,
        sink: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise UserError(f"a message bus needs maxsize >= 1, not {maxsize}: queues are bounded")
        self.maxsize = maxsize
        self.timeout = timeout
        self._sink = sink
        self._subscribers: dict[str, list[_Worker]] = {}
        self._responders: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Sends under way: close() waits for them, so none lands behind a worker's stop.
        self._sending = 0
        self._sent = threading.Condition(self._lock)
        self._letters: deque[DeadLetter] = deque(maxlen=dead_letters)
        self._dead_seq = itertools.count(1)
        self.dead_count = 0

    # -- registration ---------------------------------------------------------------------------
    def subscribe(self, topic: str, handler: Handler, *, name: str | None = None) -> str:
        """Call ``handler`` with every message published on ``topic`` (``"*"``: every topic),
        in order, on a thread of its own. Returns the subscriber's name."""
        name = name or _name_of(handler)
        with self._lock:
            self._open()
            workers = self._subscribers.setdefault(topic, [])
            if any(w.name == name for w in workers):
                raise UserError(
                    f"topic {topic!r} already has a subscriber named {name!r}; give this one "
                    "another name (subscribe(..., name=...))"
                )
            workers.append(_Worker(self, topic, name, handler, self.maxsize))
        return name

    def respond(self, topic: str, handler: Handler, *, name: str | None = None) -> str:
        """Make ``handler`` the one responder of ``topic``: what it returns answers a request."""
        name = name or _name_of(handler)
        with self._lock:
            self._open()
            if topic in self._responders:
                raise UserError(
                    f"topic {topic!r} already has a responder ({self._responders[topic].name}); "
                    "a request gets one answer, so register one responder per topic"
                )
            self._responders[topic] = _Worker(self, topic, name, handler, self.maxsize)
        return name

    # -- sending --------------------------------------------------------------------------------
    def publish(
        self, topic: str, payload: Any = None, *, sender: str = "", timeout: float | None = None
    ) -> int:
        """Send ``payload`` to every subscriber of ``topic``; the number of subscribers.

        Blocks while a subscriber's queue is full, up to ``timeout`` in all; then raises a
        TransientError naming the topic and that subscriber (those before it have the message).
        """
        message = Message(topic, payload, sender)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._lock:
            self._open()
            workers = [*self._subscribers.get(topic, ()), *self._subscribers.get(ANY_TOPIC, ())]
            self._sending += 1
        try:
            for worker in workers:
                worker.put((message, None), deadline)
        finally:
            self._sent_one()
        return len(workers)

    def request(
        self, topic: str, payload: Any = None, *, sender: str = "", timeout: float | None = None
    ) -> Any:
        """Ask the responder of ``topic`` and return its answer, waiting up to ``timeout``.

        Raises UserError when nobody responds to ``topic``, TransientError when the answer
        does not come in time, and the responder's own error when it fails.
        """
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._lock:
            self._open()
            worker = self._responders.get(topic)
            known = sorted(self._responders)
            if worker is not None:
                self._sending += 1
        if worker is None:
            raise UserError(
                f"message bus: no agent responds to {topic!r} (topics with a responder: "
                f"{', '.join(known) or 'none'}); register one with bus.respond({topic!r}, ...)"
            )
        message = Message(topic, payload, sender)
        reply = _Reply()
        try:
            worker.put((message, reply), deadline)
        finally:
            self._sent_one()
        if not reply.done.wait(max(0.0, deadline - time.monotonic())):
            raise TransientError(
                f"message bus: responder {worker.name!r} of topic {topic!r} did not answer "
                f"within {wait:g} s; try again, or give the request a longer timeout"
            )
        if reply.error is not None:
            raise reply.error
        return reply.value

    def _sent_one(self) -> None:
        with self._lock:
            self._sending -= 1
            if not self._sending:
                self._sent.notify_all()

    # -- dead letters ---------------------------------------------------------------------------
    def _bury(self, message: Message, handler: str, exc: BaseException) -> None:
        letter = DeadLetter(
            seq=next(self._dead_seq),
            topic=message.topic,
            handler=handler,
            error=_error_text(exc),
            payload_json=_payload_json(message.payload),
            message_id=message.id,
            sender=message.sender,
        )
        with self._lock:
            self._letters.append(letter)
            self.dead_count += 1
        log.warning("message bus: %s failed on %s: %s", handler, message.topic, letter.error)
        if self._sink is not None:
            try:
                self._sink(letter)
            except Exception as sink_error:  # the letter is still kept in memory
                log.error("message bus: the dead-letter sink failed: %s", _error_text(sink_error))

    def dead_letters(self) -> list[DeadLetter]:
        """The dead letters kept (the last ``dead_letters`` of them), oldest first."""
        with self._lock:
            return list(self._letters)

    # -- life -----------------------------------------------------------------------------------
    def _open(self) -> None:
        if self._closed:
            raise FatalError("message bus: the bus is closed; it takes no more messages")

    def _workers(self) -> Iterator[_Worker]:
        for workers in self._subscribers.values():
            yield from workers
        yield from self._responders.values()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every message sent so far is handled; False if ``timeout`` ran out."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._lock:
            workers = list(self._workers())
        for worker in workers:
            with worker.queue.all_tasks_done:
                while worker.queue.unfinished_tasks:
                    left = deadline - time.monotonic()
                    if left <= 0 or not worker.queue.all_tasks_done.wait(left):
                        return False
        return True

    def close(self, timeout: float | None = None) -> None:
        """Take no more messages, let every worker handle what it has queued, stop them.

        A message sent from a handler while the bus closes is refused (and dead-lettered).
        A handler still busy after ``timeout`` is left to finish on its own (daemon) thread.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers())
            self._sent.wait_for(lambda: not self._sending, max(0.0, deadline - time.monotonic()))
        for worker in workers:
            try:
                worker.queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                log.warning("message bus: %s did not drain in time", worker.name)
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> MessageBus:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def dlq_sink(store: StateStore, run_id: str) -> Callable[[DeadLetter], None]:
    """A bus ``sink`` that stores each dead letter in ``store``'s DLQ under ``run_id``:
    ``kind`` 'message', the topic as its table, ``handler#message-id`` and the dead letter's
    number as where it came from, the redacted error as the reason, the payload as JSON.

    ``aoetl dlq list`` shows them; ``aoetl dlq replay`` reports them still open rather than
    sending a message again to an agent of a run that has ended.
    """

    def sink(letter: DeadLetter) -> None:
        context = {
            "message_id": letter.message_id,
            "handler": letter.handler,
            "sender": letter.sender,
            "at": letter.at,
        }
        store.add_dlq(
            run_id,
            [
                DlqEntry(
                    table=letter.topic,
                    file=f"{letter.handler}#{letter.message_id[:12]}",
                    line=letter.seq,
                    reason=letter.error,
                    payload=letter.payload_json,
                    kind="message",
                    context=json.dumps(context),
                )
            ],
        )

    return sink
