"""The catalog: the Glue database, the tables and views of schema.json, the raw landed tables, the
Athena workgroup, the query policy and the outputs, as the template holds them."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from cdk_helpers import VARIANT_CATALOG, Synth, as_list

from claims.layout import safe_part
from infra.asl_extract import resolve
from infra.catalog_schema import SCHEMA_FILE, key_segment, raw_table_name, raw_types
from infra.config import load_config
from infra.nag import flatten_reference
from ingest.layout import data_key
from tests.support.trino import assert_trino_view

SCHEMA = json.loads(SCHEMA_FILE.read_text())
PROJECTED = {
    "EXTERNAL": "TRUE",
    "projection.enabled": "true",
    "projection.source.type": "enum",
    "projection.run_date.type": "date",
    "projection.run_date.format": "yyyy-MM-dd",
    "projection.run_date.range": "2020-01-01,NOW",
    "projection.run_date.interval": "1",
    "projection.run_date.interval.unit": "DAYS",
}
# the curated tables: one folder a month, not ~2,500 day folders per source per query (issue #15)
MONTHLY = {
    "EXTERNAL": "TRUE",
    "projection.enabled": "true",
    "projection.source.type": "enum",
    "projection.run_month.type": "date",
    "projection.run_month.format": "yyyy-MM",
    "projection.run_month.range": "2020-01,NOW",
    "projection.run_month.interval": "1",
    "projection.run_month.interval.unit": "MONTHS",
}
PARTITION_KEYS = [{"Name": "source", "Type": "string"}, {"Name": "run_date", "Type": "string"}]
MONTHLY_KEYS = [{"Name": "source", "Type": "string"}, {"Name": "run_month", "Type": "string"}]


def tables(synth: Synth) -> dict[str, dict[str, Any]]:
    """Glue table name -> its TableInput, with every reference resolved (the bucket is its logical id)."""
    found = {}
    for resource in synth.resources("AWS::Glue::Table").values():
        found[resource["Properties"]["TableInput"]["Name"]] = resolve(resource["Properties"]["TableInput"], synth.json)
    return found


def bucket(synth: Synth) -> str:
    landing = next(lid for lid in synth.resources("AWS::S3::Bucket") if lid.startswith("StorageLanding"))
    return str(resolve({"Ref": landing}, synth.json))


def decode_view(text: str) -> dict[str, Any]:
    match = re.fullmatch(r"/\* Presto View: ([A-Za-z0-9+/=]+) \*/", text)
    assert match, text[:80]
    decoded: dict[str, Any] = json.loads(base64.b64decode(match.group(1)))
    return decoded


def test_one_database_named_by_config(default: Synth, variant: Synth) -> None:
    for synth, name in ((default, "bulk_fhir_ingest"), (variant, VARIANT_CATALOG["database"])):
        database = synth.only("AWS::Glue::Database")["Properties"]
        assert database["DatabaseInput"]["Name"] == name
        assert database["CatalogId"] == {"Ref": "AWS::AccountId"}
        for table in synth.resources("AWS::Glue::Table").values():
            assert table["Properties"]["DatabaseName"] == {"Ref": next(iter(synth.resources("AWS::Glue::Database")))}


@pytest.mark.parametrize("table", SCHEMA["tables"], ids=lambda table: table["name"])
def test_each_curated_table_is_its_parquet_files_projected_by_source_and_run_month(
    default: Synth, table: dict[str, Any]
) -> None:
    glue = tables(default)[table["name"]]
    assert glue["TableType"] == "EXTERNAL_TABLE"
    assert glue["PartitionKeys"] == MONTHLY_KEYS
    # the data columns: the table's columns without the partition keys, with their Hive types
    expected = [(c["name"], c["type"], c["comment"]) for c in table["columns"] if c["name"] != "source"]
    columns = glue["StorageDescriptor"]["Columns"]
    assert [(c["Name"], c["Type"], c["Comment"]) for c in columns] == expected
    assert all(len(c["Comment"]) <= 255 for c in columns)  # Glue's limit
    storage = glue["StorageDescriptor"]
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    assert storage["InputFormat"].endswith("MapredParquetInputFormat")
    parameters = glue["Parameters"]
    assert parameters == {
        **MONTHLY,
        "projection.source.values": "bcda-sandbox",
        "storage.location.template": f"s3://{bucket(default)}/curated/${{source}}/{table['name']}/run_month=${{run_month}}/",
        "classification": "parquet",
    }


def test_the_location_template_is_where_the_curation_writes(default: Synth) -> None:
    """The template, filled with a partition's values, is the folder of the key the curation writes."""
    template = tables(default)["claim_version_rows"]["Parameters"]["storage.location.template"]
    key = SCHEMA["key_template"].format(
        source="bcda-sandbox", table="claim_version_rows", run_month="2026-06", run_id="r1", file_index=3
    )
    folder = template.replace("${source}", "bcda-sandbox").replace("${run_month}", "2026-06")
    assert f"s3://{bucket(default)}/{key}".startswith(folder)
    assert "/" not in f"s3://{bucket(default)}/{key}".removeprefix(folder)


def test_raw_tables_one_per_landed_type_and_errors(default: Synth, variant: Synth) -> None:
    landing = bucket(default)
    expected = {
        "raw_coverage": "Coverage",
        "raw_explanation_of_benefit": "ExplanationOfBenefit",
        "raw_patient": "Patient",
    }
    found = {name: table for name, table in tables(default).items() if name.startswith("raw_")}
    assert set(found) == {*expected, "raw_errors"}
    for name, resource_type in expected.items():
        table = found[name]
        template = table["Parameters"]["storage.location.template"]
        assert template == f"s3://{landing}/fhir/${{source}}/{resource_type}/run_date=${{run_date}}/"
        # a landed key lies below its partition's folder, in the run's sub-folder
        key = data_key("bcda-sandbox", "run-1", "2026-06-01", "output", resource_type, 1)
        folder = template.replace("${source}", "bcda-sandbox").replace("${run_date}", "2026-06-01")
        assert f"s3://{landing}/{key}".startswith(folder)
    errors = found["raw_errors"]["Parameters"]["storage.location.template"]
    assert errors == f"s3://{landing}/errors/${{source}}/run_date=${{run_date}}/"
    error_key = data_key("bcda-sandbox", "run-1", "2026-06-01", "error", "OperationOutcome", 1)
    assert f"s3://{landing}/{error_key}".startswith(
        errors.replace("${source}", "bcda-sandbox").replace("${run_date}", "2026-06-01")
    )
    for table in found.values():
        assert table["PartitionKeys"] == PARTITION_KEYS
        assert {k: v for k, v in table["Parameters"].items() if k in PROJECTED} == PROJECTED
        storage = table["StorageDescriptor"]
        assert storage["Columns"] == [
            {"Name": "resource", "Type": "string", "Comment": "the NDJSON line: query it with json_extract"}
        ]
        assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
        assert storage["SerdeInfo"] == {
            "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            "Parameters": {"field.delim": "\u0001"},
        }
    # two sources: both projected, in configuration order
    variant_raw = tables(variant)["raw_patient"]["Parameters"]
    assert variant_raw["projection.source.values"] == "bcda-sandbox,ab2d-prod"


def test_raw_types_are_the_sources_types_and_the_usual_ones_for_a_source_asking_for_all() -> None:
    bcda = {"name": "b", "api": "bcda", "base_url": "https://sandbox.bcda.cms.gov"}
    ab2d = {"name": "a", "api": "ab2d", "base_url": "https://api.ab2d.cms.gov"}
    smart = {"name": "s", "api": "smart", "base_url": "https://ehr.example.org/fhir", "types": ["Observation"]}
    everything = {"name": "e", "api": "smart", "base_url": "https://ehr.example.org/fhir"}
    assert raw_types(load_config({"sources": [ab2d]}).sources) == ("ExplanationOfBenefit",)
    assert raw_types(load_config({"sources": [bcda, ab2d, smart]}).sources) == (
        "Coverage", "ExplanationOfBenefit", "Observation", "Patient",
    )  # fmt: skip
    assert raw_types(load_config({"sources": [smart, everything]}).sources) == (
        "Claim", "ClaimResponse", "Coverage", "ExplanationOfBenefit", "Observation", "Patient",
    )  # fmt: skip
    names = [raw_table_name(kind) for kind in ("ExplanationOfBenefit", "ClaimResponse", "Claim", "MedicationRequest")]
    assert names == ["raw_explanation_of_benefit", "raw_claim_response", "raw_claim", "raw_medication_request"]


@pytest.mark.parametrize("name", ["bcda-sandbox", "a.b", "a/b", "ümlaut", "", "x y"])
def test_projected_source_values_are_the_key_segments_landing_and_curation_write(name: str) -> None:
    assert key_segment(name) == safe_part(name)
    assert data_key(name, "r", "2026-06-01", "output", "Patient", 1).split("/")[1] == key_segment(name)


@pytest.mark.parametrize("index", range(len(SCHEMA["views"])), ids=[view["name"] for view in SCHEMA["views"]])
def test_each_view_is_a_presto_view_of_its_sql_file(default: Synth, variant: Synth, index: int) -> None:
    view = SCHEMA["views"][index]
    for synth, database in ((default, "bulk_fhir_ingest"), (variant, VARIANT_CATALOG["database"])):
        glue = tables(synth)[view["name"]]
        assert glue["TableType"] == "VIRTUAL_VIEW"
        assert glue["Parameters"] == {"presto_view": "true", "comment": "Presto View"}
        assert glue["ViewExpandedText"] == "/* Presto View */"
        assert glue["PartitionKeys"] == []
        assert [(c["Name"], c["Type"]) for c in glue["StorageDescriptor"]["Columns"]] == [
            (c["name"], c["hive_type"]) for c in view["columns"]
        ]
        decoded = decode_view(glue["ViewOriginalText"])
        assert decoded["originalSql"] == (SCHEMA_FILE.parent / view["sql"]).read_text()
        assert (decoded["catalog"], decoded["schema"]) == ("awsdatacatalog", database)
        assert decoded["columns"] == [{"name": c["name"], "type": c["presto_type"]} for c in view["columns"]]
    # what Athena will run is one Trino SELECT over the catalog's tables and the views before it
    assert_trino_view(
        decoded["originalSql"],
        [column["name"] for column in decoded["columns"]],
        tables=[table["name"] for table in SCHEMA["tables"]],
        views=[v["name"] for v in SCHEMA["views"]],
        earlier=[v["name"] for v in SCHEMA["views"][:index]],
    )


@pytest.mark.parametrize("snapshot", [s for s in SCHEMA["snapshots"] if s["catalog"]], ids=lambda s: s["name"])
def test_each_snapshot_table_reads_the_files_its_sources_manifest_lists(
    default: Synth, snapshot: dict[str, Any]
) -> None:
    # issue #15: claims_current, claim_versions and patients_current read each source's latest
    # snapshot (one PUT of curated/<source>/_current/<table>/manifest switches it), not all of history
    glue = tables(default)[snapshot["name"]]
    assert glue["PartitionKeys"] == [{"Name": "source", "Type": "string"}]
    storage = glue["StorageDescriptor"]
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    view = next(v for v in SCHEMA["views"] if v["name"] == snapshot["view"])
    expected = [(c["name"], c["hive_type"]) for c in view["columns"] if c["name"] != "source"]
    assert [(c["Name"], c["Type"]) for c in storage["Columns"]] == expected
    assert glue["Parameters"]["storage.location.template"] == (
        f"s3://{bucket(default)}/curated/${{source}}/_current/{snapshot['name']}/"
    )
    assert "projection.run_month.type" not in glue["Parameters"]


def test_views_are_created_after_the_tables_and_views_they_may_read(default: Synth) -> None:
    by_name = {r["Properties"]["TableInput"]["Name"]: lid for lid, r in default.resources("AWS::Glue::Table").items()}
    curated = {by_name[table["name"]] for table in SCHEMA["tables"]}
    curated |= {by_name[snapshot["name"]] for snapshot in SCHEMA["snapshots"] if snapshot["catalog"]}
    for index, view in enumerate(SCHEMA["views"]):
        earlier = {by_name[v["name"]] for v in SCHEMA["views"][:index]}
        depends = set(default.json["Resources"][by_name[view["name"]]].get("DependsOn", []))
        assert depends == curated | earlier


def test_workgroup_enforces_kms_results_in_the_bucket_and_the_scan_limit(default: Synth, variant: Synth) -> None:
    for synth, name, gigabytes in (
        (default, "bulk-fhir-ingest", 10),
        (variant, VARIANT_CATALOG["workgroup"], VARIANT_CATALOG["bytes_scanned_cutoff_gb"]),
    ):
        workgroup = resolve(synth.only("AWS::Athena::WorkGroup")["Properties"], synth.json)
        key = str(resolve({"Fn::GetAtt": [next(iter(synth.resources("AWS::KMS::Key"))), "Arn"]}, synth.json))
        assert workgroup["Name"] == name
        assert workgroup["State"] == "ENABLED"
        configuration = workgroup["WorkGroupConfiguration"]
        assert configuration == {
            "EnforceWorkGroupConfiguration": True,
            "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
            "BytesScannedCutoffPerQuery": gigabytes * 10**9,
            "PublishCloudWatchMetricsEnabled": True,
            "RequesterPaysEnabled": False,
            "ResultConfiguration": {
                "OutputLocation": f"s3://{bucket(synth)}/athena-results/",
                "ExpectedBucketOwner": "123456789012",
                "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": key},
            },
        }


def test_query_results_expire(default: Synth, variant: Synth) -> None:
    for synth, days in ((default, 30), (variant, VARIANT_CATALOG["results_expiry_days"])):
        landing = next(b for lid, b in synth.resources("AWS::S3::Bucket").items() if lid.startswith("StorageLanding"))
        rules = {rule["Id"]: rule for rule in landing["Properties"]["LifecycleConfiguration"]["Rules"]}
        assert rules["ExpireAthenaResults"] == {
            "Id": "ExpireAthenaResults",
            "Prefix": "athena-results/",
            "ExpirationInDays": days,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "Status": "Enabled",
        }


def test_query_policy_grants_exactly_what_a_query_through_the_workgroup_needs(variant: Synth) -> None:
    (lid,) = [lid for lid in variant.resources("AWS::IAM::ManagedPolicy") if lid.startswith("QueryQueryPolicy")]
    document = variant.json["Resources"][lid]["Properties"]["PolicyDocument"]
    landing = next(lid for lid in variant.resources("AWS::S3::Bucket") if lid.startswith("StorageLanding"))
    key = next(iter(variant.resources("AWS::KMS::Key")))
    account = "arn:<AWS::Partition>:{}:<AWS::Region>:<AWS::AccountId>:"
    statements = {s["Sid"]: s for s in document["Statement"]}
    granted = {
        sid: (sorted(as_list(s["Action"])), sorted(flatten_reference(r) for r in as_list(s["Resource"])))
        for sid, s in statements.items()
    }
    assert granted == {
        "RunQueriesInTheWorkgroup": (
            ["athena:BatchGetQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
             "athena:GetWorkGroup", "athena:ListQueryExecutions", "athena:StartQueryExecution",
             "athena:StopQueryExecution"],
            [account.format("athena") + "workgroup/claims.prod-2"],
        ),
        "ReadTheCatalog": (
            ["glue:GetDatabase", "glue:GetDatabases", "glue:GetPartition", "glue:GetPartitions", "glue:GetTable",
             "glue:GetTables"],
            sorted([account.format("glue") + "catalog", account.format("glue") + "database/claims_prod",
                    account.format("glue") + "table/claims_prod/*"]),
        ),
        "ReadTheData": (["s3:GetObject"], [f"<{landing}.Arn>/{p}*" for p in ("curated/", "errors/", "fhir/")]),
        "ListTheData": (["s3:ListBucket"], [f"<{landing}.Arn>"]),
        "FindTheBucket": (["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"], [f"<{landing}.Arn>"]),
        "WriteAndReadResults": (
            ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
            [f"<{landing}.Arn>/athena-results/*"],
        ),
        "UseTheKeyThroughS3": (["kms:Decrypt", "kms:GenerateDataKey"], [f"<{key}.Arn>"]),
    }  # fmt: skip
    assert statements["ListTheData"]["Condition"] == {
        "StringLike": {"s3:prefix": ["fhir/*", "errors/*", "curated/*", "athena-results/*"]}
    }
    via = statements["UseTheKeyThroughS3"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert flatten_reference(via) == "s3.<AWS::Region>.amazonaws.com"
    # the stack attaches it to no one
    assert not any(lid in json.dumps(r) for r in variant.resources("AWS::IAM::Role").values())


def test_outputs_name_the_database_workgroup_and_policy(variant: Synth) -> None:
    outputs = variant.json["Outputs"]
    assert outputs["GlueDatabase"]["Value"] == {"Ref": next(iter(variant.resources("AWS::Glue::Database")))}
    assert outputs["AthenaWorkGroup"]["Value"] == {"Ref": next(iter(variant.resources("AWS::Athena::WorkGroup")))}
    policy = next(lid for lid in variant.resources("AWS::IAM::ManagedPolicy") if lid.startswith("QueryQueryPolicy"))
    assert outputs["QueryPolicyArn"]["Value"] == {"Ref": policy}
