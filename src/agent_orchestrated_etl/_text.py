"""Small text helpers for what aoetl says to people; imports nothing of aoetl's."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 row', '3 rows', '1 entry', '2 entries'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
