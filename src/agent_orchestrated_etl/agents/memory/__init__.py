"""Memory: what aoetl learned from earlier runs, and how it changes the next one.

Records live in the state DB (``store.memory``, :mod:`...state.memory`): source
fingerprints, the plans chosen, the settings used and the outcomes. Planning looks them up by
exact fingerprint with no model loaded (:mod:`.advice`); the vector index (:mod:`.index`,
ChromaDB and MiniLM) is imported only by a similarity search. See docs/memory.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...state import MemoryRecord, StateStore
from .advice import Advice, Change, advise
from .records import (
    CONFIG_FAILURES,
    MemoryMode,
    explicit_settings,
    failure_cause,
    fingerprint,
    memory_mode,
    run_record,
    schema_hash,
    schema_of,
    settings_of,
    source_record,
    source_uri,
)


@dataclass(frozen=True)
class MemoryHit:
    """A record found by a search: how it was found, and how near (vector: cosine distance,
    0 is the same meaning; exact and substring: 0)."""

    record: MemoryRecord
    how: str  # vector | substring | fingerprint
    distance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"how": self.how, "distance": round(self.distance, 4), **self.record.to_dict()}


def search(
    home: Path, store: StateStore, text: str, *, k: int = 5, exact: bool = False
) -> list[MemoryHit]:
    """Records matching ``text``: the ``k`` nearest in meaning (loads the model, embeds what
    is pending first), or with ``exact`` those whose text, URI or run id holds it (no model).
    An exact fingerprint finds its source record and its ``k`` newest runs: the source is
    never crowded out by its runs."""
    if exact:
        fingerprint = text.strip()
        found = store.memory.by_fingerprint(fingerprint, kind="source", limit=1)
        found += store.memory.by_fingerprint(fingerprint, kind="run", limit=k)
        if found:
            return [MemoryHit(r, "fingerprint") for r in found]
        return [MemoryHit(r, "substring") for r in store.memory.search_text(text, limit=k)]
    from .index import MemoryIndex

    index = MemoryIndex.open(home, store.memory)
    return [MemoryHit(r, "vector", d) for r, d in index.search(text, k)]


__all__ = [
    "CONFIG_FAILURES",
    "Advice",
    "Change",
    "MemoryHit",
    "MemoryMode",
    "advise",
    "explicit_settings",
    "failure_cause",
    "fingerprint",
    "memory_mode",
    "run_record",
    "schema_hash",
    "schema_of",
    "search",
    "settings_of",
    "source_record",
    "source_uri",
]
