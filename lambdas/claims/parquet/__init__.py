"""A small pure-Python Parquet writer (see writer.py for what it writes and why it exists)."""
