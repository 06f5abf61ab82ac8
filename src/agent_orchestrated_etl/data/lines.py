"""Line-level repairs for text files that DuckDB's readers cannot take as they are.

A malformed NDJSON line, a byte-order mark, or a line longer than ``max_line_size`` stops
DuckDB's readers or makes them lose a neighbouring line. Such a file is read from a copy in
which each offending line is blanked, so every other line keeps its number, and the BOM is
dropped. The offending lines are returned with their bytes exactly as read, for quarantine.
Nothing here runs for a file that needs no repair.

Every function reads a local path, or, given an ``opener`` (a file system's ``open``), any
path that opener streams (an S3 object): the bytes are read in chunks, never held whole.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

BOM = b"\xef\xbb\xbf"
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_CHUNK = 1 << 20

Opener = Callable[[str], BinaryIO]
"""Opens a path as a stream of its stored bytes (``FileSystem.open``)."""


def compression(path: Path | str) -> str | None:
    """'gzip', 'zstd' or None, from the file name."""
    return COMPRESSIONS.get(PurePosixPath(str(path)).suffix.lower())


def open_bytes(path: Path | str, opener: Opener | None = None) -> IO[bytes]:
    """The file's bytes, decompressed; through ``opener`` when given, else from disk."""
    raw: BinaryIO = opener(str(path)) if opener is not None else open(path, "rb")  # noqa: SIM115
    kind = compression(path)
    if kind == "gzip":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
        stream.myfileobj = raw  # type: ignore[assignment]  # closed with the gzip stream
        return cast(IO[bytes], stream)
    if kind == "zstd":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return raw


def decompress_head(data: bytes, kind: str | None, size: int = 1 << 16) -> bytes:
    """Up to ``size`` bytes of what the first bytes of a compressed file decompress to.

    ``data`` may stop anywhere (a ranged read of the file's start); what it cannot hold is
    left out, and bytes that are not ``kind`` at all give b"".
    """
    if kind is None:
        return data[:size]
    try:
        if kind == "gzip":
            return zlib.decompressobj(wbits=31).decompress(data, size)
        if kind == "zstd":
            import zstandard

            # A stream reader stops at ``size``: a small head of zeros may expand a thousandfold.
            return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read(size)
    except (zlib.error, ValueError, ImportError):
        return b""
    except Exception as exc:  # zstandard.ZstdError has no public base class to name
        if type(exc).__name__ == "ZstdError":
            return b""
        raise
    return data[:size]


def head_bytes(path: Path | str, size: int = 1 << 16, opener: Opener | None = None) -> bytes:
    """The first ``size`` bytes of a file, decompressed."""
    with open_bytes(path, opener) as fh:
        return fh.read(size)


def has_bom(path: Path | str, opener: Opener | None = None) -> bool:
    """Whether a text file starts with a UTF-8 byte-order mark."""
    return head_bytes(path, 3, opener) == BOM


def long_lines(path: Path | str, limit: int, opener: Opener | None = None) -> dict[int, int]:
    """{line number: size in bytes} of every line longer than ``limit`` (newline excluded).

    Reads in chunks, so a line of any length costs no more memory than a chunk.
    """
    found: dict[int, int] = {}
    line, size = 1, 0
    with open_bytes(path, opener) as fh:
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


def repaired_copy(
    path: Path | str, blank: Iterable[int], folder: Path, opener: Opener | None = None
) -> tuple[Path, dict[int, bytes]]:
    """A copy of ``path`` under ``folder`` with the ``blank`` lines emptied and no BOM.

    Returns the copy (uncompressed) and the removed lines' bytes as read (without the line
    break), by line number.
    """
    drop = set(blank)
    removed: dict[int, bytes] = {}
    name = PurePosixPath(str(path)).name
    fd, copy = tempfile.mkstemp(prefix=name[:100] + ".", suffix=".repaired", dir=folder)
    with os.fdopen(fd, "wb") as out, open_bytes(path, opener) as src:
        for number, line in enumerate(src, 1):
            if number == 1 and line.startswith(BOM):
                line = line[len(BOM) :]
            if number in drop:
                body = line.rstrip(b"\r\n")
                removed[number] = body
                out.write(line[len(body) :])  # the line's own ending: CRLF files stay CRLF
            else:
                out.write(line)
    return Path(copy), removed


def line_bytes(
    path: Path | str, numbers: Iterable[int], opener: Opener | None = None
) -> dict[int, bytes]:
    """The bytes of the given lines, as read (without the line break)."""
    wanted = set(numbers)
    found: dict[int, bytes] = {}
    if not wanted:
        return found
    last = max(wanted)
    with open_bytes(path, opener) as src:
        for number, line in enumerate(src, 1):
            if number in wanted:
                found[number] = line.rstrip(b"\r\n")
            if number >= last:
                break
    return found
