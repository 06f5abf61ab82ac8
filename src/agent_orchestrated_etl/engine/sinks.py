"""Event sinks that need nothing but the event: a JSON Lines file."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import IO

from .events import Event


class JsonlSink:
    """Appends every event to a file, one JSON object per line, flushed as it goes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(asdict(event), default=str)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()
