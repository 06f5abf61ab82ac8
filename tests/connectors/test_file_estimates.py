"""Row estimates of NDJSON and JSON files at discovery, as CSV and Parquet files have them:
exact for a file its first bytes hold whole, else from those bytes and the file's size
(never a read of the whole file). Real files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from agent_orchestrated_etl.connectors.files.source import FileSource
from agent_orchestrated_etl.spec import FileSourceSpec


def _estimate(path: Path) -> int | None:
    (resource,) = FileSource(FileSourceSpec(uri=str(path))).discover()
    return resource.row_estimate


def _events(n: int) -> list[dict[str, object]]:
    return [{"id": i, "kind": "click" if i % 3 else "view", "user": f"u{i % 97}"} for i in range(n)]


def test_ndjson_rows_are_counted_when_small_and_estimated_when_large(work: Path) -> None:
    small, large = work / "small.ndjson", work / "events.ndjson"
    small.write_text("".join(json.dumps(e) + "\n" for e in _events(5)) + "\n")
    large.write_text("".join(json.dumps(e) + "\n" for e in _events(3000)))
    assert large.stat().st_size > 1 << 16  # more than discovery reads of it
    assert _estimate(small) == 5
    estimate = _estimate(large)
    assert estimate is not None and abs(estimate - 3000) < 300


def test_a_json_arrays_records_are_counted_or_estimated(work: Path) -> None:
    small, large, nested = work / "small.json", work / "big.json", work / "nested.json"
    small.write_text(json.dumps(_events(7), indent=2))
    large.write_text(json.dumps(_events(4000)))
    nested.write_text(json.dumps({"meta": {"n": 4}, "data": _events(4)}))
    assert large.stat().st_size > 1 << 16
    assert _estimate(small) == 7
    estimate = _estimate(large)
    assert estimate is not None and abs(estimate - 4000) < 400
    assert _estimate(nested) == 4


def test_a_compressed_files_rows_are_unknown(work: Path) -> None:
    path = work / "events.ndjson.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(e) + "\n" for e in _events(50)).encode()))
    assert _estimate(path) is None
