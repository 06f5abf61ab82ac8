"""Process-wide interruption: SIGINT/SIGTERM reach every running Executor, whatever thread.

Python runs signal handlers in the main thread only, and a DuckDB query running there can
swallow the signal (the CSV sniffer does). So the CLI runs its command on another thread and
keeps the main thread free to handle signals; the handler calls :func:`interrupt`, which wakes
every Executor through the hooks they registered here.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

_lock = threading.Lock()
_hooks: dict[int, Callable[[], None]] = {}
_next = 0
_reason: str | None = None


def interrupt(reason: str) -> None:
    """Ask everything running to stop; hooks registered later fire at once."""
    global _reason
    with _lock:
        if _reason is not None:
            return
        _reason = reason
        hooks = list(_hooks.values())
    for hook in hooks:
        with contextlib.suppress(Exception):  # one failing hook must not stop the others
            hook()


def interrupted() -> str | None:
    """Why the process was interrupted, or None."""
    return _reason


def on_interrupt(hook: Callable[[], None]) -> Callable[[], None]:
    """Call ``hook`` on :func:`interrupt` (at once if it already happened); returns an undo."""
    global _next
    with _lock:
        _next += 1
        key = _next
        _hooks[key] = hook
        fire = _reason is not None
    if fire:
        hook()

    def remove() -> None:
        with _lock:
            _hooks.pop(key, None)

    return remove


def reset() -> None:
    """Forget an interruption (a long-lived process that handled one and goes on)."""
    global _reason
    with _lock:
        _reason = None
