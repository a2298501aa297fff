"""Where a source's snapshot lives in the bucket.

    curated/<source>/_snapshot/<generation>/<table>/part-00000.parquet   a generation's files
    curated/<source>/_snapshot/<generation>/folded.json                  the curated files it folded
    curated/<source>/_current/<table>/manifest                           the files a query reads
    curated/<source>/_current/generation.json                            which generation is current

A manifest holds one ``s3://`` URI per line: Athena's SymlinkTextInputFormat reads the files it
lists, so one PUT switches a table from one generation to the next (a query sees either); the
``_snapshot`` and ``_current`` folders are beside the curated tables' folders, never inside them.
"""

from __future__ import annotations

from claims.layout import safe_part

PART = "part-00000.parquet"


def source_prefix(source: str) -> str:
    return f"curated/{safe_part(source)}/"


def snapshot_prefix(source: str, generation: str = "") -> str:
    return f"{source_prefix(source)}_snapshot/{generation + '/' if generation else ''}"


def part_key(source: str, generation: str, table: str) -> str:
    return f"{snapshot_prefix(source, generation)}{table}/{PART}"


def folded_key(source: str, generation: str) -> str:
    return f"{snapshot_prefix(source, generation)}folded.json"


def current_manifest_key(source: str, table: str) -> str:
    return f"{source_prefix(source)}_current/{table}/manifest"


def generation_key(source: str) -> str:
    return f"{source_prefix(source)}_current/generation.json"


def table_prefix(source: str, table: str) -> str:
    return f"{source_prefix(source)}{table}/"
