"""Signals and the way out of the process: exit 130 within 2 s, and never a crash at exit.

The command runs on a worker thread and the main thread only waits, so SIGINT and SIGTERM are
handled at once whatever the command is doing: a DuckDB query on the main thread would swallow
them (its CSV sniffer does) or turn them into a RuntimeError. The handler interrupts the
Executor (whose cancel tokens interrupt DuckDB), then gives the command ``GRACE_S`` to stop
cleanly and record the run as interrupted. A command still busy after that (a long DuckDB
statement that checks for interrupts rarely) is ended with ``os._exit``: every load is staged
and committed atomically, so this is as safe for the target as ``kill -9``.

At exit, a DuckDB worker thread can still be inside a ``python:`` step's function, called
back from a query that was interrupted. If the interpreter finalised under it, the thread
would abort the process (``Fatal Python error: PyGILState_Release``, exit 134). So the exit
waits for such threads to leave Python, and skips finalisation if they do not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

GRACE_S = 1.2  # from the signal to the exit, leaving margin under the 2 s users are promised
EXIT_WAIT_S = 5.0  # how long a normal exit waits for callbacks still running in user code

_deadline: float | None = None
_STARTED_AT = time.time()  # imported as the command starts: its runs finished after this


class _Gate:
    """stdout, with a gate the hard exit closes so the command cannot print after it.

    Without it, a command that finished just as the grace ran out printed its --json result
    while the hard exit printed one too. Writes are whole (Rich writes a render at once), and
    the lock makes closing the gate and a write exclusive.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._open = True
        self.written = 0

    def write(self, text: str) -> int:
        with self._lock:
            if self._open:
                self.written += len(text)
                self._stream.write(text)
            return len(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def close_gate(self) -> Any:
        """Stop the command's output; the stream underneath, for the last words."""
        with self._lock:
            self._open = False
            self._stream.flush()
        return self._stream

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno… as the real stream
        return getattr(self._stream, name)


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (call as early as the process can)."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if not isinstance(sys.stdout, _Gate):
        sys.stdout = _Gate(sys.stdout)


def close_stdout() -> tuple[Any, bool]:
    """Close the command's stdout: (the real stream, whether the command printed anything)."""
    gate = sys.stdout
    if isinstance(gate, _Gate):
        return gate.close_gate(), gate.written > 0
    return gate, True


def run_guarded(body: Callable[[], int], on_hard_exit: Callable[[], None]) -> NoReturn:
    """Run ``body`` (which returns an exit code) on a worker thread; exit with its code.

    ``on_hard_exit`` says the run was cut short, when the grace after a signal runs out.
    """
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(body()), name="aoetl-command", daemon=True
    )
    worker.start()
    while worker.is_alive():
        worker.join(0.05)  # short waits: the signal handler runs between them
        if _deadline is not None and time.monotonic() > _deadline:
            on_hard_exit()
            _hard_exit(130)
    code = result[0] if result else 1
    _wait_for_callbacks(_deadline or time.monotonic() + EXIT_WAIT_S, code)
    sys.exit(code)


def _on_signal(signum: int, frame: object) -> None:
    global _deadline
    if _deadline is not None:  # a second signal: the user does not want to wait
        _hard_exit(130)
    _deadline = time.monotonic() + GRACE_S
    # Imported here: it brings the engine, which the commands that never run one do not need.
    from ..engine import interrupts

    interrupts.interrupt(f"interrupted by {signal.Signals(signum).name}")


def _busy_threads() -> list[int]:
    """Threads running Python that Python did not start: an engine thread calling back into
    a generator or a user's function. (Python's own threads are joined or stopped safely.)"""
    me = threading.get_ident()
    started = {t.ident for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    return [i for i in sys._current_frames() if i != me and i not in started]


def _wait_for_callbacks(deadline: float, code: int) -> None:
    """Let engine threads leave Python before the interpreter finalises; else skip it."""
    while _busy_threads():
        if time.monotonic() > deadline:
            _hard_exit(code)
        time.sleep(0.02)
    # A thread that left its last frame may still be releasing its thread state.
    time.sleep(0.005)
    if _busy_threads():
        _hard_exit(code)


def _hard_exit(code: int) -> NoReturn:
    """Exit without finalising the interpreter: flush what was printed, then go."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def mark_interrupted(home: Path) -> list[dict[str, object]]:
    """Record this process's unfinished runs as interrupted; its runs' results, as --json has
    them (a run the command finished itself as it was cut short keeps its own record).

    Bounded: the process is on its way out, and the state database may be busy. A run left
    unmarked (a PostgreSQL store that did not answer in time) stays 'running' until the next
    ``mark_dead_runs`` on this host, which marks it 'killed'.
    """
    from .. import settings

    # Nothing recorded yet, unless the state is in a shared database.
    if not settings.state_url() and not (home / "state.db").exists():
        return []
    marked: list[dict[str, object]] = []

    def mark() -> None:
        from ..engine import RunResult
        from ..state import StateStore

        store = StateStore(home)
        for record in store.process_runs(since=_STARTED_AT):
            if record.status != "running":  # the command recorded it itself, just in time
                marked.append(
                    RunResult(
                        record.run_id,
                        record.pipeline,
                        record.status,
                        record.duration_s or 0.0,
                        error=record.error,
                    ).to_dict()
                )
                continue
            result = RunResult(
                record.run_id,
                record.pipeline,
                "interrupted",
                time.time() - record.started_at,
                error="interrupted; nothing was committed",
                exit_code=130,
                error_kind="transient",  # as the run itself reports an interrupt
            ).to_dict()
            store.finish_run(
                record.run_id,
                status="interrupted",
                duration_s=float(result["duration_s"]),
                rows_loaded=0,
                rows_rejected=0,
                error=str(result["error"]),
                result=result,
            )
            marked.append(result)

    marker = threading.Thread(target=mark, daemon=True)
    marker.start()
    marker.join(0.4)
    return marked
