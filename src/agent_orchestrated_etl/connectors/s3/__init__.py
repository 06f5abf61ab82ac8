"""S3 (and S3-compatible stores): objects read as files, and a Parquet/CSV destination."""
