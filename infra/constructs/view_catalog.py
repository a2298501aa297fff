"""The SQL on FHIR view tables in the Glue catalog, beside the claims tables: one Parquet table per
view (the default CMS views and the user's folder) and ``view_rejects``, partitioned like the claims
tables by projection, and each view's ``<view>_current`` as an Athena view (a claim view joined to
``claims_current``). What they are comes from the views engine (infra.view_catalog_schema)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_glue as glue
from constructs import Construct

from infra.catalog_schema import presto_view_text
from infra.constructs.catalog import CURATED_PARTITION_KEYS, Catalog, projected_parameters
from infra.view_catalog_schema import load_view_catalog

_PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
_PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


class ViewCatalog(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, catalog: Catalog, sources: str, bucket_name: str,
        views_folder: str | None,
    ) -> None:  # fmt: skip
        super().__init__(scope, construct_id)
        self._catalog = catalog
        self._sources = sources
        self._bucket_name = bucket_name
        described = load_view_catalog(views_folder)
        self.tables: dict[str, glue.CfnTable] = {}
        self.views: dict[str, glue.CfnTable] = {}
        rejects = described["rejects_table"]
        self._table(rejects["name"], "resources a view could not give rows for, and why", rejects["columns"])
        for table in described["tables"]:
            description = f"SQL on FHIR view {table['name']} ({table['origin']}): {table['description']}"[:2048]
            self._table(table["name"], description, table["columns"])
        for table in described["tables"]:
            current = table["current"]
            columns = [{**c, "hive_type": c["hive_type"]} for c in table["columns"]]
            what = "each claim family's current version" if table["claim_view"] else "each resource's latest record"
            self._view(current["name"], f"{table['name']}: the rows of {what}", current["sql"], columns, table)

    def _table(self, name: str, description: str, columns: list[dict[str, str]]) -> None:
        prefix = f"curated/${{source}}/{name}/"
        template = f"s3://{self._bucket_name}/{prefix}run_month=${{run_month}}/"
        parameters = {**projected_parameters(self._sources, template, "run_month"), "classification": "parquet"}
        data = [c for c in columns if c["name"] not in CURATED_PARTITION_KEYS]  # source: served from the partition
        self.tables[name] = glue.CfnTable(
            self, name, catalog_id=Aws.ACCOUNT_ID, database_name=self._catalog.database.ref,
            table_input=glue.CfnTable.TableInputProperty(
                name=name, description=description, table_type="EXTERNAL_TABLE", parameters=parameters,
                partition_keys=[glue.CfnTable.ColumnProperty(name=k, type="string") for k in CURATED_PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(c) for c in data],
                    location=f"s3://{self._bucket_name}/curated/",
                    input_format=_PARQUET_INPUT, output_format=_PARQUET_OUTPUT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=_PARQUET_SERDE),
                ),
            ),
        )  # fmt: skip
        self.tables[name].add_resource_dependency(self._catalog.database)

    def _view(
        self, name: str, description: str, sql: str, columns: list[dict[str, Any]], table: dict[str, Any]
    ) -> None:
        view = glue.CfnTable(
            self, name, catalog_id=Aws.ACCOUNT_ID, database_name=self._catalog.database.ref,
            table_input=glue.CfnTable.TableInputProperty(
                name=name, description=description, table_type="VIRTUAL_VIEW",
                parameters={"presto_view": "true", "comment": "Presto View"},
                view_original_text=presto_view_text(sql, self._catalog.database_name, columns),
                view_expanded_text="/* Presto View */", partition_keys=[],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(c) for c in columns], serde_info=glue.CfnTable.SerdeInfoProperty()
                ),
            ),
        )  # fmt: skip
        view.add_resource_dependency(self.tables[table["name"]])
        if table["claim_view"]:
            view.add_resource_dependency(self._catalog.tables["claims_current"])  # a snapshot table
        self.views[name] = view


def _column(column: dict[str, str]) -> glue.CfnTable.ColumnProperty:
    return glue.CfnTable.ColumnProperty(
        name=column["name"], type=column["hive_type"], comment=column.get("description")
    )
