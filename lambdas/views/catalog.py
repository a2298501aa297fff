"""The view tables of a deployment: the default CMS views (``views/defaults/*.json``) and the
user's folder of ViewDefinitions, checked, with the columns each table's Parquet files hold.

A table's file columns: ``source``, the view's columns, then the keys that join a row back to what
landed: ``resource_id``, for a claim view (resource ExplanationOfBenefit) ``claim_group_id`` and
``claim_id``, then ``last_updated``, ``last_updated_utc``, ``run_id``, ``object_key``, ``line``.

``python -m views.catalog [--user-views DIR]`` prints the tables as JSON, or one line naming the
view and its problem on standard error with exit status 1: what ``infra`` runs at synthesis (it
imports nothing of ``lambdas``), so an invalid view fails ``cdk synth`` with the engine's message.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from views.column_types import ColumnTypeError, hive_type, presto_type
from views.compile import CompiledView, compile_view
from views.definition import ViewDefinition, load_view
from views.errors import ViewDefinitionError, ViewError

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
CLAIM_RESOURCE = "ExplanationOfBenefit"
REJECTS_TABLE = "view_rejects"
#: names the curated tables and views of the claims layer already use (claims/sql/schema.json)
TAKEN_NAMES = frozenset({
    "claim_version_rows", "patients", "partial_claims", "deleted_resources", "rejects", "claim_versions",
    "patients_current", "claims_current", "claim_duplicates", REJECTS_TABLE,
})  # fmt: skip
CURRENT_SUFFIX = "_current"


@dataclass(frozen=True, slots=True)
class TableColumn:
    name: str
    hive_type: str
    description: str

    @property
    def presto_type(self) -> str:
        return presto_type(self.hive_type)


def key_columns(claim_view: bool) -> tuple[TableColumn, ...]:
    claim = (
        (
            TableColumn("claim_group_id", "string", "the claim family (claim-group identifier), as in claims_current"),
            TableColumn("claim_id", "string", "the claim version (clm_id, Part D pde_id), as in claims_current"),
        )
        if claim_view
        else ()
    )
    return (
        TableColumn("resource_id", "string", "the resource's id"),
        *claim,
        TableColumn("last_updated", "string", "meta.lastUpdated exactly as in the data"),
        TableColumn("last_updated_utc", "timestamp", "meta.lastUpdated, UTC, milliseconds: orders the records"),
        TableColumn("run_id", "string", "the run that landed the record"),
        TableColumn("object_key", "string", "the landed NDJSON object"),
        TableColumn("line", "bigint", "1-based line number in the landed NDJSON"),
    )


SOURCE = TableColumn("source", "string", "the source name; also the first partition key")
REJECT_COLUMNS = (
    SOURCE,
    TableColumn("view", "string", "the view whose rows the resource could not give"),
    TableColumn("resource_type", "string", "the resource's type"),
    TableColumn("resource_id", "string", "the resource's id"),
    TableColumn("run_id", "string", "the run that landed the record"),
    TableColumn("object_key", "string", "the landed NDJSON object"),
    TableColumn("line", "bigint", "1-based line number in the landed NDJSON"),
    TableColumn("reason", "string", "why (a column with several values, a value its type cannot hold, ...)"),
)
RESERVED = frozenset(column.name for column in (SOURCE, *key_columns(True))) | {"run_date", "run_month"}


@dataclass(frozen=True)
class ViewTable:
    definition: ViewDefinition
    origin: str  # "default" or the user's file
    columns: tuple[TableColumn, ...]  # in file order

    @property
    def name(self) -> str:
        return self.definition.label

    @property
    def resource(self) -> str:
        return self.definition.resource

    @property
    def claim_view(self) -> bool:
        return self.resource == CLAIM_RESOURCE

    def compile(self) -> CompiledView:
        return compile_view(self.definition)


def _table(document: Any, label: str, origin: str) -> ViewTable:
    definition = load_view(document, label)
    name = definition.label
    if definition.name is None:
        raise ViewDefinitionError(name, "needs a name: its table's name (letters, digits, _)")
    if not definition.name.islower() or definition.name.endswith(CURRENT_SUFFIX):
        raise ViewDefinitionError(name, f"name must be lower case and not end in {CURRENT_SUFFIX} (a table name)")
    if name in TAKEN_NAMES:
        raise ViewDefinitionError(name, "is the name of a claims table or view: choose another")
    compile_view(definition)  # its FHIRPath: every path parses and every function and constant is known
    view_columns = []
    for column in definition.columns:
        if column.name.lower() in RESERVED:
            raise ViewDefinitionError(name, f"column name {column.name!r} is reserved: the curation adds it")
        try:
            view_columns.append(TableColumn(column.name, hive_type(column), column.description or ""))
        except ColumnTypeError as error:
            raise ViewDefinitionError(name, str(error)) from None
    if len({column.name.lower() for column in view_columns}) != len(view_columns):
        raise ViewDefinitionError(name, "two column names differ only in case (Athena's names are lower case)")
    keys = key_columns(definition.resource == CLAIM_RESOURCE)
    return ViewTable(definition, origin, (SOURCE, *view_columns, *keys))


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ViewDefinitionError(path.stem, f"{path}: not a JSON file: {error}") from None


def load_tables(user_views: Path | None = None) -> tuple[ViewTable, ...]:
    """The default views, then the user's (``*.json`` of ``user_views``, by file name)."""
    tables = [_table(_read(path), path.stem, "default") for path in sorted(DEFAULTS_DIR.glob("*.json"))]
    if user_views is not None:
        if not user_views.is_dir():
            raise ViewDefinitionError(str(user_views), "the views folder does not exist")
        for path in sorted(user_views.glob("*.json")):
            table = _table(_read(path), path.stem, str(path))
            clash = next((t for t in tables if t.name == table.name), None)
            if clash is not None:
                raise ViewDefinitionError(
                    table.name, f"{path}: a view named {table.name} exists already ({clash.origin})"
                )
            tables.append(table)
    return tuple(tables)


def describe(tables: tuple[ViewTable, ...]) -> dict[str, Any]:
    """The tables as JSON: what infra builds the Glue catalog and the curation Choice from."""
    from views.sql import current_name, current_view_sql  # noqa: PLC0415 - views.sql imports this module

    return {
        "rejects_table": {"name": REJECTS_TABLE, "columns": [_column(c) for c in REJECT_COLUMNS]},
        "tables": [
            {
                "name": table.name,
                "resource": table.resource,
                "claim_view": table.claim_view,
                "origin": table.origin,
                "description": table.definition.description or "",
                "columns": [_column(c) for c in table.columns],
                "current": {"name": current_name(table), "sql": current_view_sql(table)},
            }
            for table in tables
        ],
        "resource_types": sorted({table.resource for table in tables}),
    }


def _column(column: TableColumn) -> dict[str, str]:
    return {
        "name": column.name,
        "hive_type": column.hive_type,
        "presto_type": column.presto_type,
        "description": column.description,
    }


def main(argv: list[str]) -> int:
    user_views = Path(argv[argv.index("--user-views") + 1]) if "--user-views" in argv else None
    try:
        tables = load_tables(user_views)
    except ViewError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    sys.stdout.write(json.dumps(describe(tables)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
