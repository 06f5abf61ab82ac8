"""Databases: PostgreSQL, SQLite and DuckDB through DuckDB's scanners, ADBC or SQLAlchemy, and
the PostgreSQL/SQLite destination."""
