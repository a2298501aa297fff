"""`bulk-ingest claims`: the claims views answered locally by DuckDB over curated Parquet files.

``local.claims.query`` holds the engine (it imports duckdb and sqlglot, so nothing here does:
other ``bulk-ingest`` commands start without them).
"""
