"""The tables and views of ``sql/schema.json`` (the one definition the AWS catalog and the local
engine share) as Python objects. ``infra`` reads the same file by path, never this module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
SCHEMA_FILE = SQL_DIR / "schema.json"


@dataclass(frozen=True, slots=True)
class TableColumn:
    name: str
    type: str  # Hive type


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[TableColumn, ...]
    partition_keys: tuple[TableColumn, ...]


@dataclass(frozen=True, slots=True)
class ViewColumn:
    name: str
    hive_type: str
    presto_type: str


@dataclass(frozen=True, slots=True)
class View:
    name: str
    sql: str  # a SELECT in Trino (Athena engine v3) SQL
    columns: tuple[ViewColumn, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A view materialized by each run: a table ``name`` with the columns of ``view``."""

    name: str
    view: str
    in_catalog: bool  # a Glue table (claim_mbis only feeds the next run's fold)


@dataclass(frozen=True, slots=True)
class Catalog:
    key_template: str
    tables: tuple[Table, ...]
    views: tuple[View, ...]  # in dependency order
    snapshots: tuple[Snapshot, ...] = ()

    def table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)

    def view(self, name: str) -> View:
        return next(view for view in self.views if view.name == name)

    def snapshot(self, name: str) -> Snapshot:
        return next(snapshot for snapshot in self.snapshots if snapshot.name == name)

    def columns(self, name: str) -> tuple[ViewColumn, ...]:
        """A view's output columns, or a snapshot's (its view's)."""
        found = next((snapshot.view for snapshot in self.snapshots if snapshot.name == name), name)
        return self.view(found).columns


def load_catalog(schema_file: Path = SCHEMA_FILE) -> Catalog:
    document = json.loads(schema_file.read_text(encoding="utf-8"))
    tables = tuple(
        Table(
            table["name"],
            tuple(TableColumn(column["name"], column["type"]) for column in table["columns"]),
            tuple(TableColumn(key["name"], key["type"]) for key in table["partition_keys"]),
        )
        for table in document["tables"]
    )
    views = tuple(
        View(
            view["name"],
            (schema_file.parent / view["sql"]).read_text(encoding="utf-8"),
            tuple(ViewColumn(c["name"], c["hive_type"], c["presto_type"]) for c in view["columns"]),
        )
        for view in document["views"]
    )
    snapshots = tuple(Snapshot(item["name"], item["view"], item["catalog"]) for item in document.get("snapshots", ()))
    return Catalog(document["key_template"], tables, views, snapshots)
