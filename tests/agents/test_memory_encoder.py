"""Memory's query encoder: MiniLM on ONNX Runtime, exported once per home, the same vectors as
sentence-transformers, no torch in a search once exported, and the torch path as fallback."""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent_orchestrated_etl.agents.memory import index
from agent_orchestrated_etl.state import StateStore
from tests.helpers import run_cli

NOTE = "exporting the embedding model to ONNX once"


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh home after one run and its first ``aoetl memory search``, as a new user."""
    work = tmp_path_factory.mktemp("encoder")
    (work / "weather.csv").write_text(
        "station,temperature_c,humidity\n" + "".join(f"s{i},{i}.5,{40 + i}\n" for i in range(5))
    )
    ran = run_cli("run", "weather.csv", "--to", "duckdb:///w.duckdb", cwd=work)
    assert ran.returncode == 0, ran.stderr
    found = run_cli("memory", "search", "climate readings", "-k", "1", "--json", cwd=work)
    assert found.returncode == 0, found.stderr
    return {"work": work, "home": work / ".aoetl", "stderr": found.stderr, "hits": found.stdout}


def test_the_first_search_of_a_home_exports_the_model_once_and_says_so(
    first: dict[str, Any],
) -> None:
    notes = [line for line in first["stderr"].splitlines() if NOTE in line]
    assert len(notes) == 1, first["stderr"]
    (hit,) = json.loads(first["hits"])
    assert hit["how"] == "vector" and hit["uri"].endswith("weather.csv")
    (graph,) = (first["home"] / "memory" / "encoder").glob("minilm-*.onnx")
    assert graph.stat().st_size > 80_000_000  # the whole graph, weights inside
    assert not list(graph.parent.glob(".*.tmp"))  # written aside, then renamed into place
    again = run_cli("memory", "search", "climate", "-k", "1", "--json", cwd=first["work"])
    assert again.returncode == 0 and NOTE not in again.stderr, again.stderr
    assert json.loads(again.stdout)[0]["id"] == hit["id"]


def test_a_search_imports_no_torch_once_the_graph_exists(first: dict[str, Any]) -> None:
    script = textwrap.dedent("""\
        import json, sys
        from agent_orchestrated_etl import DataOrchestrator
        hits = DataOrchestrator().memory_search("temperatures at stations", k=1)
        heavy = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
        print(json.dumps({"uri": hits[0].record.uri, "heavy": heavy,
                          "onnx": "onnxruntime" in sys.modules}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=first["work"],
        env={**os.environ, "AOETL_HOME": str(first["home"])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["heavy"] == [] and got["onnx"], got
    assert got["uri"].endswith("weather.csv") and NOTE not in done.stderr


def _texts() -> list[str]:
    """Queries and records as aoetl writes them, odd characters, near-empty texts, and long
    ones past MiniLM's 256 tokens."""
    rng = random.Random(16)
    words = ["orders", "invoices", "sensor", "readings", "failed", "timeout", "csv", "12,345",
             "s3://bucket/key.parquet", "workers=4", "0.25s", "café", "naïve", "Ünïcödé", "Straße",
             "東京", "天気", "데이터", "بيانات", "данные", "🚀", "✓", "¿qué?", "(x)"]  # fmt: skip
    texts = ["", " ", "\n\t", "a", "?", "🚀", "東京の天気", "  padded  ", "ÀÉÎÕÜ"]
    for i in range(200):
        n = rng.choice([1, 2, 3, 5, 8, 12])
        texts.append(" ".join(rng.choice(words) for _ in range(n)) + f" #{i}")
    for _ in range(3):  # past max_seq_length: truncated alike
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(200, 300))))
    return texts


@pytest.fixture(scope="module")
def onnx(first: dict[str, Any]) -> Any:
    encoder = index.encoder(first["home"])
    assert type(encoder).__name__ == "OnnxEncoder"
    return encoder


def test_onnx_embeddings_equal_sentence_transformers(onnx: Any) -> None:
    texts = _texts()
    model = index.load_model()
    # The long texts apart: in one batch with the short ones, all would pad to 256 tokens.
    parts = (texts[:-3], texts[-3:])
    reference = np.concatenate(
        [model.encode(part, batch_size=64, normalize_embeddings=True) for part in parts]
    ).astype(np.float32)
    batch = np.concatenate([onnx.encode(part) for part in parts])
    singles = np.stack([onnx.encode([t])[0] for t in texts[::8]])  # a query's path
    for got, want in ((batch, reference), (singles, reference[::8])):
        assert got.shape == want.shape
        assert float((got * want).sum(axis=1).min()) >= 0.9999
        assert float(np.abs(got - want).max()) < 1e-5  # the same vectors: old records stay valid
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    long = texts[-1]
    assert np.allclose(onnx.encode([long]), onnx.encode([long + " and more words" * 50]))


def test_without_onnxruntime_search_embeds_with_sentence_transformers_and_says_why(
    onnx: Any,
    first: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    monkeypatch.setattr(index, "_ENCODER", None)  # the process chooses again
    with caplog.at_level(logging.WARNING, logger="aoetl.memory"):
        fallback = index.encoder(tmp_path)
    assert type(fallback).__name__ == "TorchEncoder"
    assert "sentence-transformers on torch: onnxruntime is not installed" in caplog.text
    assert not (tmp_path / "memory" / "encoder").exists()  # nothing half-made left behind
    texts = ["orders that timed out", "東京の天気", "rows of weather.csv"]
    assert np.abs(fallback.encode(texts) - onnx.encode(texts)).max() < 1e-5
    store = StateStore(first["home"])
    hits = index.MemoryIndex(first["home"], store.memory).search("climate readings", k=1)
    assert hits[0][0].uri.endswith("weather.csv")
