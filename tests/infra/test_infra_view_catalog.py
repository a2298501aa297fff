"""The SQL on FHIR view tables in the template: a Glue table and a `_current` view for every
default view; a folder of the user's views adds its own (and a layer the functions read them from);
an invalid view fails synthesis with the engine's one-line message."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cdk_helpers import VARIANT_CATALOG, Synth, config_context, synthesize

from infra.config import ConfigError
from tests.support.trino import assert_trino_view

DEFAULT_VIEWS = ("claim_headers", "claim_lines", "claim_diagnoses", "claim_procedures", "coverage_periods",
                 "patient_demographics")  # fmt: skip
CONDITIONS = {
    "name": "conditions",
    "resource": "Condition",
    "select": [{"column": [{"name": "code", "path": "code.coding.code.first()", "type": "code"},
                           {"name": "onset", "path": "onset.ofType(dateTime)", "type": "dateTime"}]}],
}  # fmt: skip


def _tables(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in synth.resources("AWS::Glue::Table").values()
    }


def _presto(view: dict[str, Any]) -> dict[str, Any]:
    text = view["ViewOriginalText"]
    return json.loads(base64.b64decode(text.removeprefix("/* Presto View: ").removesuffix(" */")))


@pytest.fixture(scope="module")
def with_user_views(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    folder = tmp_path_factory.mktemp("views")
    (folder / "conditions.json").write_text(json.dumps(CONDITIONS))
    context = config_context(catalog={**VARIANT_CATALOG, "views_folder": str(folder)})
    return synthesize(context, tmp_path_factory.mktemp("user-views"))


def test_every_default_view_is_a_projected_parquet_table_with_a_current_view(default: Synth) -> None:
    tables = _tables(default)
    for name in (*DEFAULT_VIEWS, "view_rejects"):
        table = tables[name]
        assert table["TableType"] == "EXTERNAL_TABLE" and table["Parameters"]["projection.enabled"] == "true"
        template = json.dumps(table["Parameters"]["storage.location.template"])
        assert f"/curated/${{source}}/{name}/run_month=${{run_month}}/" in template
        assert [key["Name"] for key in table["PartitionKeys"]] == ["source", "run_month"]
    columns = {c["Name"]: c["Type"] for c in tables["claim_lines"]["StorageDescriptor"]["Columns"]}
    assert (columns["paid_amount"], columns["sequence"], columns["service_start"], columns["modifiers"]) == (
        "decimal(18,6)", "int", "date", "array<string>")  # fmt: skip
    assert {"claim_group_id", "claim_id", "resource_id", "run_id", "object_key", "line"} <= set(columns)
    for name in DEFAULT_VIEWS:
        current = tables[f"{name}_current"]
        assert current["TableType"] == "VIRTUAL_VIEW"
        sql = _presto(current)["originalSql"]
        assert ("JOIN claims_current" in sql) == name.startswith("claim_")
    for name in DEFAULT_VIEWS:  # Trino's grammar (Athena engine v3), over the tables it names
        presto = _presto(tables[f"{name}_current"])
        columns = [column["name"] for column in presto["columns"]]
        assert columns == ["source", *(c["Name"] for c in tables[name]["StorageDescriptor"]["Columns"])]
        assert_trino_view(
            presto["originalSql"], columns, tables={name}, views={"claims_current"}, earlier={"claims_current"}
        )
    described = _presto(tables["claim_lines_current"])
    assert {c["name"]: c["type"] for c in described["columns"]}["paid_amount"] == "decimal(18,6)"


def test_a_folder_of_user_views_adds_tables_and_reaches_the_functions(with_user_views: Synth, default: Synth) -> None:
    tables = _tables(with_user_views)
    assert "conditions" in tables and "conditions_current" in tables and "conditions" not in _tables(default)
    assert {c["Name"]: c["Type"] for c in tables["conditions"]["StorageDescriptor"]["Columns"]}["onset"] == "string"
    functions = with_user_views.resources("AWS::Lambda::Function")
    layered = sorted(
        f["Properties"]["Handler"].split(".")[2] for f in functions.values() if f["Properties"].get("Layers")
    )
    assert layered == ["curate_file", "finalize", "plan_rebuild"]
    variables = next(iter(functions.values()))["Properties"]["Environment"]["Variables"]
    assert variables["BULK_USER_VIEWS_DIR"] == "/opt/views"
    assert (
        "BULK_USER_VIEWS_DIR"
        not in next(iter(default.resources("AWS::Lambda::Function").values()))["Properties"]["Environment"]["Variables"]
    )
    # Condition files are curated now: the download map's choice names the type
    assert '"Condition"' in json.dumps(with_user_views.definition())


def test_an_invalid_user_view_fails_synthesis_with_one_line(tmp_path: Path) -> None:
    broken = {**CONDITIONS, "select": [{"column": [{"name": "code", "path": "code.coding.where(", "type": "code"}]}]}
    (tmp_path / "conditions.json").write_text(json.dumps(broken))
    with pytest.raises(ConfigError) as raised:
        synthesize(config_context(catalog={**VARIANT_CATALOG, "views_folder": str(tmp_path)}), tmp_path / "out")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "bulk-fhir-ingest.catalog.views_folder: view conditions: column code: 'code.coding.where('"
    )
