"""What `bulk-ingest claims --view` offers and prints (no engine imports: the CLI parser needs it)."""

from __future__ import annotations

# --view name -> the catalog's view
VIEWS = {"current": "claims_current", "versions": "claim_versions", "duplicates": "claim_duplicates"}
# what each --view prints; `current`'s keys are a contract of `--format ndjson` (issue 7)
DISPLAY_COLUMNS: dict[str, tuple[str, ...]] = {
    "current": (
        "source", "claim_group_id", "claim_id", "status", "last_updated", "versions", "mbi",
        "historic_mbis", "patient", "claim_type", "anomaly", "flags",
    ),
    "versions": (
        "source", "claim_group_id", "claim_id", "status", "last_updated", "records", "claim_type",
        "patient", "mbi", "object_key", "line",
    ),
    "duplicates": ("source", "claim_group_id", "claim_id", "last_updated", "copies", "dropped", "seen_at"),
}  # fmt: skip
# `--format table` only: columns printed beneath each row, one line per item, instead of in the grid (a
# duplicate's places are full object keys: in the grid they made every line some 250 characters wide)
BENEATH: dict[str, tuple[str, ...]] = {"duplicates": ("source", "seen_at")}
# both engines print rows in this order
ORDER_BY = ("source", "claim_group_id", "claim_id", "last_updated")


def sql_literal(text: str) -> str:
    """A string literal in SQL (DuckDB and Trino alike): quotes doubled, nothing else escaped."""
    return "'" + text.replace("'", "''") + "'"
