"""Files: a path, glob or folder of CSV, JSON, NDJSON or Parquet, sniffed and read by DuckDB.

This module stays free of DuckDB (the registry imports it for :data:`FORMATS`); it tells a
file's format by its name (:func:`format_by_extension`) and by its first bytes
(:func:`format_by_content`), which the source and the analysis both use.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ...data.lines import COMPRESSIONS, decompress_head

FORMATS = ("csv", "json", "ndjson", "parquet")
"""The file formats the source reads (the registry lists them without importing DuckDB)."""

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".psv": "csv",
    ".json": "json",
    ".geojson": "json",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}
"""File name suffixes that name a format."""

_DELIMITERS = (b",", b";", b"\t", b"|")


def split_suffixes(name: str) -> tuple[str, str | None]:
    """(format suffix, compression) of a file name, e.g. 'x.csv.gz' -> ('.csv', 'gzip')."""
    suffixes = [s.lower() for s in PurePosixPath(name).suffixes]
    compression = None
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = COMPRESSIONS[suffixes.pop()]
    return (suffixes[-1] if suffixes else ""), compression


def format_by_extension(name: str) -> tuple[str | None, str | None]:
    """(format, compression) a file name says: 'a.csv.gz' -> ('csv', 'gzip'),
    'a.tsv' -> ('csv', None), 'a.bin' -> (None, None).

    ``name`` may be a path or an object key; only its last segment counts.
    """
    suffix, compression = split_suffixes(name.rstrip("/").rsplit("/", 1)[-1])
    return SUFFIX_FORMATS.get(suffix), compression


def format_by_content(head: bytes, compression: str | None = None) -> str | None:
    """The format the first bytes of a file show, or None when nothing fits.

    ``head`` is the file's start as stored; a gzip or zstd header (or ``compression``) is
    decompressed for a look inside. Parquet by its 'PAR1' magic, a JSON document by its
    leading '[' or '{', NDJSON by one object per line, CSV by lines that split alike on one
    delimiter.
    """
    compression = stored_compression(head) or compression
    if compression is not None:
        head = decompress_head(head, compression)
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "ndjson" if b"\n{" in stripped else "json"
    return "csv" if _delimited(stripped) else None


def stored_compression(head: bytes) -> str | None:
    """'gzip' or 'zstd' when a file's first bytes (as stored) are that codec's magic."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


def format_label(fmt: str, codec: str | None, either: str | None) -> str:
    """'csv', 'gzip-compressed csv', or 'uncompressed csv' (when the other side is)."""
    if codec:
        return f"{codec}-compressed {fmt}"
    return f"uncompressed {fmt}" if either else fmt


def contradicts(by_name: str | None, by_content: str | None, text: bytes) -> bool:
    """Whether a file's content is another format than its name says; ``text`` is its
    decompressed start. One JSON object on one line is NDJSON as much as JSON, but a JSON
    array, or an object over several lines, is a JSON document whatever the name."""
    if by_name is None or by_content is None or by_name == by_content:
        return False
    if by_name == "ndjson" and by_content == "json":
        body = text.lstrip(b"\xef\xbb\xbf \t\r\n")
        return body.startswith(b"[") or body.strip().count(b"\n") > 0
    return True


def _delimited(head: bytes) -> bool:
    """Whether the text's first whole lines split into the same two or more fields."""
    if b"\x00" in head[:4096]:
        return False  # binary, or UTF-16 (which DuckDB reads, but only when told)
    text = head.decode("utf-8", "replace")  # latin-1 text splits alike
    lines = [line for line in text.split("\n")[:-1][:20] if line.strip()]
    if len(lines) < 2:
        return False
    for delim in (d.decode() for d in _DELIMITERS):
        counts = {line.count(delim) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return True
    return False


__all__ = [
    "FORMATS",
    "SUFFIX_FORMATS",
    "contradicts",
    "format_by_content",
    "format_by_extension",
    "format_label",
    "split_suffixes",
    "stored_compression",
]
