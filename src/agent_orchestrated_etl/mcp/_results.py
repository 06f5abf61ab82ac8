"""Tool results: secrets masked, bounded in rows and characters, errors as one line.

An agent reads every character a tool returns, so no result may flood its context: lists
are cut to ``max_rows`` items and long strings shortened, each cut by turns by a third more
until the JSON fits ``max_chars``; what was cut is listed under ``truncated``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from mcp_types import CallToolResult, TextContent

from ..errors import AoetlError, redact
from ..secrets import redact_obj

_LONGEST_TEXT = 4_000  # characters of one string value before it is shortened
_SHORTEST_TEXT = 80
_MAX_NOTES = 20
_LONGEST_ERROR = 1_000  # characters of an error line (below the least --max-chars)
_RECORD_FIELDS = 20  # a mapping with more keys than this (and than max_rows) is a collection
_STEP = 0.7  # each try keeps this share of the rows or of the characters the last one did
# Texts a caller passes back whole (a pipeline to run, a DAG file): never shortened.
WHOLE = frozenset({"pipeline_yaml", "dag_py"})


def result(data: dict[str, Any], *, max_rows: int, max_chars: int) -> CallToolResult:
    """``data`` as a tool result: the same JSON as structured content and as text."""
    shown, text = fit(redact_obj(data), max_rows=max_rows, max_chars=max_chars)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=shown)


def fit(data: dict[str, Any], *, max_rows: int, max_chars: int) -> tuple[dict[str, Any], str]:
    """``data`` cut until its compact JSON holds at most ``max_chars`` characters."""
    rows, longest = max_rows, _LONGEST_TEXT
    # Notes the tool made itself (e.g. query's rows left unread) come first, and stay.
    given = data.get("truncated")
    earlier = [str(n) for n in given] if isinstance(given, list | tuple) else []
    data = {k: v for k, v in data.items() if k != "truncated"}
    turn = 0
    while True:
        notes: list[str] = list(earlier)
        shown = _shrink(data, rows, longest, "", notes)
        if notes:  # one note per place: every item of a list is cut alike
            shown = {**shown, "truncated": list(dict.fromkeys(notes))[:_MAX_NOTES]}
        text = _dumps(shown)
        if len(text) <= max_chars:
            return shown, text
        if rows == 1 and longest == _SHORTEST_TEXT:
            return _gist(data, len(text), max_chars)
        # By turns, so a result of a few long texts keeps its items and a long list its texts.
        if (turn % 2 == 0 and rows > 1) or longest == _SHORTEST_TEXT:
            rows = max(1, int(rows * _STEP))
        else:
            longest = max(_SHORTEST_TEXT, int(longest * _STEP))
        turn += 1


def _gist(data: dict[str, Any], size: int, max_chars: int) -> tuple[dict[str, Any], str]:
    """What is left when nothing cut fits: the texts passed back whole (a pipeline's YAML),
    if they fit alone, and the names of every part left out."""
    note = (
        f"the result holds {size:,} characters even cut to one item a list, more than this "
        f"server's --max-chars {max_chars:,}: restart it with a larger one, or use the aoetl "
        "command line"
    )
    kept = {k: v for k, v in data.items() if k in WHOLE}
    shown = {**kept, "truncated": [note], "left_out": sorted(k for k in data if k not in kept)}
    text = _dumps(shown)
    if len(text) > max_chars:
        shown = {"truncated": [note], "left_out": sorted(data)}
        text = _dumps(shown)
    return shown, text


def _shrink(value: Any, rows: int, longest: int, where: str, notes: list[str]) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        # A mapping that is a collection (entry id -> reason, table -> result) is cut as a
        # list is; a record's few fields never are.
        keep = max(rows, _RECORD_FIELDS)
        if len(items) > keep:
            notes.append(f"{where or 'result'}: {keep:,} of {len(items):,} entries shown")
            items = items[:keep]
        return {
            str(k): _shrink(v, rows, longest, f"{where}.{k}" if where else str(k), notes)
            for k, v in items
        }
    if isinstance(value, list | tuple):
        if len(value) > rows:
            notes.append(f"{where or 'result'}: {rows:,} of {len(value):,} items shown")
        return [_shrink(v, rows, longest, f"{where}[]", notes) for v in value[:rows]]
    if isinstance(value, str) and len(value) > longest and where not in WHOLE:
        notes.append(f"{where or 'result'}: {longest:,} of {len(value):,} characters shown")
        return value[:longest] + "…"
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def error_result(exc: BaseException) -> CallToolResult:
    """The result of a failed call: the one line ``aoetl`` would print for ``exc``."""
    message = str(exc) if isinstance(exc, AoetlError) else f"{type(exc).__name__}: {exc}"
    text = "error: " + " ".join(redact(message).split())
    if len(text) > _LONGEST_ERROR:  # an echoed argument can be any length
        text = text[:_LONGEST_ERROR] + f"… ({len(text) - _LONGEST_ERROR:,} more characters)"
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
