"""The exact bytes of CSV records DuckDB rejected, read back from their files.

DuckDB's rejects table keeps each rejected record as decoded text (``csv_line``), in which a
byte that is not UTF-8 becomes ``?`` and may swallow its neighbour (``café,9.90`` in latin-1
is kept as ``caf??9.90``). Replaying that text with the right encoding cannot work, so the
dead-letter queue stores the record's bytes, taken from the (decompressed) file itself.

Where they come from, measured on DuckDB 1.5.5:

* ``line_byte_position - 1`` is where ``csv_line`` starts. For a file read as UTF-8 it counts
  bytes of the file; ``csv_line`` may start with the rest of the previous terminator (the
  ``\\n`` of a ``\\r\\n``) or with blank lines, which are not part of the record.
* For latin-1 and UTF-16 files DuckDB transcodes to UTF-8 first and counts in that stream.
  Those decodings lose nothing, so encoding ``csv_line`` back gives the record's bytes exactly.
* ``csv_line`` ends before the record's terminator and holds every line break of a quoted
  field, so the record ends at the terminator after as many line breaks as it holds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

from .lines import Opener, open_bytes

_BREAK = re.compile(rb"\r\n|\r|\n")
_TEXT_BREAK = re.compile(r"\r\n|\r|\n")
_CHUNK = 1 << 16
# How DuckDB's own encodings re-encode without loss (UTF-16 files without a BOM are read as LE).
_LOSSLESS = {"latin-1": "latin-1", "utf-16": "utf-16-le"}


def record_bytes(
    path: str,
    encoding: str,
    records: list[tuple[int | None, str | None]],
    opener: Opener | None = None,
) -> list[bytes | None]:
    """The bytes of each (line_byte_position, csv_line) record of ``path``, in order.

    ``opener`` streams ``path`` where it is not a local file (an S3 object, read once,
    forward). None where the bytes cannot be told (a file that cannot be read back, a
    position that does not match its text); the caller then keeps DuckDB's text.
    """
    found: list[bytes | None] = [None] * len(records)
    lossless = _LOSSLESS.get(encoding.lower())
    if lossless is not None:
        for i, (_, text) in enumerate(records):
            if text is not None:
                found[i] = text.lstrip("\r\n").encode(lossless, errors="replace")
        return found
    if opener is None and not Path(path).is_file():
        return found
    order = sorted(
        (i for i, (pos, text) in enumerate(records) if pos and text is not None),
        key=lambda i: records[i][0] or 0,
    )
    with open_bytes(path, opener) as fh:  # decompressed, as DuckDB reads it
        cursor = _Cursor(fh)
        for i in order:
            pos, text = records[i]
            assert pos is not None and text is not None
            found[i] = cursor.record(pos - 1, text)
    return found


class _Cursor:
    """Reads a stream forward only (a compressed stream cannot seek back cheaply)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.buf = b""
        self.start = 0  # stream offset of buf[0]
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _skip_to(self, offset: int) -> bool:
        if offset < self.start:  # records overlap only if positions are wrong
            return False
        if self.start + len(self.buf) < offset and self.fh.seekable():
            self.fh.seek(offset)  # gzip decompresses its way there; a plain file jumps
            self.start, self.buf = offset, b""
        while self.start + len(self.buf) < offset:
            self.start += len(self.buf)
            self.buf = b""
            if not self._fill():
                return False
        self.buf = self.buf[offset - self.start :]
        self.start = offset
        return True

    def record(self, offset: int, text: str) -> bytes | None:
        """The record that starts at ``offset`` and reads as ``text``; None if it does not."""
        if not self._skip_to(offset):
            return None
        body = text.lstrip("\r\n")
        lead = len(text) - len(body)  # the tail of the last terminator, and blank lines
        breaks = len(_TEXT_BREAK.findall(body))
        while True:
            ends = list(_BREAK.finditer(self.buf, lead))
            # A "\r" at the end of the buffer may be half of a "\r\n": read on to know.
            complete = len(ends) > breaks and not (
                ends[breaks].group() == b"\r" and ends[breaks].end() == len(self.buf)
            )
            if complete or not self._fill():
                break
        # With fewer breaks than expected, this is the last record and has no terminator.
        raw = self.buf[lead : ends[breaks].start()] if len(ends) > breaks else self.buf[lead:]
        return raw if _same(raw, body) else None


def _same(raw: bytes, text: str) -> bool:
    """Whether ``raw`` reads as DuckDB's ``text`` up to where DuckDB replaced bytes by '?'."""
    decoded = raw.decode("utf-8", errors="replace")
    cut = next((i for i, ch in enumerate(text) if ch == "?" or ord(ch) > 127), len(text))
    cut = min(cut, 64)  # enough to tell a wrong position from the right one
    return decoded[:cut] == text[:cut] and (cut < len(text) or len(decoded) == len(text))
