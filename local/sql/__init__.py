"""`bulk-ingest sql`: any SQL over every curated table and view, locally in DuckDB or in Athena."""
