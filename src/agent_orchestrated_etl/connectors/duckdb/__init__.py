"""The embedded DuckDB destination: staging, checkpoints and one atomic commit."""
