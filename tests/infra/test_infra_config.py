"""The cdk.json context "bulk-fhir-ingest": defaults, and a clear error for each kind of mistake."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import (
    DEFAULT_CONTEXT,
    SOURCES_ENV_BUDGET_BYTES,
    ConfigError,
    IngestConfig,
    load_config,
    sources_env_estimate,
)

ROOT = Path(__file__).resolve().parents[2]


def with_source(**changes: Any) -> dict[str, Any]:
    context = copy.deepcopy(DEFAULT_CONTEXT)
    context["sources"][0].update(changes)
    return context


def with_top(**changes: Any) -> dict[str, Any]:
    context = copy.deepcopy(DEFAULT_CONTEXT)
    context.update(changes)
    return context


def test_cdk_json_ships_the_default_configuration() -> None:
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    assert cdk_json["context"]["bulk-fhir-ingest"] == DEFAULT_CONTEXT


def test_default_is_one_monthly_bcda_sandbox_source() -> None:
    config = load_config(None)
    assert config == load_config(DEFAULT_CONTEXT)
    (source,) = config.sources
    assert (source.name, source.api, source.base_url) == ("bcda-sandbox", "bcda", "https://sandbox.bcda.cms.gov")
    assert source.export == "Group/all"
    assert source.types == ("Patient", "Coverage", "ExplanationOfBenefit")
    assert source.schedule == "cron(0 6 10 * ? *)" and source.schedule_enabled
    assert source.secret_name is None
    assert (config.architecture, config.vpc.enabled, config.state_machine_timeout_hours) == ("arm64", False, 36)


def test_json_text_is_accepted_as_cdk_dash_c_passes_it() -> None:
    assert load_config(json.dumps(DEFAULT_CONTEXT)) == load_config(DEFAULT_CONTEXT)


def test_minimal_sources_take_per_api_defaults() -> None:
    config = load_config(
        {
            "sources": [
                {"name": "ab2d", "api": "ab2d", "base_url": "https://sandbox.ab2d.cms.gov"},
                {"name": "ehr", "api": "smart", "base_url": "https://ehr.example.org/fhir/"},
            ]
        }
    )
    ab2d, smart = config.sources
    assert (ab2d.export, ab2d.types, ab2d.api_version) == ("Patient", ("ExplanationOfBenefit",), "v2")
    assert (smart.export, smart.types, smart.api_version) == ("Patient", (), None)
    assert smart.base_url == "https://ehr.example.org/fhir"  # trailing slash dropped
    assert isinstance(config, IngestConfig) and config.log_retention_days == 365


@pytest.mark.parametrize("export", ["Patient", "system", "Group/all", "Group/runout", "Group/abc-123.x"])
def test_export_targets(export: str) -> None:
    assert load_config(with_source(export=export)).sources[0].export == export


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:9000/fhir", "http://[::1]:8000", "http://127.5.0.1"]
)
def test_plain_http_is_allowed_for_loopback_only(url: str) -> None:
    assert load_config(with_source(base_url=url)).sources[0].base_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (with_source(api="dpc"), "sources[bcda-sandbox].api: 'dpc' is not one of bcda, ab2d, smart"),
        (with_source(base_url="http://sandbox.bcda.cms.gov"), "must use https"),
        (with_source(base_url="ftp://x.org"), "is not an http(s) URL"),
        (with_source(base_url="https://user:pw@x.org"), "must not carry credentials"),
        (with_source(token_url="http://idm.example.org/token"), "token_url"),
        (with_source(export="Group/"), "is not Patient, system, Group/all"),
        (with_source(export="Claim"), "is not Patient, system, Group/all"),
        (with_source(types=["Patient", "Patient"]), "duplicate entries"),
        (with_source(types=["patient"]), "is not a FHIR resource type"),
        (with_source(schedule="cron(0 6 10 * *)"), "is not an EventBridge Scheduler expression"),
        (with_source(schedule="cron(0 6 10 * MON *)"), "exactly one of day-of-month and day-of-week"),
        (with_source(schedule="0 6 10 * ? *"), "is not an EventBridge Scheduler expression"),
        (with_source(download_concurrency=0), "download_concurrency: 0 is outside 1..1000"),
        (with_source(download_concurrency=5000), "outside 1..1000"),
        (with_source(download_concurrency="8"), "expected int"),
        (with_source(schedule_enabled="yes"), "expected bool"),
        (with_source(name="BCDA Sandbox"), "lower-case letters"),
        (with_source(file_hosts=["https://files.example.org"]), "is not a host name"),
        (with_source(secret_name="bad name!"), "is not a Secrets Manager secret name"),
        (
            with_source(secret_name="arn:aws:secretsmanager:us-east-1:123456789012:secret:bcda"),
            "is not a complete secret ARN",
        ),
        (with_source(shedule="cron(0 6 10 * ? *)"), "unknown key(s) shedule"),
        (with_source(api="ab2d", types=["Patient"]), "AB2D serves only ExplanationOfBenefit"),
        (with_top(sources=[]), "at least one source is required"),
        (with_top(sources=DEFAULT_CONTEXT["sources"] * 2), "duplicate source name(s) bcda-sandbox"),
        (with_top(architecture="arm"), "'arm' is not one of arm64, x86_64"),
        (with_top(vpc={"enabled": True, "max_azs": 0}), "vpc.max_azs: 0 is outside"),
        (with_top(vpc={"enabled": True, "max_azs": 3}), "vpc.max_azs: 3 is outside 1..2: the stack is synthesized"),
        (with_top(vpc={"enabled": True, "max_azs": "2"}), "vpc.max_azs: expected int"),
        (with_top(vpc={"enable": True}), "vpc: unknown key(s) enable"),
        (with_top(alarm_email="not-an-address"), "is not an e-mail address"),
        (with_top(lifecycle={"infrequent_access_days": 10}), "S3 requires at least 30"),
        (with_top(lifecycle={"infrequent_access_days": 90, "glacier_days": 100}), "at least 120"),
        (with_top(log_retention_days=100), "log_retention_days: 100 is not one of"),
        (with_top(wait_budget_hours=36), "must be less than state_machine_timeout_hours"),
        (with_top(state_machine_timeout_hours=0), "outside 1..8760"),
        (with_top(colour="blue"), "unknown key(s) colour"),
        ("[1, 2", "not valid JSON"),
        ([1, 2], "expected an object"),
    ],
)
def test_bad_input_fails_with_a_message_naming_the_key(context: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(context)
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["bcda-prod01", "cms/bcda-secret", "ab2d-2024-prod.1"])
def test_a_secret_name_ending_like_an_arn_suffix_is_refused_with_the_way_out(name: str) -> None:
    # Imported by name, the functions read it through a partial ARN; Secrets Manager takes the last
    # "-xxxxxx" for the ARN's random suffix and finds no secret.
    with pytest.raises(ConfigError) as error:
        load_config(with_source(secret_name=name))
    message = str(error.value)
    assert message.startswith("bulk-fhir-ingest.sources[bcda-sandbox].secret_name: ")
    assert "ends in a hyphen and six characters" in message
    assert "give the secret's full ARN instead" in message
    assert f"--secret-id {name} --query ARN" in message


@pytest.mark.parametrize(
    "secret",
    [
        "cms/ab2d-prod",
        "bcda_prod01",
        "bcda-prod-2024",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:bcda-prod01-AbC123",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:cms/bcda-Xy9z8W",
    ],
)
def test_secret_names_and_complete_arns_are_accepted(secret: str) -> None:
    assert load_config(with_source(secret_name=secret)).sources[0].secret_name == secret


def test_null_lifecycle_days_switch_transitions_off() -> None:
    lifecycle = load_config(with_top(lifecycle={"infrequent_access_days": None, "glacier_days": 400})).lifecycle
    assert (lifecycle.infrequent_access_days, lifecycle.glacier_days) == (None, 400)


def test_bulk_sources_must_stay_well_under_the_4_kb_environment_limit() -> None:
    many = [
        {**DEFAULT_CONTEXT["sources"][0], "name": f"source-{i}", "file_hosts": [f"files-{i}.example.org"]}
        for i in range(12)
    ]
    with pytest.raises(ConfigError, match="BULK_SOURCES environment variable would take up to"):
        load_config(with_top(sources=many))
    # the estimate is pessimistic: every secret ARN at its longest
    config = load_config(with_top(sources=many[:5]))
    assert len(sources_env_estimate(config.sources)) <= SOURCES_ENV_BUDGET_BYTES


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ({"database": "Claims"}, "catalog.database: 'Claims' must be 1-255 of a-z, 0-9 and _, starting with a letter"),
        ({"database": "bulk-fhir"}, "catalog.database: 'bulk-fhir' must be"),
        ({"database": "_claims"}, "catalog.database: '_claims' must be"),
        ({"database": "1claims"}, "catalog.database: '1claims' must be"),
        ({"database": "c" * 256}, "catalog.database: "),
        ({"workgroup": "bulk fhir"}, "catalog.workgroup: 'bulk fhir' must be 1-128 of"),
        ({"workgroup": "w" * 129}, "catalog.workgroup: "),
        ({"bytes_scanned_cutoff_gb": 0}, "catalog.bytes_scanned_cutoff_gb: 0 is outside 1..1000000"),
        ({"bytes_scanned_cutoff_gb": 1.5}, "catalog.bytes_scanned_cutoff_gb: expected int"),
        ({"results_expiry_days": 0}, "catalog.results_expiry_days: 0 is outside 1..3653"),
        ({"crawler": True}, "catalog: unknown key(s) crawler"),
    ],
)
def test_bad_catalog_settings_fail_with_a_message_naming_the_key(catalog: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(with_top(catalog=catalog))
    assert message in str(error.value)


def test_catalog_defaults_and_names_glue_and_athena_accept() -> None:
    assert load_config(with_top(catalog={})).catalog == load_config(None).catalog
    catalog = load_config(None).catalog
    assert (catalog.database, catalog.workgroup, catalog.bytes_scanned_cutoff_gb, catalog.results_expiry_days) == (
        "bulk_fhir_ingest", "bulk-fhir-ingest", 10, 30,
    )  # fmt: skip
    other = load_config(with_top(catalog={"database": "claims_2", "workgroup": "Claims.Prod-2_b"})).catalog
    assert (other.database, other.workgroup) == ("claims_2", "Claims.Prod-2_b")
    assert load_config(with_top(catalog={"database": "d" * 255})).catalog.database == "d" * 255
