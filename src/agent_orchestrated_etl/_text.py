"""Small text helpers for what aoetl says to people; imports nothing of aoetl's."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 row', '3 rows', '1 entry', '2 entries'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def byte_size(size: int) -> str:
    """'812 bytes', '27.4 kB', '1.2 GB': decimal units, as file listings and S3 consoles give."""
    if size < 1000:
        return plural(size, "byte")
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:,.1f} {unit}"


def points(value: float) -> str:
    """A score as shown: one decimal unless whole (99.6, 87), and below 100 never shown
    as 100: a table that lost points says so."""
    shown = min(round(value, 1), 99.9) if value < 100 else round(value, 1)
    return f"{shown:.1f}".removesuffix(".0")


def iso_local(ts: float) -> str:
    """``ts`` (seconds since the epoch) as ISO 8601 in local time with its offset, to the second."""
    from datetime import datetime

    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")
