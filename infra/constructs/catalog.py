"""The Glue catalog: a database, the curated claims tables and views of ``schema.json``, and one raw
table per landed resource type, all partitioned by projection (no crawler, no partitions to add).

Partition values are projected: ``source`` from the configured sources; the curated tables' ``run_month``
from every month since 2020-01 (the landing month: a query enumerates one folder a month, not ~2,500
day folders), the raw tables' ``run_date`` from every day since 2020-01-01 (the landing layout's day
folders; a query that names one reads only that day's prefix).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.catalog_schema import (
    RAW_COLUMN,
    RAW_ERRORS_TABLE,
    key_segment,
    load_schema,
    presto_view_text,
    raw_table_name,
    raw_types,
)
from infra.config import IngestConfig

CURATED_PARTITION_KEYS = ("source", "run_month")
#: date partition key -> (format, the range projected: NOW is when the query runs, interval unit)
DATE_PROJECTIONS = {
    "run_date": ("yyyy-MM-dd", "2020-01-01,NOW", "DAYS"),
    "run_month": ("yyyy-MM", "2020-01,NOW", "MONTHS"),
}
_PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
# A snapshot table reads the files its location's manifest lists, one s3:// URI a line: the resolve
# step switches a source's snapshot with one PUT (Athena reads Delta Lake and Hudi tables this way).
_SYMLINKED_PARQUET = {
    "input_format": "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
# Gzip text (read by its .gz extension), one column per line: the field delimiter is U+0001, which a
# JSON text never holds unescaped (RFC 8259 escapes every control character), so a line is never split.
_NDJSON_GZ = {
    "input_format": "org.apache.hadoop.mapred.TextInputFormat",
    "output_format": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "serde": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    "serde_parameters": {"field.delim": "\u0001"},
}


def projected_parameters(sources: str, location_template: str, date_key: str = "run_date") -> dict[str, str]:
    """A table's parameters that project its ``source`` (enum of ``sources``) and ``date_key`` partitions
    (``run_date``: the landing layout's days; ``run_month``: the curated tables' months)."""
    date_format, date_range, unit = DATE_PROJECTIONS[date_key]
    return {
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.source.type": "enum",
        "projection.source.values": sources,
        f"projection.{date_key}.type": "date",
        f"projection.{date_key}.format": date_format,
        f"projection.{date_key}.range": date_range,
        f"projection.{date_key}.interval": "1",
        f"projection.{date_key}.interval.unit": unit,
        "storage.location.template": location_template,
    }


class Catalog(Construct):
    """Tables and views over the landing bucket, in the database ``config.catalog.database``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: IngestConfig, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self._bucket = bucket
        self._sources = ",".join(key_segment(source.name) for source in config.sources)
        self.database_name = config.catalog.database
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="bulk-fhir-ingest: landed FHIR NDJSON (raw_*), curated claims and their views",
            ),
        )
        schema = load_schema()
        self.tables: dict[str, glue.CfnTable] = {}  # every table, raw_* included
        for table in schema["tables"]:
            self._build_curated_table(table)
        views = {view["name"]: view for view in schema["views"]}
        for snapshot in schema.get("snapshots", ()):
            if snapshot["catalog"]:
                self._build_snapshot_table(snapshot, views[snapshot["view"]]["columns"])
        curated = list(self.tables.values())
        for resource_type in raw_types(config.sources):
            self._build_raw_table(raw_table_name(resource_type), f"fhir/${{source}}/{key_segment(resource_type)}/",
                                  f"every landed {resource_type} resource, one NDJSON line each")  # fmt: skip
        self._build_raw_table(RAW_ERRORS_TABLE, "errors/${source}/", "the servers' error files (OperationOutcome)")
        self.views: dict[str, glue.CfnTable] = {}
        for view in schema["views"]:  # schema.json lists them in dependency order
            self._build_view(view, curated)

    def _build_curated_table(self, table: dict[str, Any]) -> None:
        keys = [key["name"] for key in table["partition_keys"]]
        if tuple(keys) != CURATED_PARTITION_KEYS:
            raise ValueError(f"schema.json: {table['name']} is partitioned by {keys}, not {CURATED_PARTITION_KEYS}")
        # The Parquet files hold the source column too; Glue serves it from the partition instead.
        columns = [column for column in table["columns"] if column["name"] not in keys]
        self._table(
            table["name"],
            table["description"],
            columns,
            f"curated/${{source}}/{table['name']}/",
            _PARQUET,
            classification="parquet",
            date_key="run_month",
        )

    def _build_snapshot_table(self, snapshot: dict[str, Any], columns: list[dict[str, str]]) -> None:
        """A view materialized per run: the latest resolved snapshot of each source, partitioned by
        source alone (``curated/<source>/_current/<table>/manifest``)."""
        template = f"s3://{self._bucket.bucket_name}/curated/${{source}}/_current/{snapshot['name']}/"
        parameters = {
            "EXTERNAL": "TRUE",
            "projection.enabled": "true",
            "projection.source.type": "enum",
            "projection.source.values": self._sources,
            "storage.location.template": template,
            "classification": "parquet",
        }
        self.tables[snapshot["name"]] = self._glue_table(
            snapshot["name"],
            glue.CfnTable.TableInputProperty(
                name=snapshot["name"],
                description=snapshot["description"],
                table_type="EXTERNAL_TABLE",
                parameters=parameters,
                partition_keys=[glue.CfnTable.ColumnProperty(name="source", type="string")],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(column, column["hive_type"]) for column in columns if column["name"] != "source"],
                    location=f"s3://{self._bucket.bucket_name}/curated/",
                    input_format=_SYMLINKED_PARQUET["input_format"],
                    output_format=_SYMLINKED_PARQUET["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=_SYMLINKED_PARQUET["serde"]),
                ),
            ),
        )

    def _build_raw_table(self, name: str, prefix: str, description: str) -> None:
        column = {"name": RAW_COLUMN, "type": "string", "comment": "the NDJSON line: query it with json_extract"}
        self._table(name, description, [column], prefix, _NDJSON_GZ)

    def _table(
        self,
        name: str,
        description: str,
        columns: list[dict[str, str]],
        prefix: str,
        storage: dict[str, Any],
        classification: str | None = None,
        date_key: str = "run_date",
    ) -> None:
        """An external table whose partition ``source``/``<date_key>`` is ``<prefix><date_key>=<value>/``.

        Below that partition folder the landing adds ``<run_id>/``: Athena reads every object under a
        partition's location, in sub-folders too ("Athena reads all data stored in the Amazon S3 folder
        that you specify", https://docs.aws.amazon.com/athena/latest/ug/tables-location-format.html).
        """
        template = f"s3://{self._bucket.bucket_name}/{prefix}{date_key}=${{{date_key}}}/"
        parameters = projected_parameters(self._sources, template, date_key)
        if classification:
            parameters["classification"] = classification
        self.tables[name] = self._glue_table(
            name,
            glue.CfnTable.TableInputProperty(
                name=name,
                description=description,
                table_type="EXTERNAL_TABLE",
                parameters=parameters,
                partition_keys=[glue.CfnTable.ColumnProperty(name=key, type="string") for key in ("source", date_key)],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(column, column["type"]) for column in columns],
                    # the folder above the partitions (Athena projects them; other engines find no partition)
                    location=f"s3://{self._bucket.bucket_name}/{prefix.partition('$')[0]}",
                    input_format=storage["input_format"],
                    output_format=storage["output_format"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=storage["serde"], parameters=storage.get("serde_parameters")
                    ),
                ),
            ),
        )

    def _build_view(self, view: dict[str, Any], curated: list[glue.CfnTable]) -> None:
        """A view as Athena stores one: a VIRTUAL_VIEW whose original text carries the Trino SQL and
        the output columns' Presto types, and whose storage descriptor lists their Hive types."""
        table = self._glue_table(
            view["name"],
            glue.CfnTable.TableInputProperty(
                name=view["name"],
                description=view["description"],
                table_type="VIRTUAL_VIEW",
                parameters={"presto_view": "true", "comment": "Presto View"},
                view_original_text=presto_view_text(view["sql"], self.database_name, view["columns"]),
                view_expanded_text="/* Presto View */",
                partition_keys=[],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(column, column["hive_type"]) for column in view["columns"]],
                    serde_info=glue.CfnTable.SerdeInfoProperty(),
                ),
            ),
        )
        # Athena resolves a view's tables when it is queried, not when Glue stores it; the order is
        # for humans reading the deployment and for deletion.
        for earlier in (*curated, *self.views.values()):
            table.add_resource_dependency(earlier)
        self.views[view["name"]] = table

    def _glue_table(self, name: str, table_input: glue.CfnTable.TableInputProperty) -> glue.CfnTable:
        # database_name is the database's Ref (its name), so CloudFormation creates the database first
        return glue.CfnTable(
            self, name, catalog_id=Aws.ACCOUNT_ID, database_name=self.database.ref, table_input=table_input
        )


def _column(column: dict[str, str], hive_type: str) -> glue.CfnTable.ColumnProperty:
    return glue.CfnTable.ColumnProperty(name=column["name"], type=hive_type, comment=column.get("comment"))
