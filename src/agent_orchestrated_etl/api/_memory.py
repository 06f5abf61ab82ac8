"""The facade's memory methods: search what aoetl remembers of sources and runs. Mixed into
:class:`DataOrchestrator`, which gives them ``home`` and the state store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import UserError

if TYPE_CHECKING:
    from ..agents.memory import MemoryHit
    from ..state import MemoryRecord, StateStore


class _Facade(Protocol):
    home: Path

    def _store(self) -> StateStore: ...


class MemoryMethods:
    """``memory_search``, ``memory_entries`` and ``memory_count`` (see each)."""

    def memory_search(
        self: _Facade, text: str, *, k: int = 5, exact: bool = False
    ) -> list[MemoryHit]:
        """The ``k`` remembered sources and runs nearest ``text`` in meaning (vector search:
        the first call in a process loads the encoder, about half a second, or once per
        AOETL_HOME exports it to ONNX, about 16 s; it embeds the records written since the last
        search). ``exact`` instead finds records whose
        fingerprint is ``text`` (its source and its ``k`` newest runs), else whose text, URI or
        run id holds it, with no model.

        Raises:
            UserError: ``text`` is empty or ``k`` is not positive; the memory extra is missing.
        """
        from ..agents.memory import search

        if not text.strip():
            raise UserError("give some text to search memory for, e.g. 'orders csv timeout'")
        if k < 1:
            raise UserError(f"k={k}: ask for at least 1 result")
        return search(self.home, self._store(), text, k=k, exact=exact)

    def memory_entries(
        self: _Facade,
        *,
        kind: str | None = None,
        fingerprint: str | None = None,
        run_id: str | None = None,
        limit: int = 50,
    ) -> list[MemoryRecord]:
        """Remembered records, newest first: ``kind`` 'source' or 'run', one source's
        (``fingerprint``, exact) or one run's (``run_id``: the id or its start, e.g.
        ``20261130T152852``). No model is loaded.

        Raises:
            UserError: ``kind`` is neither 'source' nor 'run'.
        """
        _check_kind(kind)
        return self._store().memory.entries(
            kind=kind, fingerprint=fingerprint, run_id=run_id, limit=limit
        )

    def memory_count(
        self: _Facade,
        *,
        kind: str | None = None,
        fingerprint: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """How many remembered records :meth:`memory_entries` would find with no limit.

        Raises:
            UserError: ``kind`` is neither 'source' nor 'run'.
        """
        _check_kind(kind)
        return self._store().memory.count(kind=kind, fingerprint=fingerprint, run_id=run_id)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in ("source", "run"):
        raise UserError(f"kind {kind!r}: give 'source' or 'run'")
