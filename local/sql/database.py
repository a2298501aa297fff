"""DuckDB over a folder laid out like the bucket: the claims tables and views (local.claims.query),
the SQL on FHIR view tables (the default views and a folder of the user's), ``view_rejects``, and each
view's ``_current`` view, rendered from the same Trino SQL the stack gives Athena."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from local.claims.formats import QueryResult
from local.claims.query import ClaimsDatabase, render_for_duckdb
from local.claims.views import sql_literal
from views.catalog import REJECT_COLUMNS, REJECTS_TABLE, TableColumn, load_tables
from views.sql import current_name, current_view_sql

_SCALARS = {"string": "VARCHAR", "boolean": "BOOLEAN", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE",
            "date": "DATE", "timestamp": "TIMESTAMP"}  # fmt: skip


class SqlError(Exception):
    """DuckDB refused the query; the message is DuckDB's first line."""


def duckdb_type(hive: str) -> str:
    if hive.startswith("array<"):
        return duckdb_type(hive[6:-1]) + "[]"
    match = re.match(r"^decimal\((\d+),(\d+)\)$", hive)
    return f"DECIMAL({match.group(1)},{match.group(2)})" if match else _SCALARS[hive]


class SqlDatabase:
    """Every table and view of the stack's catalog (but the raw_* tables), over ``root/curated/``."""

    def __init__(self, root: Path, user_views: Path | None = None) -> None:
        self.claims = ClaimsDatabase(root)
        self.connection = self.claims.connection
        curated = root / "curated"
        tables = load_tables(user_views)
        self._table(curated, REJECTS_TABLE, REJECT_COLUMNS)
        for table in tables:
            self._table(curated, table.name, table.columns)
        for table in tables:
            self.connection.execute(
                f"CREATE VIEW {current_name(table)} AS {render_for_duckdb(current_view_sql(table))}"
            )

    def _table(self, curated: Path, name: str, columns: tuple[TableColumn, ...]) -> None:
        if any(curated.glob(f"*/{name}/run_month=*/*.parquet")):
            pattern = sql_literal(str(curated / "*" / name / "run_month=*" / "*.parquet"))
            self.connection.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet({pattern}, hive_partitioning = true, "
                "hive_types = {'run_month': VARCHAR}, union_by_name = true)"
            )
            return
        # a view no landed file gave rows yet: there, empty, so a query of it answers nothing
        declared = ", ".join(f"{column.name} {duckdb_type(column.hive_type)}" for column in columns)
        self.connection.execute(f"CREATE TABLE {name} ({declared}, run_month VARCHAR)")

    def query(self, sql: str) -> QueryResult:
        try:
            cursor = self.connection.execute(sql)
            rows = cursor.fetchall()
        except duckdb.Error as error:
            raise SqlError(str(error).strip().splitlines()[0]) from None
        columns = tuple(column[0] for column in cursor.description or ())
        return QueryResult(columns, rows)
