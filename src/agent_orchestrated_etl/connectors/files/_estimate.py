"""Row estimates of NDJSON and JSON files at discovery, from a file's first bytes and its
size: a file is never read whole for one (the CSV estimate is the same idea, in the source).
A file the first bytes hold whole is counted exactly."""

from __future__ import annotations

import json

_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


def ndjson_rows(head: bytes, size: int) -> int | None:
    """Records of an NDJSON file of ``size`` bytes starting with ``head``: its non-blank
    lines, or ``size`` over the mean length of the head's whole lines (None with none)."""
    if len(head) >= size:
        return sum(1 for line in head.splitlines() if line.strip())
    whole = head[: head.rfind(b"\n") + 1]
    lines = sum(1 for line in whole.splitlines() if line.strip())
    return round(size * lines / len(whole)) if lines else None


def json_array_rows(head: bytes, size: int) -> int | None:
    """Records of a JSON file of ``size`` bytes that is one array, from the records whole in
    ``head`` and the bytes they take; None for another document (records under a key), or
    when no record is whole in the head."""
    text = head.decode("utf-8", errors="ignore").lstrip(_SPACE + "\ufeff")
    if not text.startswith("["):
        return None
    at, count = 1, 0
    while True:
        at = _skip(text, at)
        if text.startswith("]", at):
            return count  # the array ends in the head: every record was counted
        try:
            _, at = _DECODER.raw_decode(text, at)
        except ValueError:  # a record cut by the end of the head
            break
        count += 1
        at = _skip(text, at)
        if text.startswith(",", at):
            at += 1
    if not count:
        return None
    return round(size * count / len(text[:at].encode()))


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at
