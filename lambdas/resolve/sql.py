"""The catalog's Trino SQL, run by DuckDB: rendering, column types, typed empty relations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import sqlglot

from claims.catalog import TableColumn, ViewColumn

# Hive (tables) and Presto (views) column types -> DuckDB's
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "timestamp": "TIMESTAMP",
    "array<string>": "VARCHAR[]",
    "boolean": "BOOLEAN",
    "varchar": "VARCHAR",
    "timestamp(3)": "TIMESTAMP",
    "array(varchar)": "VARCHAR[]",
}


def render_for_duckdb(trino_sql: str) -> str:
    """A view's Trino SQL in DuckDB's dialect. sqlglot's transpilation needs no substitution for
    the functions the views use (row_number, count/sum/min/max/bool_or windows, array_agg ... ORDER
    BY, ||, CAST, regexp_like, filter with a lambda, max_by over a ROW -> arg_max over a STRUCT, both
    ordered field by field); tests/unit/claims/test_claims_schema_file.py runs every view through it."""
    return sqlglot.transpile(trino_sql, read="trino", write="duckdb")[0]


def literal(text: str) -> str:
    """A string literal in SQL (DuckDB and Trino alike): quotes doubled, nothing else escaped."""
    return "'" + text.replace("'", "''") + "'"


def typed_columns(columns: Iterable[TableColumn | ViewColumn]) -> str:
    """``name TYPE, ...`` for a CREATE TABLE of these columns."""
    return ", ".join(
        f"{column.name} {DUCKDB_TYPES[column.type if isinstance(column, TableColumn) else column.presto_type]}"
        for column in columns
    )


def relation(paths: Sequence[Path], columns: Sequence[TableColumn | ViewColumn]) -> str:
    """A SELECT of these Parquet files' columns (in this order), or a typed empty one without files."""
    names = ", ".join(column.name for column in columns)
    if not paths:
        casts = ", ".join(
            f"CAST(NULL AS {DUCKDB_TYPES[c.type if isinstance(c, TableColumn) else c.presto_type]}) AS {c.name}"
            for c in columns
        )
        return f"SELECT {casts} WHERE false"
    files = ", ".join(literal(str(path)) for path in paths)
    return f"SELECT {names} FROM read_parquet([{files}], union_by_name = true)"
