"""`bulk-ingest claims --stack`: the claims views answered by Athena (moto) through the deployed stack's
workgroup, printed exactly as the local engine prints the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlglot
from moto.moto_api import state_manager
from sqlglot import exp

from local.claims.athena import AthenaClaims, AthenaQueryError, AthenaTarget, from_athena, view_sql
from local.claims.query import ClaimsDatabase
from local.claims.views import DISPLAY_COLUMNS, VIEWS
from tests.support.athena import executions, paged_results, query_ends, queue_result
from tests.support.claims import land_bcda_and_ab2d
from tests.support.deployed_stack import DATABASE, REGION, WORKGROUP, Deployed, deployed, run

__all__ = ["deployed"]  # the fixture
TARGET = AthenaTarget("BulkFhirIngest", DATABASE, WORKGROUP, ("bcda-prod", "ehr"))


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Curated claims of the stack's two sources, as the local engine reads them."""
    return land_bcda_and_ab2d(tmp_path_factory.mktemp("curated"), bcda="bcda-prod", ab2d="ehr")


def athena_text(value: Any) -> str | None:
    """A value as GetQueryResults carries it for the SQL the command sends: text, arrays as the compact
    JSON of Trino's json_format, NULL as no value."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_athena_and_the_local_engine_print_the_same_rows_identically(
    deployed: Deployed, curated: Path, capsys: pytest.CaptureFixture[str], view: str
) -> None:
    local = ClaimsDatabase(curated).query(view)
    assert local.rows or view == "duplicates"
    for fmt in ("table", "csv", "ndjson"):
        code, expected, _ = run(capsys, "claims", "--out", str(curated), "--view", view, "--format", fmt)
        assert code == 0
        queue_result(REGION, local.columns, [[athena_text(value) for value in row] for row in local.rows])
        code, out, err = run(capsys, "claims", "--stack", "--profile", "ops", "--view", view, "--format", fmt)
        assert code == 0, err
        assert out == expected
    if view == "current":  # the documented ndjson keys and types
        first = json.loads(out.splitlines()[0])
        assert list(first) == list(DISPLAY_COLUMNS["current"])
        assert isinstance(first["versions"], int) and isinstance(first["historic_mbis"], list)
    assert err.startswith(
        f"bulk-ingest claims: stack BulkFhirIngest in {REGION} (profile ops): Athena workgroup {WORKGROUP}, "
        f"database {DATABASE}\nbulk-ingest claims: {len(local.rows):,} rows; Athena query "
    )


def test_the_view_runs_in_the_stacks_workgroup_and_database_with_the_filters(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    queue_result(REGION, DISPLAY_COLUMNS["versions"], [])
    code, out, err = run(
        capsys, "claims", "--stack", "--region", REGION, "--source", "bcda-prod", "--group", "99'5", "--view",
        "versions", "--format", "csv",
    )  # fmt: skip
    assert code == 0, err
    assert out == ",".join(DISPLAY_COLUMNS["versions"]) + "\n"
    (execution,) = executions(REGION)
    assert execution.workgroup.name == WORKGROUP
    assert execution.context == {"Catalog": "AwsDataCatalog", "Database": DATABASE}
    assert execution.query == (
        "SELECT source, claim_group_id, claim_id, status, last_updated, records, claim_type, patient, mbi, "
        "object_key, line\nFROM claim_versions\nWHERE source = 'bcda-prod' AND claim_group_id = '99''5'\n"
        "ORDER BY source, claim_group_id, claim_id, last_updated"
    )


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_the_sql_sent_is_one_trino_select_of_the_view(view: str) -> None:
    (statement,) = sqlglot.parse(view_sql(view, source="s", group="g"), read="trino")
    assert isinstance(statement, exp.Select)
    assert [select.alias_or_name for select in statement.selects] == list(DISPLAY_COLUMNS[view])
    assert {table.name for table in statement.find_all(exp.Table)} == {VIEWS[view]}
    # arrays come back as JSON text, the rest as is
    casts = {select.alias_or_name for select in statement.selects if select.find(exp.Cast)}
    assert casts == {"current": {"historic_mbis", "flags"}, "versions": set(), "duplicates": {"seen_at"}}[view]


def test_it_waits_for_the_query_and_pages_through_the_results(deployed: Deployed) -> None:
    rows = [[f"s{i}", f"g{i}", f"c{i}", "active", "2026-01-01", str(i), None, f"p{i}", "MBI", "k", str(i)]
            for i in range(5)]  # fmt: skip
    queue_result(REGION, DISPLAY_COLUMNS["versions"], rows)
    sleeps: list[float] = []
    # moto moves the query on (queued, running, succeeded) at every third look
    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 3})
    try:
        with paged_results() as tokens:
            athena = boto3.client("athena", region_name=REGION)
            answer = AthenaClaims(athena, TARGET, sleep=sleeps.append, page_size=2).query("versions")
    finally:
        state_manager.unset_transition("athena::execution")
    assert sleeps == [0.25, 0.5, 1.0, 2.0, 2.0]  # a growing wait between looks, at most 2 s
    assert tokens == [None, "2", "4"]  # 1 header + 5 rows in pages of 2
    assert [row[2] for row in answer.result.rows] == ["c0", "c1", "c2", "c3", "c4"]
    assert answer.result.rows[3][5] == 3 and answer.result.rows[3][6] is None and answer.result.rows[3][10] == 3


def test_values_come_back_as_the_local_engine_types_them() -> None:
    assert from_athena({"VarCharValue": "12"}, "bigint") == 12
    assert from_athena({"VarCharValue": "true"}, "boolean") is True
    assert from_athena({"VarCharValue": "false"}, "boolean") is False
    assert from_athena({"VarCharValue": '["1S00E00AA00","a,b"]'}, "array(varchar)") == ["1S00E00AA00", "a,b"]
    assert from_athena({"VarCharValue": "[]"}, "array(varchar)") == []
    assert from_athena({}, "array(varchar)") is None
    assert from_athena({"VarCharValue": ""}, "varchar") == ""
    assert from_athena({}, "varchar") is None


def test_interrupting_stops_the_query(deployed: Deployed) -> None:
    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 5})
    try:
        with pytest.raises(KeyboardInterrupt):
            AthenaClaims(boto3.client("athena", region_name=REGION), TARGET, sleep=interrupt).query("current")
    finally:
        state_manager.unset_transition("athena::execution")
    (execution,) = executions(REGION)
    assert execution.status == "CANCELLED"


def test_a_failed_query_prints_athenas_reason(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    reason = "TABLE_NOT_FOUND: line 2:6: Table 'awsdatacatalog.bulk_fhir_ingest.claims_current' does not exist"
    with query_ends("FAILED", reason, 0):
        code, out, err = run(capsys, "claims", "--stack", "--profile", "ops")
    assert (code, out) == (2, "")
    (query_id,) = [e.id for e in executions(REGION)]
    assert err.splitlines()[-1] == f"bulk-ingest claims: Athena query {query_id} failed: {reason}"


def test_the_bytes_scanned_limit_is_named_with_the_way_out(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = "Query cancelled: scanned more than the data usage limit of the workgroup"
    with query_ends("CANCELLED", reason, 10_000_000_001):
        code, out, err = run(capsys, "claims", "--stack", "--profile", "ops", "--view", "versions")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].endswith(
        f"after scanning 10.00 GB: {reason}. The workgroup {WORKGROUP} cancels a query that scans more than "
        "10.00 GB (cdk.json catalog.bytes_scanned_cutoff_gb): narrow it with --source or --group, or raise "
        "the limit and deploy"
    )


def test_a_query_cancelled_by_someone_else_is_not_blamed_on_the_limit(deployed: Deployed) -> None:
    with query_ends("CANCELLED", "Query was cancelled by the user", 42), pytest.raises(AthenaQueryError) as error:
        AthenaClaims(boto3.client("athena", region_name=REGION), TARGET).query("current")
    assert str(error.value).endswith("after scanning 42 bytes: Query was cancelled by the user")


def test_stack_not_found_and_stack_without_a_catalog(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "claims", "--stack", "Other", "--profile", "ops")
    assert code == 2
    assert err.startswith(f"bulk-ingest claims: stack Other not found in {REGION} (")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"TableName": {"Value": "t"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName="Old", TemplateBody=json.dumps(template))
    code, _, err = run(capsys, "claims", "--stack", "Old", "--profile", "ops")
    assert code == 2
    assert err == (
        "bulk-ingest claims: stack Old has no output GlueDatabase, AthenaWorkGroup: it predates the claims "
        "catalog; deploy it again with `npx cdk deploy`\n"
    )
    assert executions(REGION) == []


def test_an_unknown_source_names_the_stacks_sources(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "claims", "--stack", "--profile", "ops", "--source", "local-bcda")
    assert code == 2
    assert err.endswith("stack BulkFhirIngest has no source 'local-bcda' (sources: bcda-prod, ehr)\n")
    assert executions(REGION) == []


def test_stack_options_need_the_stack_and_exclude_the_local_folders(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "claims", "--region", REGION)
    assert (code, err) == (2, "bulk-ingest claims: --region and --profile go with --stack\n")
    with pytest.raises(SystemExit) as exited:
        run(capsys, "claims", "--stack", "--out", "out")
    assert exited.value.code == 2
