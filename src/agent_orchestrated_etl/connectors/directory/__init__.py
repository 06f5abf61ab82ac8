"""A folder of Parquet or CSV files per table, swapped in atomically."""
