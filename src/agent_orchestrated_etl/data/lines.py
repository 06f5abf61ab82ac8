"""Line-level repairs for text files that DuckDB's readers cannot take as they are.

A malformed NDJSON line, a byte-order mark, or a line longer than ``max_line_size`` stops
DuckDB's readers or makes them lose a neighbouring line. Such a file is read from a copy in
which each offending line is blanked, so every other line keeps its number, and the BOM is
dropped. The offending lines are returned with their bytes exactly as read, for quarantine.
Nothing here runs for a file that needs no repair.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

BOM = b"\xef\xbb\xbf"
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_CHUNK = 1 << 20


def compression(path: Path) -> str | None:
    """'gzip', 'zstd' or None, from the file name."""
    return COMPRESSIONS.get(path.suffix.lower())


def open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed."""
    kind = compression(path)
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "zstd":
        import io

        import zstandard

        raw = path.open("rb")
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return path.open("rb")


def head_bytes(path: Path, size: int = 1 << 16) -> bytes:
    """The first ``size`` bytes of a file, decompressed."""
    with open_bytes(path) as fh:
        return fh.read(size)


def has_bom(path: Path) -> bool:
    """Whether a text file starts with a UTF-8 byte-order mark."""
    return head_bytes(path, 3) == BOM


def long_lines(path: Path, limit: int) -> dict[int, int]:
    """{line number: size in bytes} of every line longer than ``limit`` (newline excluded).

    Reads in chunks, so a line of any length costs no more memory than a chunk.
    """
    found: dict[int, int] = {}
    line, size = 1, 0
    with open_bytes(path) as fh:
        while chunk := fh.read(_CHUNK):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                size += end - start
                if size > limit:
                    found[line] = size
                line, size, start = line + 1, 0, end + 1
            size += len(chunk) - start
    if size > limit:
        found[line] = size
    return found


def repaired_copy(path: Path, blank: Iterable[int], folder: Path) -> tuple[Path, dict[int, bytes]]:
    """A copy of ``path`` under ``folder`` with the ``blank`` lines emptied and no BOM.

    Returns the copy (uncompressed) and the removed lines' bytes as read (without the line
    break), by line number.
    """
    drop = set(blank)
    removed: dict[int, bytes] = {}
    fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".repaired", dir=folder)
    with os.fdopen(fd, "wb") as out, open_bytes(path) as src:
        for number, line in enumerate(src, 1):
            if number == 1 and line.startswith(BOM):
                line = line[len(BOM) :]
            if number in drop:
                body = line.rstrip(b"\r\n")
                removed[number] = body
                out.write(line[len(body) :])  # the line's own ending: CRLF files stay CRLF
            else:
                out.write(line)
    return Path(name), removed


def line_bytes(path: Path, numbers: Iterable[int]) -> dict[int, bytes]:
    """The bytes of the given lines, as read (without the line break)."""
    wanted = set(numbers)
    found: dict[int, bytes] = {}
    if not wanted:
        return found
    last = max(wanted)
    with open_bytes(path) as src:
        for number, line in enumerate(src, 1):
            if number in wanted:
                found[number] = line.rstrip(b"\r\n")
            if number >= last:
                break
    return found
