"""Files: a path, glob or folder of CSV, JSON, NDJSON or Parquet, sniffed and read by DuckDB."""

from __future__ import annotations

FORMATS = ("csv", "json", "ndjson", "parquet")
"""The file formats the source reads (the registry lists them without importing DuckDB)."""

__all__ = ["FORMATS"]
