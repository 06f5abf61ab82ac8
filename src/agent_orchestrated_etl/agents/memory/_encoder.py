"""MiniLM on ONNX Runtime: the same embeddings as sentence-transformers, without torch.

Torch takes seconds to import and ~25 ms for one short query on this kind of CPU; ONNX Runtime
runs the same graph in a few ms and imports in a fraction of a second. The graph is exported
from the bundled model's own files by torch, once, into ``AOETL_HOME/memory/encoder/``, named
by a digest of those files and of the exporter's versions (so a new model or a new exporter
exports again). Tokenizing uses the model folder's ``tokenizer.json`` (the fast tokenizer
sentence-transformers uses too); pooling and normalising follow the model's own
sentence-transformers config (``modules.json``, ``1_Pooling/config.json``,
``sentence_bert_config.json``), and a model laid out otherwise is refused rather than
embedded differently.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FatalError

# Bump when the export (inputs, opset, wrapper) changes: old files are then exported again.
EXPORT_FORMAT = 1
OPSET = 17  # the TorchScript exporter's; the torch.export one uses its own
MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
)
EXPORTER = ("torch", "transformers", "onnx", "onnxscript")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BATCH = 64  # as sentence-transformers batches: texts of like length together
_PROBE = ["a short one", "memory of a run that loaded 12,000 rows of orders.csv " * 3, ""]


class EncoderUnavailable(FatalError):
    """The ONNX path cannot be used here; the message says why (search falls back to
    sentence-transformers, so a user never sees it)."""


@dataclass(frozen=True)
class Layout:
    """What sentence-transformers does around the transformer for this model."""

    max_seq_length: int
    do_lower_case: bool
    dimension: int


def read_layout(model_dir: Path) -> Layout:
    """The model's pipeline, checked to be transformer, mean pooling, L2 normalisation."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in sorted(modules, key=lambda m: m["idx"])]
        pool_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((model_dir / pool_dir / "config.json").read_text())
        bert = json.loads((model_dir / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise EncoderUnavailable(
            f"cannot read the model's sentence-transformers config: {exc}"
        ) from exc
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if kinds != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise EncoderUnavailable(
            f"the model's modules are {kinds} with pooling {sorted(modes)}, "
            "not transformer, mean pooling, normalize"
        )
    return Layout(
        max_seq_length=int(bert["max_seq_length"]),
        do_lower_case=bool(bert.get("do_lower_case", False)),
        dimension=int(pooling["word_embedding_dimension"]),
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def model_digest(model_dir: Path, cache: Path) -> str:
    """A digest of the model's files. Hashing 90 MB costs ~0.2 s, so it is remembered in
    ``cache`` against the files' sizes and modification times."""
    stamp = []
    for name in MODEL_FILES:
        st = (model_dir / name).stat()
        stamp.append([name, st.st_size, st.st_mtime_ns])
    memo = cache / "model-digest.json"
    try:
        known = json.loads(memo.read_text())
        if known["dir"] == str(model_dir) and known["stamp"] == stamp:
            return str(known["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        digest.update(name.encode() + b"\0")
        with open(model_dir / name, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    value = digest.hexdigest()
    with contextlib.suppress(OSError):  # a read-only home: hashed again next time, no harm
        _write_atomic(memo, json.dumps({"dir": str(model_dir), "stamp": stamp, "digest": value}))
    return value


def onnx_file(model_dir: Path, cache: Path) -> Path:
    """Where this model's graph, exported by these versions, lives in ``cache``."""
    key = hashlib.sha256(
        json.dumps(
            [EXPORT_FORMAT, OPSET, model_digest(model_dir, cache)]
            + [f"{p}=={_version(p)}" for p in EXPORTER]
        ).encode()
    ).hexdigest()
    return cache / f"minilm-{key[:24]}.onnx"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(model_dir: Path, dest: Path) -> None:
    """Export the model's transformer to ``dest`` with torch, check it against torch on a few
    texts, then move it into place (two processes exporting at once each write their own
    temporary file; the rename is atomic, so no reader sees half a file)."""
    try:
        import onnx  # noqa: F401  (the exporter needs it; checked before seconds of work)
        import onnxruntime  # type: ignore[import-untyped]  # noqa: F401
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EncoderUnavailable(f"cannot export the ONNX graph: {exc}") from None
    layout = read_layout(model_dir)
    try:  # its progress bar would draw over the command's output
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:
        pass
    # Eager attention with the additive mask made here: traced through transformers' own mask
    # code (python conditionals on the mask's values), the graph came out wrong.
    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            keep = attention_mask[:, None, None, :].to(torch.float32)
            additive = (1.0 - keep) * torch.finfo(torch.float32).min
            out = self.inner(
                input_ids=input_ids, attention_mask=additive, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    probe = _inputs(_tokenizer(model_dir, layout), _PROBE, layout)
    args = tuple(torch.from_numpy(probe[name]) for name in INPUTS)
    with torch.no_grad():  # transformers' own forward pass, its own mask handling
        expected = model(**{name: torch.from_numpy(probe[name]) for name in INPUTS})
    mask = probe["attention_mask"]
    want = pool(expected.last_hidden_state.numpy(), mask)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _sweep(dest.parent)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its notes (torchvision missing, ...) are not the user's
    failures = []
    try:
        # The TorchScript exporter takes seconds where the torch.export-based one takes half
        # a minute; the latter (it needs onnxscript) is the second try.
        for dynamo in (False, True):
            try:
                _export_graph(Hidden(model), args, tmp, dynamo=dynamo)
                got = _session(Path(tmp), threads=1).run(None, probe)[0]
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
                continue
            # Padding positions' states never count: compare what pooling yields.
            if got.shape == expected.last_hidden_state.shape and np.allclose(
                pool(got, mask), want, atol=1e-5
            ):
                os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from others sharing home
                os.replace(tmp, dest)
                break
            failures.append("the exported graph does not compute what torch computes")
        else:
            raise EncoderUnavailable("; ".join(failures))
    finally:
        quiet.setLevel(level)
        Path(tmp).unlink(missing_ok=True)
    for old in dest.parent.glob("minilm-*.onnx"):
        if old != dest:  # another model or exporter's: 90 MB each
            old.unlink(missing_ok=True)


def _export_graph(module: Any, args: tuple[Any, ...], path: str, *, dynamo: bool) -> None:
    import torch

    names = list(INPUTS)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation
        if dynamo:
            batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
            torch.onnx.export(
                module,
                args,
                path,
                dynamo=True,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_shapes={name: {0: batch, 1: tokens} for name in INPUTS},
                external_data=False,
                verbose=False,
            )
        else:
            axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
            torch.onnx.export(
                module,
                args,
                path,
                dynamo=False,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=OPSET,
            )


def _sweep(cache: Path) -> None:
    """Temporary files an interrupted export left (an hour old: no export takes that long)."""
    for tmp in cache.glob(".*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > 3600:
                tmp.unlink()
        except OSError:
            pass


def _tokenizer(model_dir: Path, layout: Layout) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # The file pads and truncates to 128; sentence-transformers pads to the batch's longest
    # and truncates at max_seq_length.
    tokenizer.enable_truncation(layout.max_seq_length)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    return tokenizer


def _inputs(tokenizer: Any, texts: Sequence[str], layout: Layout) -> dict[str, np.ndarray]:
    # sentence-transformers strips each text (and lowercases it when its config says so).
    texts = [t.strip().lower() if layout.do_lower_case else t.strip() for t in texts]
    encoded = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
    }


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads == 1:
        # No pool threads to spin: the query runs on the caller's thread.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """Sentence embeddings of MiniLM through ONNX Runtime."""

    def __init__(self, model_dir: Path, path: Path) -> None:
        self.layout = read_layout(model_dir)
        self.path = path
        self._tokenizer = _tokenizer(model_dir, layout=self.layout)
        self._one = _session(path, threads=1)
        self._many: Any = None  # opened by the first batch: a query-only process never pays
        self._many_lock = threading.Lock()  # homes embed their batches from several threads
        self._feeds = {i.name for i in self._one.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text, in order."""
        if not texts:
            return np.zeros((0, self.layout.dimension), dtype=np.float32)
        if len(texts) <= 4:
            feeds = self.tokenize(texts)
            return pool(self.hidden(feeds), feeds["attention_mask"])
        with self._many_lock:
            if self._many is None:
                self._many = _session(self.path, threads=os.cpu_count() or 1)
        # Like lengths together so a batch pads little, as sentence-transformers does.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.layout.dimension), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            part = order[start : start + BATCH]
            feeds = self.tokenize([texts[i] for i in part])
            out[part] = pool(self.hidden(feeds, self._many), feeds["attention_mask"])
        return out

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model's inputs for ``texts``, padded to the longest (a stage of :meth:`encode`,
        timed apart by bench/memory.py)."""
        return _inputs(self._tokenizer, texts, self.layout)

    def hidden(self, feeds: dict[str, np.ndarray], session: Any = None) -> np.ndarray:
        """The transformer's last hidden states for tokenized inputs."""
        run = self._one if session is None else session
        states: np.ndarray = run.run(None, {k: v for k, v in feeds.items() if k in self._feeds})[0]
        return states


def pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the unmasked tokens' states, then L2-normalised (sentence-transformers'
    Pooling and Normalize, with their epsilons)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    means = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    unit: np.ndarray = (means / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


def open_encoder(model_dir: Path, cache: Path, notice: Callable[[str], None]) -> OnnxEncoder:
    """The ONNX encoder of ``model_dir``, exporting it into ``cache`` first if needed (with
    ``notice`` told, as that takes seconds); :class:`EncoderUnavailable` if it cannot be."""
    try:
        import onnxruntime  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
    except ImportError as exc:
        raise EncoderUnavailable(f"onnxruntime is not installed ({exc})") from None
    read_layout(model_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        path = onnx_file(model_dir, cache)
    except OSError as exc:
        raise EncoderUnavailable(f"cannot use {cache}: {exc}") from None
    if not path.exists():
        notice(
            "memory: exporting the embedding model to ONNX once for fast searches "
            f"(takes some seconds; cached in {cache})"
        )
        try:
            export(model_dir, path)
        except EncoderUnavailable:
            raise
        except Exception as exc:  # any exporter failure: the torch path still works
            raise EncoderUnavailable(
                f"the ONNX export failed: {type(exc).__name__}: {exc}"
            ) from exc
    try:
        return OnnxEncoder(model_dir, path)
    except Exception as exc:  # a corrupt or unreadable file: export again next time
        path.unlink(missing_ok=True)
        raise EncoderUnavailable(f"cannot load {path.name}: {type(exc).__name__}: {exc}") from exc
