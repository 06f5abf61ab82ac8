"""What each file is: its format by name and by content, its codec, partitions and encoding.

Evidence comes from the first bytes of each file (one ranged read: ``FileSystem.head``), and
from the names DuckDB reads. Nothing here scans a whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..connectors.files import (
    contradicts,
    format_by_content,
    format_by_extension,
    format_label,
    stored_compression,
)
from ..data.lines import decompress_head
from .report import Issue

HEAD_BYTES = 8192
_HIVE = re.compile(r"^([^=/]+)=([^/]*)$")
_BOM = b"\xef\xbb\xbf"
_REPLACEMENT = "\ufffd"
_TEXT_FORMATS = ("csv", "json", "ndjson")


@dataclass
class FileEvidence:
    """One file as its name and first bytes show it."""

    path: str
    size: int
    by_extension: str | None
    by_content: str | None
    compression: str | None
    partitions: dict[str, str] = field(default_factory=dict)
    line_bytes: float | None = None  # mean line length in the head (uncompressed text)
    issues: list[Issue] = field(default_factory=list)
    text: bytes | None = None  # a JSON or NDJSON file's head, decompressed


def partitions_of(path: str) -> dict[str, str]:
    """Hive partition segments of a path ('…/year=2024/month=01/x.parquet')."""
    found: dict[str, str] = {}
    for segment in path.split("/")[:-1]:
        match = _HIVE.match(segment)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def evidence(
    path: str, size: int, head: bytes, read_as: str | None, encoding: str | None = None
) -> FileEvidence:
    """What ``head`` (the file's first bytes, as stored) and the name say about a file.

    ``read_as`` is the format discovery reads it as (None: skipped), ``encoding`` the
    text encoding it reads it with (None: the reader's default); a mismatch between the
    name and the content, a byte-order mark, text that is not UTF-8 or holds replacement
    characters become issues.
    """
    by_extension, named_codec = format_by_extension(path)
    # The codec is the content's: a name can be wrong about it as about the format.
    compression = stored_compression(head)
    by_content = format_by_content(head) if head else None
    found = FileEvidence(path, size, by_extension, by_content, compression, partitions_of(path))
    text = decompress_head(head, compression) if compression else head
    if (
        by_extension is not None
        and by_content is not None
        and (contradicts(by_extension, by_content, text) or compression != named_codec)
    ):
        either = compression or named_codec
        found.issues.append(
            Issue(
                "format_mismatch",
                f"named as {format_label(by_extension, named_codec, either)} but its "
                f"content is {format_label(by_content, compression, either)}"
                + (f"; read as {read_as}" if read_as else "; not read"),
                file=path,
                severity="warning",
            )
        )
    if (read_as or by_content or by_extension) in _TEXT_FORMATS:
        if compression is None and text.count(b"\n"):
            found.line_bytes = len(text) / text.count(b"\n")
        found.issues.extend(_encoding(path, text, encoding))
        if (read_as or by_content) in ("json", "ndjson"):
            found.text = text
    return found


def _encoding(path: str, text: bytes, encoding: str | None) -> list[Issue]:
    issues = []
    if text.startswith(_BOM):
        issues.append(
            Issue(
                "encoding",
                "starts with a UTF-8 byte-order mark (read without it)",
                file=path,
                severity="info",
            )
        )
    elif text.startswith((b"\xff\xfe", b"\xfe\xff")):
        issues.append(Issue("encoding", "UTF-16 text (a byte-order mark)", file=path))
        return issues
    # The head may stop inside a character: the last few bytes prove nothing.
    body = text[: len(text) - 4] if len(text) >= HEAD_BYTES else text
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        issues.append(
            Issue(
                "encoding",
                f"not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); "
                + (
                    f"read as {encoding}"
                    if encoding and encoding != "utf-8"
                    else "likely latin-1 or cp1252: set source.csv.encoding"
                ),
                file=path,
            )
        )
        return issues
    count = decoded.count(_REPLACEMENT)
    if count:
        issues.append(
            Issue(
                "encoding",
                f"{count} replacement character{'s' if count != 1 else ''} (U+FFFD) in the "
                f"first {len(body):,} bytes: text was damaged by an earlier wrong decoding",
                file=path,
            )
        )
    return issues
