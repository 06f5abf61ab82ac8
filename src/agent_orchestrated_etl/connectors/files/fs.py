"""The filesystem seam of the file source: local paths and S3 objects, listed and read alike.

The file source never touches ``os`` or boto3 itself: it asks a :class:`FileSystem` for the
files a source names (:meth:`~FileSystem.list`), for bytes of one (:meth:`~FileSystem.head`,
:meth:`~FileSystem.read_range`, :meth:`~FileSystem.open`), and for the SQL a DuckDB
connection runs before it can read them (:meth:`~FileSystem.prelude`). DuckDB reads the
``FileInfo.path`` strings itself: a local path, or ``s3://bucket/key`` through httpfs, which
streams ranges of an object and never holds it whole.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from ...errors import SourceNotFoundError

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class FileInfo:
    """One file (or object) a source names.

    Attributes:
        path: what DuckDB reads: a local path, or s3://bucket/key.
        size: bytes.
        modified: the modification time, in UTC.
        version: what changes when the content does: size and mtime for a local file, the
            ETag for an S3 object (source fingerprints are made of it).
    """

    path: str
    size: int
    modified: dt.datetime
    version: str

    @property
    def name(self) -> str:
        """The last part of the path (the object key's last segment)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


class FileSystem(Protocol):
    """Where a file source's files live."""

    scheme: str
    """'file' or 's3'."""

    endpoint: str | None
    """host:port of the store (None for local files): it keys the circuit breaker."""

    @property
    def listed_at(self) -> dt.datetime | None:
        """The store's clock when the last :meth:`list` began (None before one): every file
        finished before then is in that listing. An ``_object_modified`` cursor reads only
        files modified a settle window before it (see ``_objects.settled``)."""
        ...

    def list(self, uri: str) -> list[FileInfo]:
        """The files ``uri`` names (a file, a folder or prefix, or a glob), sorted by path;
        a file with any segment below the named folder or prefix starting with '.' or '_'
        is skipped (see :func:`hidden`).

        Raises:
            SourceNotFoundError: nothing is there, or it cannot be listed.
        """
        ...

    def head(self, path: str, size: int = 65_536) -> bytes:
        """The first ``size`` bytes of a file (fewer if it is shorter), as stored (still
        compressed)."""
        ...

    def read_range(self, path: str, start: int, length: int) -> bytes:
        """``length`` bytes from offset ``start`` (fewer at the end), as stored."""
        ...

    def open(self, path: str) -> BinaryIO:
        """The file as a stream of its stored bytes, read in chunks (never held whole)."""
        ...

    def prelude(self) -> tuple[str, ...]:
        """SQL a DuckDB connection runs before it reads these paths (empty for local files).
        It may hold credentials: run it, never log it."""
        ...

    def local(self, path: str, scratch: Path) -> Path:
        """The file as a local path: itself, or a copy streamed into ``scratch`` (for the
        rare passes that need a real file, such as repairing lines)."""
        ...


class LocalFS:
    """Files on this machine."""

    scheme = "file"
    endpoint: str | None = None
    listed_at: dt.datetime | None = None

    def list(self, uri: str) -> list[FileInfo]:
        self.listed_at = dt.datetime.now(dt.UTC)
        raw = os.path.expanduser(uri)
        if GLOB_CHARS & set(raw):
            found = [Path(p) for p in glob.glob(raw, recursive=True)]
            base = Path(glob_base(raw) or ".")
        elif Path(raw).is_dir():
            found = list(Path(raw).rglob("*"))
            base = Path(raw)
        elif Path(raw).is_file():
            return [self.info(Path(raw))]
        else:
            raise SourceNotFoundError(
                f"source {shown(uri)} does not exist; give a file, a directory or a glob"
            )
        files = sorted(p for p in found if p.is_file() and not _hidden_below(p, base))
        if not files:
            raise SourceNotFoundError(f"source {shown(uri)} matches no files")
        return [self.info(p) for p in files]

    @staticmethod
    def info(path: Path) -> FileInfo:
        stat = path.stat()
        modified = dt.datetime.fromtimestamp(stat.st_mtime_ns / 1e9, dt.UTC)
        return FileInfo(str(path), stat.st_size, modified, f"{stat.st_size}:{stat.st_mtime_ns}")

    def head(self, path: str, size: int = 65_536) -> bytes:
        with open(path, "rb") as fh:
            return fh.read(size)

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def open(self, path: str) -> BinaryIO:
        return open(path, "rb")

    def prelude(self) -> tuple[str, ...]:
        return ()

    def local(self, path: str, scratch: Path) -> Path:
        return Path(path)


class CachedHeads:
    """A :class:`FileSystem` that reads each file's head (its first 64 KiB) once.

    Discovery looks at a file's start several times (its format, whether it is blank, its
    CSV header, the sniff, a row estimate) and the analysis once more; each was a ranged GET
    of an S3 object. Here all of them share one read, and :meth:`prefetch` makes those reads
    for many objects at once. Memory stays bounded: past :data:`BUDGET` bytes of heads, a head
    is kept only to :data:`KEPT` bytes (a longer request reads again).
    """

    HEAD = 65_536
    KEPT = 8_192
    BUDGET = 64 << 20

    def __init__(self, inner: FileSystem) -> None:
        self.inner = inner
        self.scheme = inner.scheme
        self.endpoint = inner.endpoint
        self._heads: dict[str, tuple[bytes, bool]] = {}  # path -> (head, the whole file?)
        self._held = 0
        self._lock = threading.Lock()

    @property
    def listed_at(self) -> dt.datetime | None:
        return self.inner.listed_at

    def forget(self) -> None:
        """Drop every head (a new listing may find changed files)."""
        with self._lock:
            self._heads.clear()
            self._held = 0

    def prefetch(self, paths: list[str]) -> None:
        """Read the heads of ``paths`` not read yet; a store's in parallel (the waits
        overlap), local files one after another (nothing to wait for)."""
        todo = [p for p in paths if p not in self._heads]
        if self.scheme == "file" or len(todo) < 2:
            for path in todo:
                self.head(path)
            return
        # A store answers many small reads at once: 200 heads took 0.9 s 8 at a time.
        with ThreadPoolExecutor(max_workers=min(32, len(todo))) as pool:
            for _ in pool.map(self.head, todo):
                pass

    def list(self, uri: str) -> list[FileInfo]:
        return self.inner.list(uri)

    def head(self, path: str, size: int = 65_536) -> bytes:
        if size > self.HEAD:
            return self.inner.head(path, size)
        cached = self._heads.get(path)
        if cached is not None and (cached[1] or len(cached[0]) >= size):
            return cached[0][:size]
        data = self.inner.head(path, self.HEAD)
        whole = len(data) < self.HEAD
        with self._lock:
            before = self._heads.get(path)  # another thread may have read it meanwhile
            if before is not None:
                self._held -= len(before[0])
            kept = data if self._held + len(data) <= self.BUDGET else data[: self.KEPT]
            # Whole only if the file ended within the read and nothing of it was cut off.
            self._heads[path] = (kept, whole and len(kept) == len(data))
            self._held += len(kept)
        return data[:size]

    def read_range(self, path: str, start: int, length: int) -> bytes:
        return self.inner.read_range(path, start, length)

    def open(self, path: str) -> BinaryIO:
        return self.inner.open(path)

    def prelude(self) -> tuple[str, ...]:
        return self.inner.prelude()

    def local(self, path: str, scratch: Path) -> Path:
        return self.inner.local(path, scratch)


def hidden(relative: str) -> bool:
    """Whether a path below the folder or prefix a source names is hidden: any segment
    starting with '.' or '_', as Hive and Spark skip them (``_SUCCESS``, ``.tmp/``, and an
    aoetl destination's ``_aoetl/`` bookkeeping and ``_manifest.json``)."""
    return any(part[:1] in ("_", ".") for part in relative.split("/") if part)


def glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (``d/`` of ``d/**/x*.csv``)."""
    first = min((i for i, ch in enumerate(pattern) if ch in GLOB_CHARS), default=len(pattern))
    return pattern[: pattern.rfind("/", 0, first) + 1]


def _hidden_below(path: Path, base: Path) -> bool:
    try:
        relative = path.relative_to(base).as_posix()
    except ValueError:
        relative = path.name
    return hidden(relative)


def chunks(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """``stream`` in blocks of ``size`` bytes, closed at the end."""
    with stream:
        while block := stream.read(size):
            yield block


def shown(uri: str, limit: int = 200) -> str:
    """A source as an error shows it: a path of 100 KB is cut, not printed whole."""
    return uri if len(uri) <= limit else f"{uri[: limit - 20]}…({len(uri):,} characters)"
