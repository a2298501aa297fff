"""sql/schema.json and sql/*.sql are the one definition of the tables and views: the writer's
columns, the key layout, the Trino grammar and what DuckDB makes of the views must all agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claims import KEY_TEMPLATE, ROW_TYPES, SCHEMA_FILE, columns, load_catalog
from claims.catalog import View
from local.claims.query import ClaimsDatabase
from tests.support.claims import ab2d_eob, day, land
from tests.support.trino import assert_trino_view

CATALOG = load_catalog()
DUCKDB_TYPES = {
    "varchar": "VARCHAR",
    "bigint": "BIGINT",
    "timestamp(3)": "TIMESTAMP",
    "array(varchar)": "VARCHAR[]",
    "boolean": "BOOLEAN",
}
HIVE_OF_PRESTO = {
    "varchar": "string",
    "bigint": "bigint",
    "timestamp(3)": "timestamp",
    "array(varchar)": "array<string>",
    "boolean": "boolean",
}


def test_the_tables_in_the_file_are_the_writers_columns() -> None:
    assert [table.name for table in CATALOG.tables] == list(ROW_TYPES)
    for table in CATALOG.tables:
        assert [(c.name, c.type) for c in table.columns] == [(c.name, c.type) for c in columns(table.name)]
        assert [key.name for key in table.partition_keys] == ["source", "run_month"]


def test_the_key_template_is_the_one_the_curation_writes() -> None:
    assert json.loads(SCHEMA_FILE.read_text())["key_template"] == KEY_TEMPLATE == CATALOG.key_template


@pytest.mark.parametrize("view", CATALOG.views, ids=lambda view: view.name)
def test_each_view_is_one_trino_select_over_known_names(view: View) -> None:
    assert_trino_view(
        view.sql,
        [c.name for c in view.columns],  # the output columns recorded for Glue
        tables=[table.name for table in CATALOG.tables],
        views=[v.name for v in CATALOG.views],
        earlier=[v.name for v in CATALOG.views[: CATALOG.views.index(view)]],
    )
    assert all(HIVE_OF_PRESTO[c.presto_type] == c.hive_type for c in view.columns)


def test_duckdb_runs_every_view_with_the_recorded_column_types(tmp_path: Path) -> None:
    land(tmp_path, "s", "20200131T000000.000Z-aaaaaa", "2020-01-31", [ab2d_eob("1", "2", "active", day("01/01/2020"))])
    database = ClaimsDatabase(tmp_path)
    for view in CATALOG.views:
        described = database.connection.execute(f"DESCRIBE {view.name}").fetchall()
        assert [(row[0], row[1]) for row in described] == [(c.name, DUCKDB_TYPES[c.presto_type]) for c in view.columns]
