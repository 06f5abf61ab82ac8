"""Running a tool's work: off the event loop, errors as one line, results bounded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp_types import CallToolResult

from ..errors import UserError
from ._options import ServerOptions, is_document
from ._results import error_result, result


class Calls:
    """Runs each call's blocking work in a worker thread, so the server keeps answering
    (pings, progress, other calls) while a run loads; calls that write take turns."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self._writes = anyio.Lock()

    async def read(self, work: Callable[[], dict[str, Any]]) -> CallToolResult:
        """``work``'s result, bounded; any failure becomes the call's error result."""
        try:
            data = await anyio.to_thread.run_sync(work)
        except Exception as exc:
            return error_result(exc)
        return self.shown(data)

    async def write(self, work: Callable[[], dict[str, Any]]) -> CallToolResult:
        """As :meth:`read`, one write at a time (a second run waits for the first)."""
        async with self._writes:
            return await self.read(work)

    def writing(self) -> anyio.Lock:
        """Held while a write runs: enter it to take a turn."""
        return self._writes

    def shown(self, data: dict[str, Any], *, failed: bool = False) -> CallToolResult:
        shown = result(data, max_rows=self.options.max_rows, max_chars=self.options.max_chars)
        if failed:
            shown.is_error = True
        return shown

    def rows(self, rows: int | None, what: str, default: int | None = None) -> int:
        """``rows`` (not given: ``default``, or the server's --max-rows when that is less or
        no default is given), refused above --max-rows."""
        most = self.options.max_rows
        if rows is None:
            return min(default or most, most)
        if rows < 1 or rows > most:
            raise UserError(f"{what}={rows}: give 1 to {most} (this server's --max-rows)")
        return rows


def pipeline_document(text: str) -> dict[str, Any] | None:
    """The pipeline document ``text`` holds when it is YAML or JSON rather than a path."""
    if not is_document(text):
        return None
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(
            f"the pipeline text is not valid YAML{where}; give the YAML 'plan' returned, "
            f"or a pipeline file's path"
        ) from None
    if not isinstance(document, dict) or "source" not in document:
        raise UserError(
            "the pipeline text is not a pipeline (a mapping with 'source:'); give the YAML "
            "'plan' returned, or a pipeline file's path"
        )
    return document


def working_dir() -> Path:
    """Where relative paths in a call are read from: the server's working directory."""
    return Path.cwd()
