"""S3 objects as the file source's files: listed with boto3, read by DuckDB's httpfs.

Listing is paginated (``list_objects_v2``) from the longest prefix a URI names, then filtered
by its glob: ``*``, ``?`` and ``[…]`` match within one key segment, ``**`` across segments.
The file source reads the objects' bytes through this class only for small things (a ranged
head for sniffing, a stream for a rare repair); the data itself is read by DuckDB, which
streams ranges of an object and never holds it whole.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import re
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from ...errors import AoetlError, SourceNotFoundError, classify_boto
from ..files.fs import GLOB_CHARS, FileInfo, glob_base, hidden, shown
from ._access import S3Access, split

_Objects = list[dict[str, Any]]  # a listing's entries (the method 'list' shadows the builtin)


class S3FS:
    """The objects of one S3-compatible store (see :class:`~..files.fs.FileSystem`)."""

    scheme = "s3"

    def __init__(
        self, access: S3Access, home: Path | None = None, bucket: str | None = None
    ) -> None:
        self.access = access
        self.bucket = bucket  # scopes the DuckDB secret: another store's may sit beside it
        self.endpoint: str | None = access.endpoint
        self.listed_at: dt.datetime | None = None
        self._client = access.client

    # -- listing ---------------------------------------------------------------------------
    def list(self, uri: str) -> list[FileInfo]:
        self.listed_at = None  # the store's Date of the first answer (its clock, not ours)
        bucket, key = split(uri)
        glob_at = next((i for i, ch in enumerate(key) if ch in GLOB_CHARS), None)
        base = key  # what the URI names itself: a segment of it is never taken for hidden
        if glob_at is not None:
            match = glob_regex(key).fullmatch
            found = [o for o in self._page(uri, bucket, key[:glob_at]) if match(o["Key"])]
            base = glob_base(key)
        elif key == "" or key.endswith("/"):
            found = self._page(uri, bucket, key)
        else:
            one = self._head_object(uri, bucket, key)
            found = [one] if one is not None else self._page(uri, bucket, key + "/")
        files = [
            _info(bucket, o)
            for o in found
            if not o["Key"].endswith("/") and not hidden(o["Key"][len(base) :])
        ]
        if not files:
            what = "objects matching the glob" if glob_at is not None else "objects"
            raise SourceNotFoundError(
                f"source {shown(uri)} has no {what} (bucket {bucket!r}); check the bucket and "
                f"the prefix"
            )
        return sorted(files, key=lambda f: f.path)

    def _page(self, uri: str, bucket: str, prefix: str) -> _Objects:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            found = []
            for page in pages:
                self._stamp(page)
                found += page.get("Contents", ())
            return found
        except AoetlError:
            raise
        except Exception as exc:
            raise classify_boto(exc, f"listing {shown(uri)}") from None

    def _head_object(self, uri: str, bucket: str, key: str) -> dict[str, Any] | None:
        """The object ``key`` as a listing shows it, or None when there is no such key."""
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            error = classify_boto(exc, f"reading {shown(uri)}")
            if isinstance(error, SourceNotFoundError):
                return None  # a prefix, perhaps (or a missing bucket: the listing says)
            raise error from None
        self._stamp(head)
        return {
            "Key": key,
            "Size": head["ContentLength"],
            "LastModified": head["LastModified"],
            "ETag": head.get("ETag", ""),
        }

    def _stamp(self, answer: dict[str, Any]) -> None:
        """Keep the store's clock at its first answer to a listing (the Date header is
        truncated to the second: earlier, so on the safe side), else ours."""
        if self.listed_at is not None:
            return
        date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            self.listed_at = email.utils.parsedate_to_datetime(date).astimezone(dt.UTC)
        except (TypeError, ValueError):
            self.listed_at = dt.datetime.now(dt.UTC)

    # -- reading ---------------------------------------------------------------------------
    def head(self, path: str, size: int = 65_536) -> bytes:
        return self.read_range(path, 0, size)

    def read_range(self, path: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        body = self._get(path, Range=f"bytes={start}-{start + length - 1}")
        if body is None:
            return b""
        with body:
            return bytes(body.read())

    def open(self, path: str) -> BinaryIO:
        body = self._get(path)
        if body is None:
            return io.BytesIO(b"")
        return io.BufferedReader(_Body(body), buffer_size=1 << 20)

    def local(self, path: str, scratch: Path) -> Path:
        target = scratch / path.rstrip("/").rsplit("/", 1)[-1]
        with self.open(path) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        return target

    def prelude(self) -> tuple[str, ...]:
        return self.access.prelude(self.bucket)

    def _get(self, path: str, **extra: str) -> Any:
        """The streaming body of a GET (None for a range past the end of an empty object)."""
        bucket, key = split(path)
        try:
            return self._client.get_object(Bucket=bucket, Key=key, **extra)["Body"]
        except Exception as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code == "InvalidRange":
                return None
            raise classify_boto(exc, f"reading {shown(path)}") from None


class _Body(io.RawIOBase):
    """botocore's streaming body as a raw stream, so it buffers and iterates by line."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except Exception as exc:
            raise classify_boto(exc, "reading an S3 object") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _info(bucket: str, obj: dict[str, Any]) -> FileInfo:
    modified = obj["LastModified"]
    if isinstance(modified, dt.datetime):
        modified = modified.astimezone(dt.UTC)
    return FileInfo(
        f"s3://{bucket}/{obj['Key']}",
        int(obj["Size"]),
        modified,
        str(obj.get("ETag", "")).strip('"') or f"{obj['Size']}:{modified.isoformat()}",
    )


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A key glob as a regular expression: ``*``, ``?`` and ``[…]`` within one segment,
    ``**`` across any number of them (``a/**/b`` matches ``a/b`` too)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[" and (end := pattern.find("]", i + 2)) > 0:
            body = pattern[i + 1 : end]
            negate = body[:1] == "!"
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^/' if negate else ''}{body}]")
            i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out))
