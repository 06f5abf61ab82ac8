"""Files: a path, glob or folder of CSV, JSON, NDJSON or Parquet, sniffed and read by DuckDB."""
