"""Files whose content is not what their name says: read by their content, or skipped.

A Parquet file named ``.csv``, a gzip file named ``.zst``, a CSV file named ``.json``: the
name would make DuckDB's reader fail on the whole folder. The first bytes (already read for
discovery) tell the content's format and codec; a file is read by them, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError
from . import (
    FORMATS,
    contradicts,
    format_by_content,
    format_by_extension,
    format_label,
    stored_compression,
)


@dataclass(frozen=True)
class ReadAs:
    """How a file is read when its name and its content disagree (see :func:`read_format`).

    ``fmt`` is None when the content fits no known format; ``named`` is what the name says
    and ``content`` what the content is (both for the note and the error).
    """

    fmt: str | None
    named: str
    content: str

    @property
    def note(self) -> str:
        if self.fmt is None:
            return f"named {self.named}, but its content is {self.content}"
        return f"named {self.named}, read as {self.content} (its content)"


def read_format(name: str, stored: bytes, text: bytes) -> ReadAs | None:
    """How to read a file whose name says a format, when its content says otherwise (None:
    the name holds). ``stored`` is its first bytes as stored, ``text`` them decompressed by
    their own codec. A CSV name is taken for any text (one column, ragged lines); only
    JSON read as NDJSON is left to DuckDB's reader, which takes both."""
    by_name, named_codec = format_by_extension(name)
    if by_name is None:
        return None
    codec = stored_compression(stored)
    by_content = format_by_content(text) if text else None
    fmt: str | None = by_name
    if by_content is None:
        if by_name != "csv" or not _is_text(text):
            fmt = None
    elif contradicts(by_name, by_content, text) and (by_name, by_content) != ("json", "ndjson"):
        fmt = by_content
    if fmt == by_name and codec == named_codec:
        return None
    either = codec or named_codec
    named = format_label(by_name, named_codec, either)
    if fmt is None:
        return ReadAs(None, named, _looks(stored, text, codec))
    return ReadAs(fmt, named, format_label(fmt, codec, either))


def _is_text(text: bytes) -> bool:
    """Text, not binary: few control bytes, and no NUL unless UTF-16 says why."""
    if not text:
        return False
    if text.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    sample = text[:4096]
    control = sum(b < 9 or 13 < b < 32 for b in sample)
    return b"\x00" not in sample and control * 100 <= len(sample)


def _looks(stored: bytes, text: bytes, codec: str | None) -> str:
    """What a file whose content fits no format looks like, for the note or the error."""
    if codec and not text:
        return f"{codec} data that does not decompress"
    for label, found in (
        ("a SQLite database", text.startswith(b"SQLite format 3")),
        ("a DuckDB database", text[8:12] == b"DUCK"),
        ("a zip archive", text.startswith(b"PK\x03\x04")),
    ):
        if found:
            return label
    if not _is_text(text):
        return "binary data" if not codec else f"{codec}-compressed binary data"
    return "text that is not CSV, JSON, NDJSON or Parquet"


def mismatch_error(name: str, read: ReadAs) -> UserError:
    """The error for a lone file whose content fits no format its name could mean."""
    return UserError(
        f"{name} is {read.note}; known formats are {', '.join(FORMATS)} (optionally gzip or "
        f"zstd): fix or rename the file, or set --format if it is one of them"
    )
